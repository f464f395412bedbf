"""A backtest's memory does not grow with its sessions: between two sessions it forgets what the
last one left behind - its memos (``core.memo``) and, with nothing open, its paper broker's finished
orders (``PaperBroker.forget_finished``) - and trades exactly as a run that keeps everything."""

from __future__ import annotations

from tests.engine.test_backtest_stream import END, START, _reference, assert_same_run
from trading.brokers.paper import PaperBroker
from trading.core import calendar, entries, memo, orders, risk
from trading.core.backtest import run_backtest
from trading.core.live import SimSource
from trading.core.state import EngineConfig, StrategySlot
from trading.core.strategies import registry


class KeepingBroker(PaperBroker):
    """A paper broker that never forgets (``run_backtest`` finds no ``forget_finished``)."""

    forget_finished = None


def _month(config: EngineConfig, broker: PaperBroker):
    source = SimSource(index="NIFTY", seed=7, start=START)
    days = list(source.sim.days(START, END))
    slots = {name: StrategySlot(name=name) for name in registry.names()}
    run = run_backtest(days, strategies=slots, broker=broker, config=config, iv_history=source.iv_history())
    return days, slots, source, run


def test_a_run_that_forgets_between_sessions_trades_as_one_that_keeps_everything() -> None:
    # LIMIT entries a tick under the ask: some rest, fill later or go stale and are cancelled, so the
    # broker is polled and asked about orders in flight across bars.
    config = EngineConfig(index="NIFTY", mode="BACKTEST", order_type="LIMIT", limit_buffer_ticks=-1)
    forgetting, keeping = PaperBroker(), KeepingBroker()
    days, slots, source, got = _month(config, forgetting)
    _, _, _, kept = _month(config, keeping)
    want = _reference(days, [], slots=slots, config=config, iv_history=source.iv_history())

    statuses = {o.status for o in got.orders}
    assert {"FILLED", "CANCELLED"} <= statuses and len(got.trades) > 10  # orders rested and went stale
    assert_same_run(got, want)
    assert_same_run(kept, want)
    # the broker's own ids too: forgetting an order does not renumber the later ones
    assert [o.broker_order_id for o in got.orders] == [o.broker_order_id for o in kept.orders]
    assert got.summary() == kept.summary()

    # nothing was open at the end: the forgetting broker holds no order, the keeping one all of them
    placed = [o.request.client_order_id for o in got.orders]
    assert all(forgetting.order_status(cid) is None for cid in placed)
    assert all(keeping.order_status(cid) is not None for cid in placed)
    assert forgetting.positions() == []


def test_the_memos_hold_only_the_last_sessions_entries() -> None:
    config = EngineConfig(index="NIFTY", mode="BACKTEST")
    days, _, _, run = _month(config, PaperBroker())
    last = days[-1].session
    assert run.trades and memo._MEMOS
    # the stamps of order ids and the IST minutes of position ids are remembered per instant: every
    # instant left in them is of the last session, although every session asked for its own
    for remembered in (orders._STAMPS, entries._IST_MINUTES):
        assert remembered and {calendar.ist_date(at) for at in remembered} == {last}
    # the exit levels, per entry and VIX: only VIXes of the last session's bars
    assert risk._LEVELS and {vix for _, vix, _ in risk._LEVELS} <= {float(v) for v in days[-1].vix}

    memo.forget()
    assert not orders._STAMPS and not entries._IST_MINUTES and not risk._LEVELS
    assert risk.to_tick(101.23) == risk.to_tick(101.23)  # the tick table is not a session memo
    assert (101.23, "ROUND_HALF_UP") in risk._FLOAT_TICKS
