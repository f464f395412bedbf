"""Features and signals computed in a forked process (``run_backtest(days_again=...)``): the same
trades, signals and orders as computed inline; every way the two readings can part - the child
raising, killed, reading other sessions or other data, the loop stopping first - ends in an error in
the loop and no process left behind."""

from __future__ import annotations

import gc
import os
import signal
import weakref
from dataclasses import replace
from datetime import date

import numpy as np
import pytest

from tests.engine.test_backtest_stream import assert_same_run
from tests.helpers import assert_child_ends_with, child_processes, script_process
from trading.brokers.paper import PaperBroker
from trading.core import calendar as market_calendar
from trading.core.apart import can_fork
from trading.core.backtest import run_backtest
from trading.core.features import FeatureStream
from trading.core.live import SimSource
from trading.core.session_prep import PrepDied
from trading.core.simulator import MarketSimulator
from trading.core.state import EngineConfig, StrategySlot
from trading.core.strategies import registry

pytestmark = pytest.mark.skipif(not can_fork(), reason="needs os.fork")

START, END = date(2025, 2, 3), date(2025, 2, 14)  # two simulated weeks, a weekly expiry in each


@pytest.fixture(scope="module")
def market():
    source = SimSource(index="NIFTY", seed=7, start=START)
    return list(source.sim.days(START, END)), source.iv_history()


def _run(days, iv_history, **kw):
    return run_backtest(
        iter(days),
        strategies={name: StrategySlot(name=name) for name in registry.names()},
        broker=PaperBroker(),
        config=EngineConfig(index="NIFTY", mode="BACKTEST"),
        iv_history=iv_history,
        session_batch=3,
        **kw,
    )


@pytest.fixture
def no_child_left():
    before = child_processes()
    yield
    assert child_processes() - before == set()  # the child was reaped, whatever happened


class _Reading:
    """A second reading of ``days`` that hands back how many sessions it read."""

    def __init__(self, days) -> None:
        self.days, self.read = days, 0

    def __iter__(self):
        for day in self.days:
            self.read += 1
            yield day

    def finish(self) -> dict:
        return {"read": self.read}


def test_features_apart_trade_as_inline(market, no_child_left) -> None:
    days, iv = market
    inline = _run(days, iv)
    apart = _run(days, iv, days_again=lambda: _Reading(days))
    assert len(inline.trades) > 5
    assert_same_run(apart, inline)
    assert apart.summary() == inline.summary()
    assert apart.handed_back == {"read": len(days)}  # what the other reading's finish() returned


class _Held:
    """Fresh copies of ``days``, one at a time, and how many of them are held at once - when each is
    read (those still alive, and the new one) and when each is done (a session's memory goes with
    its last reference)."""

    def __init__(self, days) -> None:
        self.days, self.refs, self.done_at, self.held = days, [], [], []

    def _alive(self) -> int:
        gc.collect()  # what is left is referenced, not garbage waiting for the collector
        return sum(ref() is not None for ref in self.refs)

    def __iter__(self):
        for day in self.days:
            self.held.append(self._alive() + 1)
            copy = replace(day)
            self.refs.append(weakref.ref(copy))
            yield copy
            del copy

    def done(self, session, bars) -> None:
        self.done_at.append(session)
        self.held.append(self._alive())


@pytest.mark.parametrize("apart", [False, True])
def test_the_loop_holds_only_the_sessions_it_trades(market, no_child_left, apart) -> None:
    days, iv = market
    held = _Held(days)
    extra = {"days_again": lambda: iter(days)} if apart else {}
    _run(held, iv, on_session=held.done, **extra)
    assert held.done_at == [day.session for day in days]
    # Prepared apart the loop takes one session at a time; inline, a batch (3 here) - the one before
    # let go before the next is read.
    assert max(held.held) == (1 if apart else 3)


class _HeldReading(_Held):
    """``_Held`` as the child's reading: its figure comes back through ``finish``."""

    def finish(self) -> dict:
        return {"most_held": max(self.held)}


def test_the_child_holds_one_session_at_a_time(market, no_child_left) -> None:
    # The child computes a batch's signals in one pass (3 sessions here), yet lets go of each
    # session's bars once its feature rows are done: a stored session is memory-mapped, and every
    # one held adds its pages to the peak.
    days, iv = market
    result = _run(days, iv, days_again=lambda: _HeldReading(days))
    assert result.handed_back == {"most_held": 1}
    assert_same_run(result, _run(days, iv))


def test_the_feature_rows_hold_no_view_of_the_bars(market) -> None:
    days, iv = market
    stream = FeatureStream(iv, index="NIFTY")
    for day in days[:2]:
        rows = stream.day(day)
        arrays = [v for v in vars(day).values() if isinstance(v, np.ndarray)]
        assert not [
            name for name, col in rows.items() for a in arrays if np.shares_memory(np.asarray(col), a)
        ]


def test_warmup_sessions_reach_the_child(market, no_child_left) -> None:
    days, iv = market
    inline = _run(days[2:], iv, warmup=days[:2])
    apart = _run(days[2:], iv, warmup=days[:2], days_again=lambda: iter(days[2:]))
    assert [c.trade for c in apart.trades] == [c.trade for c in inline.trades]
    assert apart.handed_back is None  # a plain iterable hands nothing back


def _raising(days, at: int):
    for i, day in enumerate(days):
        if i == at:
            raise ValueError(f"partition of {day.session} unreadable")
        yield day


def test_an_error_in_the_child_is_raised_in_the_loop(market, no_child_left) -> None:
    days, iv = market
    seen: list[date] = []
    with pytest.raises(ValueError, match=f"partition of {days[4].session} unreadable"):
        _run(days, iv, days_again=lambda: _raising(days, 4), on_session=lambda d, n: seen.append(d))
    assert seen == [d.session for d in days[:3]]  # the batch before it was traded, not the one with it


def _killed_at(days, at: int):
    for i, day in enumerate(days):
        if i == at:
            os.kill(os.getpid(), signal.SIGKILL)  # in the child: as the OOM killer would
        yield day


def test_a_child_killed_mid_run_is_an_error_not_a_short_run(market, no_child_left) -> None:
    days, iv = market
    with pytest.raises(PrepDied, match="ended"):
        _run(days, iv, days_again=lambda: _killed_at(days, 5))


def test_other_sessions_in_the_second_reading_are_refused(market, no_child_left) -> None:
    days, iv = market
    with pytest.raises(PrepDied, match=f"not the one traded: {days[1].session}"):
        _run(days, iv, days_again=lambda: iter(days[1:]))
    with pytest.raises(PrepDied, match="none for"):
        _run(days, iv, days_again=lambda: iter(days[:-1]))  # ends early
    with pytest.raises(PrepDied, match="go on after the last one traded"):
        _run(days[:-1], iv, days_again=lambda: iter(days))


def test_the_same_session_read_from_other_data_is_refused(market, no_child_left) -> None:
    days, iv = market
    ours = [replace(d) for d in days]
    theirs = [replace(d) for d in days]
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        a.read_from = b.read_from = (("spot_minute", 1000 + i, 10, 1),)
    theirs[6].read_from = (("spot_minute", 9999, 10, 2),)  # re-imported between the two readings
    with pytest.raises(PrepDied, match=f"for {days[6].session}.*written during the run"):
        _run(ours, iv, days_again=lambda: iter(theirs))


def test_the_loop_stopping_first_stops_the_child(market, no_child_left) -> None:
    days, iv = market

    def stop(session: date, bars: int) -> None:
        if session == days[1].session:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _run(days, iv, days_again=lambda: iter(days), on_session=stop)


def test_a_loop_failing_before_it_reads_the_child_still_reaps_it(market, no_child_left) -> None:
    days, iv = market
    with pytest.raises(TypeError):
        _run(days, iv, warmup=[None], days_again=lambda: iter(days))  # a warm-up "session" with no bars


_LOOP = """
import sys, time
from datetime import date
from trading.brokers.paper import PaperBroker
from trading.core.backtest import run_backtest
from trading.core.live import SimSource
from trading.core.state import EngineConfig, StrategySlot
from trading.core.strategies import registry

source = SimSource(index="NIFTY", seed=7, start=date(2025, 2, 3))
days = list(source.sim.days(date(2025, 2, 3), date(2025, 2, 14)))

def slow():
    for day in days:
        time.sleep(0.3)
        yield day

def tell(session, bars):
    print("traded", session, flush=True)
    time.sleep(30)  # the loop holds here until it is killed

run_backtest(iter(days), strategies={n: StrategySlot(name=n) for n in registry.names()}, broker=PaperBroker(),
             config=EngineConfig(index="NIFTY", mode="BACKTEST"), iv_history=source.iv_history(),
             days_again=slow, on_session=tell, session_batch=1)
"""


def test_the_child_ends_when_the_loop_process_is_killed(tmp_path) -> None:
    """kill -9 of the process that trades: its features process notices at its next write (a broken
    pipe) and ends - nothing is left running."""
    loop = script_process(tmp_path, _LOOP)
    assert loop.stdout.readline().startswith("traded")  # the child is running, the loop waits
    children = child_processes(loop.pid)
    assert len(children) == 1
    assert_child_ends_with(loop, children.pop())


def test_a_feature_memo_gives_each_run_the_trades_it_would_compute_and_serves_one_market_only():
    """A run over a sealed ``FeatureMemo`` takes the rows kept by the first and makes exactly the
    trades and signals (features included) of a run that computes them, for every strategy; a run
    over other sessions is refused; an unsealed memo is filled afresh by the next run."""
    from trading.core.session_prep import FeatureMemo, MemoMismatch

    sim = MarketSimulator(seed=3, start=date(2025, 1, 1))
    days = [sim.day(d) for d in market_calendar.trading_days_from(sim.first_session, 6)]
    config = EngineConfig(index="NIFTY", mode="BACKTEST")
    memo = FeatureMemo()
    for name in registry.names():
        slots = {name: StrategySlot(name=name)}
        fresh = run_backtest(days, strategies=slots, broker=PaperBroker(), config=config)
        kept = run_backtest(days, strategies=slots, broker=PaperBroker(), config=config, features=memo)
        memo.seal()
        assert [t.trade for t in kept.trades] == [t.trade for t in fresh.trades], name
        assert [(s.signal, s.accepted, s.features) for s in kept.signals] == [
            (s.signal, s.accepted, s.features) for s in fresh.signals
        ], name
    assert memo.sealed and [s for s, _ in memo.kept] == [d.session for d in days]
    with pytest.raises(MemoMismatch, match="session 1 of the run is"):
        run_backtest(days[1:], strategies={"PCRStrategy": StrategySlot(name="PCRStrategy")},
                     broker=PaperBroker(), config=config, features=memo)  # fmt: skip
    cols = memo.kept[0][1]
    with pytest.raises(ValueError, match="read-only"):
        cols["close"][0] = 0.0

    unsealed = FeatureMemo()  # a run that is not sealed (its market not proved) leaves nothing kept
    slots = {"PCRStrategy": StrategySlot(name="PCRStrategy")}
    run_backtest(days[:2], strategies=slots, broker=PaperBroker(), config=config, features=unsealed)
    assert not unsealed.sealed and unsealed.kept == []
    run_backtest(days, strategies=slots, broker=PaperBroker(), config=config, features=unsealed)
    unsealed.seal()  # the next run's rows, afresh: all of its sessions
    assert [s for s, _ in unsealed.kept] == [d.session for d in days]


def test_the_child_sends_one_session_first_then_growing_batches_of_the_inline_rows(
    market, no_child_left
) -> None:
    """The child's first batch is one session (the loop starts trading at once), each next one twice
    the last up to ``batch``; every session's feature columns (sent as blocks of one dtype) and
    signals arrive equal to what ``SessionPrep`` gives inline: the same names, in the same order,
    the same dtypes and values."""
    from trading.core.session_prep import SessionPrep, prepared_apart

    days, iv = market
    names = registry.names()
    inline = SessionPrep(names, None, iv, "NIFTY").batch(days)
    apart = prepared_apart(
        lambda: iter(days), names=names, params=None, iv_history=iv, index="NIFTY", batch=4
    )
    sizes, got = [], []
    try:
        while True:
            items = apart._receive()
            if items and items[0][0] is None:
                break  # done
            sizes.append(len(items))
            got.extend(items)
    finally:
        apart.close()
    assert len(days) == 10 and sizes == [1, 2, 4, 3]
    assert [identity[0] for identity, _ in got] == [day.session for day in days]
    for (_, (session, cols, by_row)), (want_session, want_cols, want_by_row) in zip(got, inline, strict=True):
        assert session == want_session and by_row == want_by_row
        assert list(cols) == list(want_cols)
        for name, col in cols.items():
            assert col.dtype == want_cols[name].dtype, name
            np.testing.assert_array_equal(col, want_cols[name], err_msg=name)
