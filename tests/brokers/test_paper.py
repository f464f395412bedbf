"""The paper broker: idempotent on the client order id, resting LIMITs, freeze split, no network."""

from __future__ import annotations

import socket
from datetime import timedelta
from decimal import Decimal as D

import pytest

from tests.brokers.market import EXPIRY, STRIKE, SYMBOL, make_bar
from tests.helpers import ist
from trading.brokers.config import BrokerConfig
from trading.brokers.paper import PaperBroker
from trading.brokers.registry import UnknownBroker, build_broker
from trading.core.fills import FillConfig
from trading.core.order_types import InvalidOrderRequest, OrderNotFound, OrderRequest, child_order_id


def order_request(
    client_order_id="E1", *, side="BUY", quantity=65, order_type="MARKET", price=None, **extra
) -> OrderRequest:
    return OrderRequest(
        client_order_id=client_order_id,
        index="NIFTY",
        tradingsymbol=SYMBOL,
        exchange="NFO",
        option_type="CE",
        strike=D(STRIKE),
        expiry=EXPIRY,
        transaction_type=side,
        quantity=quantity,
        order_type=order_type,
        price=price,
        **extra,
    )


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Paper mode never sends anything anywhere: any socket connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("the paper broker opened a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_same_client_order_id_twice_is_one_order():
    broker = PaperBroker(FillConfig(slippage_ticks=1))
    bar = make_bar(bid=100, ask=100.5)
    first = broker.place_order(order_request("E1"), bar)
    # The retry comes on a different bar at a different price: still the first order, unchanged.
    second = broker.place_order(order_request("E1"), make_bar(bid=120, ask=121))
    assert first.status == second.status == "FILLED"
    assert second.broker_order_id == first.broker_order_id
    assert second.fills == first.fills == [(65, D("100.55"), bar.time)]
    [pos] = broker.positions()
    assert (pos["tradingsymbol"], pos["quantity"], pos["average_price"]) == (SYMBOL, 65, D("100.55"))
    assert broker.find_by_tag("E1") == first
    assert broker.order_status("NOPE") is None


def test_latency_moves_the_fill_time():
    broker = PaperBroker(FillConfig(latency=timedelta(milliseconds=400)))
    bar = make_bar(bid=100, ask=100.5)
    order = broker.place_order(order_request("E2", side="SELL"), bar)
    assert order.fills == [(65, D("100.0"), bar.time + timedelta(milliseconds=400))]
    assert broker.positions()[0]["quantity"] == -65


def test_limit_rests_open_then_fills_on_a_later_bar_at_its_price():
    seen = []
    broker = PaperBroker(on_update=lambda r, o: seen.append((o.client_order_id, o.status)))
    first_bar = make_bar(bid=100, ask=100.5, ltp=100.2)
    order = broker.place_order(order_request("L1", order_type="LIMIT", price=D("99.50")), first_bar)
    assert (order.status, order.filled_quantity, order.fills) == ("OPEN", 0, [])
    assert broker.poll(make_bar(bid=99.6, ask=99.9, time=first_bar.time + timedelta(minutes=1))) == []
    later = first_bar.time + timedelta(minutes=2)
    [changed] = broker.poll(make_bar(bid=99.0, ask=99.4, time=later))
    assert (changed.client_order_id, changed.status) == ("L1", "FILLED")
    assert changed.fills == [(65, D("99.50"), later)]
    assert broker.order_status("L1").average_price == D("99.50")
    assert seen == [("L1", "OPEN"), ("L1", "FILLED")]
    # placing it again does nothing
    assert (
        broker.place_order(order_request("L1", order_type="LIMIT", price=D("99.50")), first_bar).fills
        == changed.fills
    )


def test_resting_limit_can_be_cancelled_and_expires_at_the_next_session():
    broker = PaperBroker()
    bar = make_bar(bid=100, ask=100.5)
    broker.place_order(order_request("L2", order_type="LIMIT", price=D("95")), bar)
    broker.place_order(order_request("L3", order_type="LIMIT", price=D("95")), bar)
    cancelled = broker.cancel_order("L2")
    assert (cancelled.status, cancelled.reason) == ("CANCELLED", "cancelled")
    assert broker.cancel_order("L2").status == "CANCELLED"
    [expired] = broker.poll(make_bar(bid=90, ask=91, time=ist(2026, 5, 6, 9, 15)))
    assert (expired.client_order_id, expired.status) == ("L3", "EXPIRED")
    with pytest.raises(OrderNotFound):
        broker.cancel_order("NOPE")


def test_filled_order_cannot_be_cancelled():
    broker = PaperBroker()
    broker.place_order(order_request("E3"), make_bar(bid=100, ask=100.5))
    assert broker.cancel_order("E3").status == "FILLED"


def test_price_band_and_tick_rejections():
    broker = PaperBroker()
    bar = make_bar(bid=99.5, ask=100.5, ltp=100)
    band = broker.place_order(order_request("B1", order_type="LIMIT", price=D("140.05")), bar)
    assert (band.status, band.reason, band.filled_quantity) == ("REJECTED", "price_band", 0)
    tick = broker.place_order(order_request("B2", order_type="LIMIT", price=D("100.02")), bar)
    assert (tick.status, tick.reason) == ("REJECTED", "invalid_price")
    lots = broker.place_order(order_request("B3", quantity=100), bar)
    assert (lots.status, lots.reason) == ("REJECTED", "invalid_quantity")
    assert broker.positions() == []


def test_freeze_quantity_split_into_whole_lot_children():
    broker = PaperBroker()
    parent = broker.place_order(order_request("BIG", quantity=60 * 65), make_bar(bid=100, ask=100.5))
    assert [c.quantity for c in parent.children] == [1755, 1755, 390]
    assert [c.client_order_id for c in parent.children] == [child_order_id("BIG", i) for i in range(3)]
    assert all(len(c.client_order_id) == 20 and c.client_order_id.isalnum() for c in parent.children)
    assert len({c.broker_order_id for c in parent.children}) == 3
    assert (parent.status, parent.filled_quantity, parent.average_price) == ("FILLED", 3900, D("100.50"))
    # idempotent for the parent too
    again = broker.place_order(order_request("BIG", quantity=60 * 65), make_bar(bid=100, ask=100.5))
    assert [c.broker_order_id for c in again.children] == [c.broker_order_id for c in parent.children]
    assert broker.positions()[0]["quantity"] == 3900


def test_split_parent_resting_then_partly_cancelled():
    broker = PaperBroker()
    bar = make_bar(bid=100, ask=100.5, ltp=100)
    parent = broker.place_order(
        order_request("BIG2", quantity=28 * 65, order_type="LIMIT", price=D("99")), bar
    )
    assert parent.status == "OPEN" and len(parent.children) == 2
    changed = broker.poll(make_bar(bid=98, ask=99, time=bar.time + timedelta(minutes=1)))
    assert [o.client_order_id for o in changed][-1] == "BIG2"
    assert broker.order_status("BIG2").status == "FILLED"


def test_restore_keeps_orders_idempotent_across_a_restart():
    stored = {}
    broker = PaperBroker(on_update=lambda r, o: stored.__setitem__(r.client_order_id, (r, o)))
    broker.place_order(order_request("R1", order_type="LIMIT", price=D("99")), make_bar(bid=100, ask=100.5))
    fresh = PaperBroker()
    for r, o in stored.values():
        fresh.restore(r, o)
    again = fresh.place_order(
        order_request("R1", order_type="LIMIT", price=D("99")), make_bar(bid=90, ask=91)
    )
    assert again.status == "OPEN"  # not a second order filled at 91
    [filled] = fresh.poll(make_bar(bid=97, ask=98, time=ist(2026, 5, 5, 10, 5)))
    assert filled.fills[0][1] == D("99")


def test_requests_are_validated():
    with pytest.raises(InvalidOrderRequest):
        order_request("has-dash")
    with pytest.raises(InvalidOrderRequest):
        order_request("X" * 21)
    with pytest.raises(InvalidOrderRequest):
        order_request("E9", side="HOLD")
    r = order_request("E9")
    assert (r.lot_size, r.freeze_quantity) == (65, 1800)


def test_registry_finds_brokers_by_name_and_dotted_path():
    slipping = BrokerConfig(paper=FillConfig(slippage_ticks=2))
    assert isinstance(build_broker("paper"), PaperBroker)
    assert isinstance(build_broker("trading.brokers.paper.PaperBroker", slipping), PaperBroker)
    assert build_broker("PAPER", slipping).config.slippage_ticks == 2
    with pytest.raises(UnknownBroker):
        build_broker("nope")
    with pytest.raises(UnknownBroker):
        build_broker("trading.core.fills.Quote")


def test_forgetting_finished_orders_keeps_the_open_ones_working():
    """``forget_finished`` (a backtest, between sessions) drops the filled, rejected, cancelled and
    expired orders - a split parent with them once all its children are gone - and keeps every
    order still open, which fills on a later bar as it would have."""
    broker = PaperBroker()
    bar = make_bar(bid=100, ask=100.5, ltp=100)
    broker.place_order(order_request("E1"), bar)  # filled
    broker.place_order(order_request("B1", quantity=100), bar)  # rejected: not whole lots
    broker.place_order(order_request("C1", order_type="LIMIT", price=D("95")), bar)
    broker.cancel_order("C1")
    broker.place_order(order_request("BIG", quantity=60 * 65), bar)  # 3 filled children
    broker.place_order(order_request("L1", order_type="LIMIT", price=D("99.50")), bar)  # rests
    broker.place_order(order_request("BIG2", quantity=28 * 65, order_type="LIMIT", price=D("99")), bar)

    assert broker.forget_finished() == 6  # E1, B1, C1 and BIG's three children
    for gone in ("E1", "B1", "C1", "BIG", child_order_id("BIG", 0)):
        assert broker.order_status(gone) is None
    assert broker.order_status("L1").status == "OPEN"
    assert broker.order_status("BIG2").status == "OPEN" and len(broker.order_status("BIG2").children) == 2
    assert broker.positions() == []  # the filled orders' fills went with them
    assert broker.forget_finished() == 0

    changed = broker.poll(make_bar(bid=98, ask=99, time=bar.time + timedelta(minutes=1)))
    assert {o.client_order_id for o in changed} >= {"L1", "BIG2"}
    assert broker.order_status("L1").fills[0][1] == D("99.50")
    assert broker.order_status("BIG2").status == "FILLED"
    assert broker.positions()[0]["quantity"] == 65 + 28 * 65
    # once filled they go too, parent and children
    assert broker.forget_finished() == 3 and broker.order_status("BIG2") is None


def test_broker_ids_count_up_and_a_later_part_of_a_split_backtest_is_renumbered():
    """Ids number the orders from 1 (``PAPER0000000001``); ``shifted_id`` gives the id an order would
    have had ``by`` ids later (a split backtest's later part), and ``resume_ids`` goes on from there."""
    broker = PaperBroker()
    bar = make_bar(bid=100, ask=100.5)
    first = broker.place_order(order_request("E1"), bar)
    second = broker.place_order(order_request("E2"), bar)
    assert (first.broker_order_id, second.broker_order_id) == ("PAPER0000000001", "PAPER0000000002")
    assert broker.ids_issued() == 2
    assert broker.shifted_id("PAPER0000000002", 40) == "PAPER0000000042"
    assert broker.shifted_id("260505000000001", 40) == "260505000000001"  # not one of its ids: as is
    broker.resume_ids(41)
    assert broker.place_order(order_request("E3"), bar).broker_order_id == "PAPER0000000042"
    broker.resume_ids(5)  # never back: ids stay unique
    assert broker.place_order(order_request("E4"), bar).broker_order_id == "PAPER0000000043"
