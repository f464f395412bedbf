"""The calendar before any contract: an expiry in a year the trading calendar does not cover is
refused with the files to update named; LIVE refuses a provisionally covered year (2027: only the
fixed-date holidays are known) unless the expiries come from the broker's instrument master; PAPER
trades it. And an order's freeze limit is the one in force on the order's day."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal as D

import pytest

from tests.brokers.market import make_bar
from tests.helpers import ist
from trading.brokers.paper import PaperBroker
from trading.core import calendar as market_calendar
from trading.core import contracts, engine, orders, risk
from trading.core.order_flow import order_request
from trading.core.state import EngineConfig, EngineState, SignalInput, StrategySlot

JAN_2027_MONTHLY = date(2027, 1, 25)  # Monday: Tuesday the 26th is Republic Day
JAN_2028 = date(2028, 1, 4)  # no 2028 calendar yet


def bar_expiring(expiry: date, at):
    bar = make_bar(bid=100, ask=100.5, time=at - timedelta(minutes=1))
    return replace(bar, chains=[replace(bar.chains[0], expiry=expiry)])


def test_an_expiry_in_a_year_the_calendar_does_not_cover_is_refused_naming_the_files():
    at = ist(2027, 12, 28, 10, 0)
    with pytest.raises(market_calendar.CalendarNotCovered) as refused:
        orders.select_contract(index="NIFTY", direction="CALL", bar=bar_expiring(JAN_2028, at), at=at)
    message = str(refused.value)
    assert "2028" in message and "calendar_years.csv" in message and "holidays.csv" in message


@pytest.mark.parametrize(
    ("live", "from_broker", "allowed"),
    [(False, False, True), (False, True, True), (True, True, True), (True, False, False)],
)
def test_a_provisional_year_in_live_needs_the_brokers_expiries(live, from_broker, allowed):
    at = ist(2027, 1, 20, 10, 0)
    bar = bar_expiring(JAN_2027_MONTHLY, at)
    select = lambda: orders.select_contract(  # noqa: E731
        index="NIFTY", direction="CALL", bar=bar, at=at, live=live, expiries_from_broker=from_broker
    )
    if allowed:
        contract = select()
        assert contract.expiry == JAN_2027_MONTHLY
        assert contract.tradingsymbol == "NIFTY27JAN24000CE"  # the monthly form, not NIFTY2712524000CE
    else:
        with pytest.raises(market_calendar.CalendarProvisional, match="PROVISIONAL"):
            select()


def cycle(mode: str, *, from_broker: bool, expiry: date, at):
    state = EngineState(index="NIFTY")
    config = EngineConfig(index="NIFTY", mode=mode, data_source="SIM", expiries_from_broker=from_broker)
    broker = PaperBroker()
    result = engine.run_cycle(
        at=at,
        bar=bar_expiring(expiry, at),
        row={},
        signals=[SignalInput("PCRStrategy", "CALL", 0.9, "t")],
        state=state,
        broker=broker,
        strategies={"PCRStrategy": StrategySlot("PCRStrategy")},
        config=config,
    )
    return result


def test_the_engine_refuses_the_signal_with_the_reason_and_sends_nothing():
    result = cycle("PAPER", from_broker=False, expiry=JAN_2028, at=ist(2027, 12, 28, 10, 0))
    [outcome] = result.signals
    assert not outcome.accepted and outcome.reject_reason == risk.R_CALENDAR
    assert "calendar_years.csv" in outcome.reject_detail and not result.orders
    live = cycle("LIVE", from_broker=False, expiry=JAN_2027_MONTHLY, at=ist(2027, 1, 20, 10, 0))
    assert live.signals[0].reject_reason == risk.R_CALENDAR and not live.orders
    assert "instrument master" in live.signals[0].reject_detail
    paper = cycle("PAPER", from_broker=False, expiry=JAN_2027_MONTHLY, at=ist(2027, 1, 20, 10, 0))
    assert paper.signals[0].accepted and paper.orders
    live_from_master = cycle("LIVE", from_broker=True, expiry=JAN_2027_MONTHLY, at=ist(2027, 1, 20, 10, 0))
    assert live_from_master.signals[0].accepted and live_from_master.orders


def test_the_orders_freeze_limit_is_the_one_of_its_day():
    """BANKNIFTY's freeze quantity was 900 from 2025-09-01 and 600 again from 2025-11-03 (dated in
    contracts.FREEZE_QUANTITY): an order's request carries the one of the IST day it is placed."""
    from trading.core.order_flow import Cycle, OrderHooks
    from trading.core.results import CycleResult

    contract = orders.Contract(
        index="BANKNIFTY",
        expiry=date(2025, 11, 25),
        strike=57000.0,
        option_type="CE",
        tradingsymbol="BANKNIFTY25NOV57000CE",
        exchange="NFO",
        lot_size=35,
        ltp=300.0,
        bid=299.0,
        ask=301.0,
        iv=0.14,
    )

    def request_on(at):
        bar = make_bar(bid=100, ask=100.5, time=at - timedelta(minutes=1), index="BANKNIFTY")
        c = Cycle(
            at=at,
            bar=bar,
            row={},
            state=EngineState(index="BANKNIFTY"),
            broker=PaperBroker(),
            strategies={},
            config=EngineConfig(index="BANKNIFTY"),
            hooks=OrderHooks(),
            result=CycleResult(at=at, bar_time=bar.time),
        )
        return order_request(
            c,
            client_order_id="E1",
            index="BANKNIFTY",
            contract=contract,
            side="BUY",
            quantity=35,
            order_type="MARKET",
            price=None,
        )

    assert request_on(ist(2025, 10, 31, 10, 0)).freeze_quantity == 900
    assert request_on(ist(2025, 11, 3, 10, 0)).freeze_quantity == 600
    assert contracts.freeze_quantity("BANKNIFTY", date(2025, 10, 31)) == 900
    assert D(request_on(ist(2025, 11, 3, 10, 0)).lot_size) == 35


def test_only_the_kite_feed_brings_the_brokers_expiries(tmp_path):
    from trading.core.live import FeedSource, SimSource
    from trading.marketdata.kite.feed import KiteFeed
    from trading.marketdata.replay import ReplayFeed

    assert FeedSource(KiteFeed(tmp_path)).expiries_from_broker
    assert not SimSource(index="NIFTY", seed=1, start=date(2025, 11, 19)).expiries_from_broker
    assert not ReplayFeed.expiries_from_broker
