"""The pure engine cycle with the paper broker on simulated bars: exits first, then signals, the
risk gate, orders, fills, trades."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from tests.engine.conftest import DAY
from trading.brokers.paper import PaperBroker
from trading.core import charges, engine, orders, risk
from trading.core.order_flow import OrderHooks
from trading.core.state import EngineConfig, EngineState, SignalInput, StrategySlot

BAR = timedelta(minutes=1)
SLOTS = {"A": StrategySlot(name="A", cooldown_minutes=15), "B": StrategySlot(name="B", max_open_positions=2)}


@pytest.fixture
def day(source):
    return source.day(DAY)


def cycle(day, i, state, broker, signals=(), config=None, **kw):
    bar = day.bar(i)
    return engine.run_cycle(
        at=bar.time + BAR,
        bar=bar,
        row={"pcr_oi": 1.1, "max_pain": 24000.0, "atm_iv": 0.13},
        signals=list(signals),
        state=state,
        broker=broker,
        strategies=SLOTS,
        config=config or EngineConfig(),
        **kw,
    )


def test_signal_becomes_a_filled_order_and_an_open_position(day):
    state, broker = EngineState(), PaperBroker()
    res = cycle(day, 30, state, broker, [SignalInput("A", "CALL", 0.8, "test")])
    [sig] = res.signals
    assert sig.accepted and sig.client_order_id
    [order] = res.orders
    assert order.status == orders.FILLED and order.purpose == orders.ENTRY
    assert [t.to_status for t in order.transitions] == [orders.SUBMITTED, orders.FILLED]
    [pos] = res.opened
    assert pos.option_type == "CE" and pos.quantity % pos.lot_size == 0
    assert pos.stop < pos.entry_price < pos.target
    assert pos.entry_context["spot"] == day.bar(30).close and pos.entry_context["delta"] > 0
    assert state.positions == {pos.position_id: pos}


def test_position_closes_into_trade_facts_with_journal_charges(day):
    state, broker = EngineState(), PaperBroker()
    cycle(day, 30, state, broker, [SignalInput("A", "PUT", 0.8, "test")])
    res = cycle(day, 40, state, broker, force_exit=risk.SQUARE_OFF)
    [closed] = res.closed
    t = closed.trade
    assert t["exit_type"] == "SQUARE_OFF" and t["instrument_type"] == "PUT"
    assert t["entry_price"] % Decimal("0.05") == 0 and t["exit_price"] % Decimal("0.05") == 0
    expected = charges.round_trip_charges(
        side="LONG",
        entry_price=t["entry_price"],
        exit_price=t["exit_price"],
        quantity=t["quantity"],
        entry_date=DAY,
        exit_date=DAY,
        exit_orders=1,
        exit_type="SQUARE_OFF",
    ).total
    assert closed.charges == expected
    assert closed.net_pnl == closed.gross_pnl - closed.charges
    assert t["mae"] <= 0 <= t["mfe"]
    assert t["initial_risk"] == (t["entry_price"] - t["stop_loss_price"]) * t["quantity"]
    assert state.positions == {} and state.risk.trades_today == 1


def test_exits_come_first_and_a_tripped_breaker_blocks_the_same_cycles_signals(day):
    config = EngineConfig(risk=risk.RiskConfig(max_consecutive_losses=1))
    state, broker = EngineState(), PaperBroker()
    cycle(day, 30, state, broker, [SignalInput("A", "CALL", 0.8, "x")], config=config)
    [pos] = state.positions.values()
    pos.stop = pos.entry_price * 2  # any mark is now below the stop
    res = cycle(day, 31, state, broker, [SignalInput("B", "PUT", 0.8, "y")], config=config)
    [closed] = res.closed
    assert closed.exit_type == risk.STOP_LOSS
    assert res.breaker_tripped and state.risk.circuit_breaker
    [sig] = res.signals
    assert not sig.accepted and sig.reject_reason == risk.R_BREAKER


def test_kill_switch_squares_off_and_blocks_entries(day):
    state, broker = EngineState(), PaperBroker()
    cycle(day, 30, state, broker, [SignalInput("A", "CALL", 0.8, "x"), SignalInput("B", "PUT", 0.7, "y")])
    assert len(state.positions) == 2
    state.risk.kill_switch = True
    res = cycle(day, 35, state, broker, [SignalInput("B", "CALL", 0.9, "z")])
    assert {c.exit_type for c in res.closed} == {risk.KILL_SWITCH} and len(res.closed) == 2
    assert res.signals[0].reject_reason == risk.R_KILL_SWITCH
    assert state.positions == {}


def test_cooldown_and_max_open_per_strategy(day):
    state, broker = EngineState(), PaperBroker()
    cycle(day, 30, state, broker, [SignalInput("A", "CALL", 0.8, "x")])
    res = cycle(day, 32, state, broker, [SignalInput("A", "PUT", 0.8, "x")])
    assert res.signals[0].reject_reason == risk.R_MAX_OPEN_STRATEGY
    cycle(day, 33, state, broker, force_exit=risk.SQUARE_OFF)
    res = cycle(day, 34, state, broker, [SignalInput("A", "PUT", 0.8, "x")])
    assert res.signals[0].reject_reason == risk.R_COOLDOWN
    res = cycle(day, 50, state, broker, [SignalInput("A", "PUT", 0.8, "x")])
    assert res.signals[0].accepted


def test_order_above_freeze_quantity_is_split_into_whole_lot_children(day):
    cfg = EngineConfig(risk=risk.RiskConfig(risk_per_trade=0.2, max_lots=40))
    slots = {"A": StrategySlot(name="A", capital_allocation=Decimal("10000000"))}
    state, broker = EngineState(), PaperBroker()
    bar = day.bar(30)
    res = engine.run_cycle(
        at=bar.time + BAR,
        bar=bar,
        row={},
        signals=[SignalInput("A", "CALL", 1, "x")],
        state=state,
        broker=broker,
        strategies=slots,
        config=cfg,
    )
    [order] = res.orders
    assert order.request.quantity > order.request.freeze_quantity
    assert len(order.children) >= 2
    assert all(c.request.quantity % order.request.lot_size == 0 for c in order.children)
    assert all(c.request.quantity <= order.request.freeze_quantity for c in order.children)
    assert sum(c.filled_quantity for c in order.children) == order.filled_quantity == order.request.quantity
    [pos] = res.opened
    assert pos.entry_orders == len(order.children)


def test_resting_limit_order_is_settled_later_or_cancelled_after_the_timeout(day):
    cfg = EngineConfig(order_type="LIMIT", limit_buffer_ticks=-40, order_timeout_bars=3)
    state, broker = EngineState(), PaperBroker()
    res = cycle(day, 30, state, broker, [SignalInput("A", "CALL", 0.8, "x")], config=cfg)
    [order] = res.orders
    assert order.status == orders.OPEN and state.pending and not state.positions
    assert state.open_count("A") == 1  # an entry in flight counts against the limits
    done = None
    for i in range(31, 40):
        r = cycle(day, i, state, broker, config=cfg)
        if r.orders:
            done = r.orders[-1]
            break
    assert done is not None and done.status in (orders.FILLED, orders.CANCELLED)
    assert not state.pending
    assert bool(state.positions) == (done.status == orders.FILLED)


def test_a_rerun_uses_the_stored_broker_answer_instead_of_sending_again(day):
    class Recorder(OrderHooks):
        def __init__(self):
            self.answers = {}

        def before_submit(self, record):
            return self.answers.get(record.request.client_order_id)

        def after_broker(self, record):
            from trading.core.order_types import BrokerOrder

            self.answers[record.request.client_order_id] = BrokerOrder(
                client_order_id=record.request.client_order_id,
                status=record.status,
                filled_quantity=record.filled_quantity,
                average_price=record.average_price,
                fills=[(record.filled_quantity, record.average_price, record.filled_at)]
                if record.filled_quantity
                else [],
            )

    class CountingBroker(PaperBroker):
        calls = 0

        def place_order(self, req, market=None):
            CountingBroker.calls += 1
            return super().place_order(req, market)

    hooks, broker = Recorder(), CountingBroker()
    first = cycle(day, 30, EngineState(), broker, [SignalInput("A", "CALL", 0.8, "x")], hooks=hooks)
    # The process died before storing the position: the cycle runs again on a fresh state.
    again = cycle(day, 30, EngineState(), PaperBroker(), [SignalInput("A", "CALL", 0.8, "x")], hooks=hooks)
    assert CountingBroker.calls == 1
    assert again.opened[0].position_id == first.opened[0].position_id
    assert again.opened[0].entry_price == first.opened[0].entry_price


def test_backtest_prefix_keeps_trade_ids_apart(day):
    state = EngineState()
    res = cycle(
        day,
        30,
        state,
        PaperBroker(),
        [SignalInput("A", "CALL", 0.8, "x")],
        config=replace(EngineConfig(), mode="BACKTEST", position_prefix="BT9-"),
    )
    assert res.opened[0].position_id.startswith("BT9-B-NIFTY-")
