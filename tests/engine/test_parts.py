"""A backtest split in time over several processes (``core.parts.run_parts``): the very result of one
run - trades, signals, orders with their broker ids, equity curve, figures, the callbacks' order -
whether the parts join where they were cut, past it, or not at all (the rest traded again in order);
a part that fails or dies is an error here and no process is left behind, even when the run itself
is killed."""

from __future__ import annotations

import os
from datetime import date

import pytest

from tests.engine.test_backtest_stream import assert_same_run
from tests.helpers import assert_child_ends_with, child_processes, script_process
from trading.brokers.paper import PaperBroker
from trading.core import parts
from trading.core.apart import can_fork
from trading.core.backtest import BacktestResult, run_backtest
from trading.core.live import SimSource
from trading.core.state import EngineConfig, EngineState, StrategySlot
from trading.core.strategies import registry

pytestmark = pytest.mark.skipif(not can_fork(), reason="needs os.fork")

START, END = date(2025, 2, 3), date(2025, 2, 28)  # a simulated month: 19 sessions, 4 weekly expiries
CONFIG = EngineConfig(index="NIFTY", mode="BACKTEST")


@pytest.fixture(scope="module")
def market():
    source = SimSource(index="NIFTY", seed=7, start=START)
    days = list(source.sim.days(START, END))  # 19 sessions: the first 3 warm the features up
    return days[3:], days[:3], source.iv_history()


@pytest.fixture
def no_child_left():
    before = child_processes()
    yield
    assert child_processes() - before == set()  # every part's process reaped, whatever happened


def _slots(**kw) -> dict[str, StrategySlot]:
    return {name: StrategySlot(name=name, **kw) for name in registry.names()}


def _run(runner, days, warm, iv, slots, **kw):
    """``runner`` over the market; what its callbacks heard, and the broker and state after it."""
    heard: list = []
    broker, state = PaperBroker(), EngineState(index="NIFTY")
    result = runner(
        days, strategies=slots, broker=broker, config=CONFIG, iv_history=iv, warmup=warm, state=state,
        on_closed=lambda t: heard.append(("closed", t.trade["trade_id"])),
        on_session=lambda d, n: heard.append(("session", d, n)),
        **kw,
    )  # fmt: skip
    return result, heard, broker, state


def assert_same(got: BacktestResult, want: BacktestResult) -> None:
    """Everything a run hands back, equal: trades (journal facts and the trade objects), signals
    with their features, orders with their broker ids and transitions, the equity curve, figures."""
    assert_same_run(got, want)
    assert [repr(t) for t in got.trades] == [repr(t) for t in want.trades]
    assert [repr(s) for s in got.signals] == [repr(s) for s in want.signals]
    assert [repr(o) for o in got.orders] == [repr(o) for o in want.orders]  # PAPER0000000042...
    assert got.equity == want.equity
    assert got.summary() == want.summary()


@pytest.fixture
def counted(monkeypatch):
    """How many parts were joined to the run (in this process: ``_join``)."""
    calls = {"join": 0}
    join = parts._join

    def counting(*args, **kw):
        calls["join"] += 1
        return join(*args, **kw)

    monkeypatch.setattr(parts, "_join", counting)
    return calls


def test_split_points_give_each_process_the_same_work() -> None:
    # A part's sessions before it cost 0.2 of a traded one (warm-up): by hand, 250 sessions on two
    # cores: 139 traded here, 111 traded there after 139 warmed (111 + 27.8 = 138.8).
    assert parts.split_points(250, 2) == [0, 139]
    for n, cores in ((250, 3), (250, 4), (20, 4), (1000, 8)):
        points = [*parts.split_points(n, cores), n]
        loads = [
            (points[j + 1] - points[j]) + parts.WARM_SHARE * points[j] for j in range(cores)
        ]  # independent of the formula: the work each process is given
        assert points == sorted(points) and len(set(points)) == len(points)
        assert max(loads) - min(loads) < 2, (n, cores, loads)  # each point rounded to a session


@pytest.mark.parametrize("cores", [2, 3, 4])
def test_parts_make_the_trades_of_one_run(market, counted, no_child_left, cores) -> None:
    days, warm, iv = market
    want, heard_one, broker_one, state_one = _run(run_backtest, days, warm, iv, _slots())
    got, heard, broker, state = _run(parts.run_parts, days, warm, iv, _slots(), cores=cores)
    assert len(want.trades) > 40 and len(want.orders) > 80
    # Every part joined (16 sessions: 3 parts at most, of MIN_PART sessions): the nights carry nothing.
    assert counted["join"] == min(cores, len(days) // parts.MIN_PART) - 1 > 0
    assert_same(got, want)
    assert heard == heard_one  # every trade and session heard of once, in order
    assert broker.ids_issued() == broker_one.ids_issued()  # and the next id goes on from there
    assert (state.positions, state.pending, state.risk) == (
        state_one.positions,
        state_one.pending,
        state_one.risk,
    )


def test_a_cooldown_over_the_night_is_carried_and_the_parts_still_agree(
    market, counted, no_child_left
) -> None:
    """A cooldown of three days: a strategy that entered may not enter again in the next sessions, so
    most boundaries are not clean. The parts join only where both sides were clean, and
    trade the rest again in order: the same run. A join that ignored the cooldown would not be."""
    days, warm, iv = market
    slots = _slots(cooldown_minutes=3 * 24 * 60)
    want, *_ = _run(run_backtest, days, warm, iv, slots)
    got, *_ = _run(parts.run_parts, days, warm, iv, slots, cores=3)
    assert_same(got, want)

    # The data really does carry a cooldown over some night: joining there blindly changes trades.
    blind = pytest.MonkeyPatch()
    blind.setattr(parts, "clean", lambda state, start, slots, first: not (state.positions or state.pending))
    try:
        wrong, *_ = _run(parts.run_parts, days, warm, iv, slots, cores=3)
    finally:
        blind.undo()
    assert [t.trade for t in wrong.trades] != [t.trade for t in want.trades]


def test_a_part_not_clean_where_the_last_stopped_is_traded_again_here(market, monkeypatch, counted) -> None:
    """Forced: the first part is never clean (it trades on to the last session; the other parts'
    work is not used), then: no later part is ever clean (the first part stops where it was cut,
    and the rest is traded again here)."""
    days, warm, iv = market
    want, heard_one, *_ = _run(run_backtest, days, warm, iv, _slots())
    real = parts.clean
    me = os.getpid()

    monkeypatch.setattr(parts, "clean", lambda *a: real(*a) and os.getpid() != me)
    got, heard, *_ = _run(parts.run_parts, days, warm, iv, _slots(), cores=3)
    assert counted["join"] == 0
    assert_same(got, want)
    assert heard == heard_one

    monkeypatch.setattr(parts, "clean", lambda *a: real(*a) and os.getpid() == me)
    got, heard, *_ = _run(parts.run_parts, days, warm, iv, _slots(), cores=3)
    assert counted["join"] == 0
    assert_same(got, want)
    assert heard == heard_one


def test_the_kill_switch_and_a_given_state_are_kept(market, no_child_left) -> None:
    days, warm, iv = market
    for kill in (False, True):
        start = EngineState(index="NIFTY")
        start.risk.kill_switch = kill
        ref_state = EngineState(index="NIFTY")
        ref_state.risk.kill_switch = kill
        want = run_backtest(
            days, strategies=_slots(), broker=PaperBroker(), config=CONFIG, iv_history=iv, state=ref_state
        )
        got = parts.run_parts(
            days, strategies=_slots(), broker=PaperBroker(), config=CONFIG, iv_history=iv, state=start
        )
        assert_same(got, want)
        assert (len(got.trades) == 0) is kill
        assert start.risk.kill_switch is kill


def test_where_it_cannot_split_it_is_one_run(market, counted) -> None:
    days, warm, iv = market
    want = run_backtest(days[:9], strategies=_slots(), broker=PaperBroker(), config=CONFIG, iv_history=iv)
    got = parts.run_parts(
        days[:9], cores=2, strategies=_slots(), broker=PaperBroker(), config=CONFIG, iv_history=iv
    )
    assert_same(got, want)  # 9 sessions: fewer than two parts of MIN_PART
    cycles: list = []
    got = parts.run_parts(days, cores=2, strategies=_slots(), broker=PaperBroker(), config=CONFIG, iv_history=iv,
                          on_cycle=cycles.append)  # fmt: skip
    assert counted["join"] == 0 and len(cycles) == got.cycles  # every cycle seen here, in order
    with pytest.raises(TypeError, match="unexpected"):
        parts.run_parts(days, cores=2, strategies=_slots(), broker=PaperBroker(), config=CONFIG, colour="red")


def test_a_part_that_fails_is_an_error_here_and_no_process_is_left(
    market, monkeypatch, no_child_left
) -> None:
    days, warm, iv = market

    def failing(*args, **kw):
        raise ValueError("the bars of session 12 are upside down")

    monkeypatch.setattr(parts, "_run_part", failing)
    with pytest.raises(ValueError, match="upside down") as raised:  # the error one run would raise
        parts.run_parts(
            days, cores=3, strategies=_slots(), broker=PaperBroker(), config=CONFIG, iv_history=iv
        )
    assert isinstance(raised.value.__cause__, parts.PartFailed)
    assert "in failing" in str(raised.value.__cause__)  # its traceback in the part's process
    monkeypatch.undo()

    # Sessions out of order in the second part: the very error of one run.
    shuffled = [*days[:8], days[12], *days[9:12], days[8], *days[13:]]
    with pytest.raises(ValueError, match="not strictly after") as one:
        run_backtest(shuffled, strategies=_slots(), broker=PaperBroker(), config=CONFIG, iv_history=iv)
    with pytest.raises(ValueError, match="not strictly after") as split:
        parts.run_parts(
            shuffled, cores=2, strategies=_slots(), broker=PaperBroker(), config=CONFIG, iv_history=iv
        )
    assert str(split.value) == str(one.value)

    monkeypatch.setattr(parts, "_run_part", lambda *a, **kw: os._exit(3))  # killed, out of memory...
    with pytest.raises(parts.PartDied, match="without its result"):
        parts.run_parts(
            days, cores=2, strategies=_slots(), broker=PaperBroker(), config=CONFIG, iv_history=iv
        )


_KILLED = """
import sys, time
from datetime import date
from trading.brokers.paper import PaperBroker
from trading.core import parts
from trading.core.live import SimSource
from trading.core.state import EngineConfig, StrategySlot

source = SimSource(index="NIFTY", seed=7, start=date(2025, 2, 3))
days = list(source.sim.days(date(2025, 2, 3), date(2025, 2, 21)))
parts._run_part = lambda *a, **kw: time.sleep(600)  # a part that would run on and on
collect = parts._collect

def waiting(pid, fd):
    print("waiting", flush=True)
    return collect(pid, fd)

parts._collect = waiting
parts.run_parts(days, cores=2, strategies={"PCRStrategy": StrategySlot(name="PCRStrategy")},
                broker=PaperBroker(), config=EngineConfig(index="NIFTY", mode="BACKTEST"))
"""


def test_a_part_ends_when_the_run_is_killed(tmp_path) -> None:
    """kill -9 of the process that runs the backtest while a part still works: the part ends too."""
    run = script_process(tmp_path, _KILLED)
    assert run.stdout.readline().startswith("waiting")
    children = child_processes(run.pid)
    assert len(children) == 1
    assert_child_ends_with(run, children.pop(), timeout=10)


def test_sessions_read_from_the_store_split_as_they_trade(tmp_path, counted, no_child_left) -> None:
    """Memory-mapped sessions of the market-data store, held in a list: the parts (each process
    reading the same mappings) make the run of one process."""
    from trading.marketdata.store.minute import day_frames
    from trading.marketdata.store.store import MarketDataStore
    from trading.marketdata.store_feed import StoreFeed

    store = MarketDataStore(tmp_path / "store")
    simulated = list(SimSource(index="NIFTY", seed=5, start=START).sim.days(START, END))[:12]
    for day in simulated:
        with store.lock():
            staged = [
                store.stage(kind, "NIFTY", day.session, frame) for kind, frame in day_frames(day).items()
            ]
            store.commit([part for part in staged if part is not None])
    days = list(StoreFeed(store, "NIFTY").days(simulated[0].session, simulated[-1].session))
    assert [d.session for d in days] == [d.session for d in simulated]
    want = run_backtest(days, strategies=_slots(), broker=PaperBroker(), config=CONFIG)
    got = parts.run_parts(days, cores=2, strategies=_slots(), broker=PaperBroker(), config=CONFIG)
    assert len(want.trades) > 10 and counted["join"] == 1
    assert_same(got, want)
