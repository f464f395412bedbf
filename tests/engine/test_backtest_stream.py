"""The streaming backtest (sessions one at a time, bars with nothing to do skipped) gives the same
trades, signals and orders as the loop it replaced - the whole history's feature frame and signals
first, then every bar through ``run_cycle`` - written out here as the reference."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

from tests.helpers import signal_passes
from trading.brokers.paper import PaperBroker
from trading.core import engine
from trading.core.backtest import HELD_BATCH, STREAM_BATCH, BacktestResult, run_backtest, signals_by_bar
from trading.core.features import feature_frame
from trading.core.live import SimSource, closing_spot
from trading.core.state import EngineConfig, EngineState, StrategySlot
from trading.core.strategies import registry

START, END = date(2025, 2, 3), date(2025, 2, 28)  # a simulated month: 20 sessions, 4 weekly expiries


def _reference(days, warm, *, slots, config, iv_history) -> BacktestResult:
    """Today's loop before streaming: everything in memory, every bar through the engine."""
    frame = feature_frame([*warm, *days], iv_history, index=config.index)
    by_bar = signals_by_bar(frame, [n for n, s in slots.items() if s.enabled])
    ns = frame.index.as_unit("ns").asi8
    position = {int(t): i for i, t in enumerate(ns)}
    records = frame.to_dict("records")
    sessions = {day.session: day for day in [*warm, *days]}

    def settlement(index, expiry):
        day = sessions.get(expiry)
        return closing_spot(day) if day is not None else None

    state, broker, out = EngineState(index=config.index), PaperBroker(), BacktestResult()
    for day in days:
        times = day.times.astype("datetime64[ns]").astype(np.int64)
        for i in range(len(day)):
            bar = day.bar(i)
            row = dict(records[position[int(times[i])]])
            row["time"] = bar.time
            cycle = engine.run_cycle(
                at=bar.time + timedelta(minutes=1),
                bar=bar,
                row=row,
                signals=by_bar.get(int(times[i]), []),
                state=state,
                broker=broker,
                strategies=dict(slots),
                config=config,
                settlement=settlement,
            )
            out.signals.extend(cycle.signals)
            out.orders.extend(cycle.orders)
            out.trades.extend(cycle.closed)
    return out


def assert_same_run(got: BacktestResult, want: BacktestResult) -> None:
    """The same trades (their journal facts), signals (with their outcomes) and orders, in order."""
    assert [c.trade for c in got.trades] == [c.trade for c in want.trades]
    assert [(s.signal, s.bar_time, s.accepted, s.reject_reason) for s in got.signals] == [
        (s.signal, s.bar_time, s.accepted, s.reject_reason) for s in want.signals
    ]
    assert [(o.request.client_order_id, o.status) for o in got.orders] == [
        (o.request.client_order_id, o.status) for o in want.orders
    ]


def test_streaming_loop_trades_as_the_whole_history_loop() -> None:
    source = SimSource(index="NIFTY", seed=7, start=START)
    days = list(source.sim.days(START, END))
    slots = {name: StrategySlot(name=name) for name in registry.names()}
    config = EngineConfig(index="NIFTY", mode="BACKTEST")
    want = _reference(days, [], slots=slots, config=config, iv_history=source.iv_history())

    got = run_backtest(
        (d for d in days),  # a generator: consumed once, session by session
        strategies=slots,
        broker=PaperBroker(),
        config=config,
        iv_history=source.iv_history(),
    )
    assert len(want.trades) > 20
    assert_same_run(got, want)
    assert got.cycles < got.bars == sum(len(d) for d in days)  # bars with nothing to do were skipped
    assert got.summary()["signals"] == len(want.signals)


def test_a_run_that_keeps_only_counts_builds_no_feature_rows_for_its_signals() -> None:
    """``keep_signals=False`` (the bench, ``manage.py backtest``, sweeps): the same trades, their
    entry features included, and the same counts; its discarded signals carry no feature row."""
    source = SimSource(index="NIFTY", seed=7, start=START)
    days = list(source.sim.days(START, START + timedelta(days=9)))
    slots = {name: StrategySlot(name=name) for name in registry.names()}
    config = EngineConfig(index="NIFTY", mode="BACKTEST")
    kept = run_backtest(
        days, strategies=slots, broker=PaperBroker(), config=config, iv_history=source.iv_history()
    )
    seen = []
    counted = run_backtest(
        days, strategies=slots, broker=PaperBroker(), config=config, iv_history=source.iv_history(),
        keep_signals=False, on_cycle=lambda cycle: seen.extend(cycle.signals),
    )  # fmt: skip
    assert len(kept.trades) > 5
    assert [c.trade for c in counted.trades] == [c.trade for c in kept.trades]
    assert all(c.trade["entry_features"]["close"] > 0 for c in counted.trades)
    assert counted.summary() == kept.summary() and not counted.signals
    assert len(seen) == len(kept.signals) and all(s.features for s in kept.signals)
    assert not any(s.features for s in seen)


def test_sessions_held_in_a_sequence_are_signalled_in_bigger_batches_with_the_same_run(monkeypatch) -> None:
    """A stream's sessions are taken ``STREAM_BATCH`` at a time (each batch held while it trades), a
    sequence's - held by the caller anyway - ``HELD_BATCH`` at a time, or as asked: the batches only
    group the strategies' passes, so every run trades, signals and orders alike."""
    source = SimSource(index="NIFTY", seed=7, start=START)
    days = list(source.sim.days(START, END))
    slots = {name: StrategySlot(name=name) for name in registry.names()}
    config = EngineConfig(index="NIFTY", mode="BACKTEST")
    sizes = signal_passes(monkeypatch)

    def run(market, **kw) -> tuple[BacktestResult, list[int]]:
        sizes.clear()
        result = run_backtest(
            market,
            strategies=slots,
            broker=PaperBroker(),
            config=config,
            iv_history=source.iv_history(),
            **kw,
        )
        return result, list(sizes)

    streamed, streamed_sizes = run(d for d in days)
    held, held_sizes = run(days)
    odd, odd_sizes = run(tuple(days), session_batch=7)
    n = len(days)  # 19: a holiday in the month

    def cut(size: int) -> list[int]:
        return [min(size, n - k) for k in range(0, n, size)]

    assert STREAM_BATCH == 5 and HELD_BATCH >= n
    assert streamed_sizes == cut(5) == [5, 5, 5, 4] and held_sizes == [n] and odd_sizes == cut(7)
    assert len(streamed.trades) > 20
    assert_same_run(held, streamed)
    assert_same_run(odd, streamed)
    assert held.summary() == odd.summary() == streamed.summary()
