"""A backtest split in time over several cores, with the very trades of one run. Pure.

``run_parts(days, cores=2, **run_backtest's arguments)`` cuts the sessions into ``cores`` parts and
trades them at once, the first in this process, each next one in a forked process of its own, then
joins them into the ``BacktestResult`` that ``run_backtest`` gives over the same sessions - the same
trades, signals, orders (their broker ids included), equity curve and figures.

Why the parts can be joined. What one session leaves to the next is the engine state: open
positions, orders in flight, combos, the risk figures and each strategy's last accepted signal (its
cooldown); the feature indicators; the strategies' look-back rows; the sessions' closing spots (the
settlement of expired options); and the broker's book and id counter. A part starts after the
sessions before it went through the features and the strategies' look-back (``SessionPrep.warm``
without the signals: ~a fifth of a traded session's cost) and their closes, so those are the same
as in one run. The engine state it starts from is the one nothing carried over to: no position, no
order, no combo, no cooldown still running, the risk figures of a new session (they reset when a
session starts: ``RiskState.roll_session``), the kill switch and the database flag as given. A session
boundary where the state of the run before it is that state too is *clean*: from there both trade
alike. Every part keeps trading past its end until it meets a clean boundary, and notes at each
boundary it crosses whether it was clean there and how far its result had got; the parts are
joined at boundaries where both sides were clean. When a part was not clean where the one before it
stopped (a position held over a night, a cooldown across it), the sessions from there are traded
again here, in order, from that boundary, so the result is one run's whatever the parts did. The
broker's book is empty at a clean boundary (a backtest's finished orders are forgotten between
sessions when nothing is open), and its ids are renumbered as one broker would have numbered them
(``PaperBroker.shifted_id``).

Only where it can: ``days`` a sequence (held in memory: each part reads its own sessions), ``fork``
available, no ``on_cycle``, no ``days_again``, no feature memo, a broker that numbers its ids
(``ids_issued``, ``shifted_id``, ``resume_ids``) and at least ``MIN_PART`` sessions a part; else
it is ``run_backtest`` itself. ``on_closed`` and ``on_session`` hear of every trade and session in
order: those of later parts when the parts are joined. A ``state`` given ends as one run leaves it,
but for the cooldowns already over that an earlier part's strategies left behind. An error in a
part's process is raised here, as one run would have raised it (its traceback there: the
``PartFailed`` it is raised from); a part's process that dies is ``PartDied``. Call it while this
process runs no other thread (``os.fork``). What it gains: docs/backtests.md (on two cores, little).
"""

from __future__ import annotations

import os
import signal
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from trading.core.apart import (
    Truncated,
    can_fork,
    die_with_parent,
    portable,
    read_item,
    reap,
    widen,
    write_item,
)
from trading.core.backtest import (
    HELD_BATCH,
    BacktestResult,
    Trading,
    run_backtest,
)
from trading.core.bars import DayBars
from trading.core.order_flow import BrokerLike
from trading.core.results import ClosedTrade, OrderRecord
from trading.core.risk import RiskState
from trading.core.session_prep import SessionPrep, batches
from trading.core.state import EngineConfig, EngineState, StrategySlot

MIN_PART = 5  # sessions: fewer are not worth a process
WARM_SHARE = 0.2  # what a warm-up session costs against a traded one (features and look-back only)


class PartFailed(RuntimeError):
    """The cause of an error a part's process raised (which is raised here): its traceback there."""


class PartDied(RuntimeError):
    """A part's process ended without handing its result over."""


@dataclass(frozen=True)
class Mark:
    """Where a part's result stood at a session boundary (before session ``at``, an index of
    ``days``): whether its state was clean there, and its figures and list lengths so far."""

    at: int
    clean: bool
    sessions: int
    bars: int
    cycles: int
    signal_count: int
    accepted_count: int
    trade_count: int
    win_count: int
    gross: Decimal
    charges: Decimal
    net: Decimal
    trades: int
    signals: int
    orders: int
    equity: int
    combos: int
    realised: Decimal
    ids: int


def split_points(n: int, cores: int, warm_share: float = WARM_SHARE) -> list[int]:
    """The first session of each part (0 first): parts sized so that each process has the same
    work - a part's warm-up sessions cost ``warm_share`` of a traded one, so later parts trade fewer."""
    # Part j trades k[j+1] - k[j] sessions after k[j] warm ones: equal loads L give
    # k[j+1] = k[j] * (1 - warm_share) + L, and L is the one that ends at n.
    grow = 1.0 - warm_share
    total = sum(grow**j for j in range(cores))  # k[cores] = L * total
    load = n / total
    points, k = [0], 0.0
    for _ in range(cores - 1):
        k = k * grow + load
        points.append(round(k))
    return points


def clean(state: EngineState, start: EngineState, slots: Mapping[str, StrategySlot], first: datetime) -> bool:
    """Whether ``state``, before a session whose first bar starts at ``first``, trades that session
    and all after it as ``start`` (the state nothing carried over to) would: nothing open or in
    flight, every cooldown over by ``first``, the same kill switch and database flag (the risk
    figures reset when the session starts)."""
    if state.positions or state.pending or state.combos:
        return False
    if state.risk.kill_switch != start.risk.kill_switch or state.db_available != start.db_available:
        return False
    for name, last in state.last_signal_at.items():
        slot = slots.get(name)
        minutes = slot.cooldown_minutes if slot is not None else 0
        if minutes > 0 and last < first and (first - last).total_seconds() / 60.0 < minutes:
            return False  # its cooldown would still refuse a signal on the session's first bars
    return True


def fresh(state: EngineState | None, config: EngineConfig) -> EngineState:
    """The state a part starts from: nothing carried over, the kill switch and database flag of
    ``state`` (the run's own start)."""
    given = state or EngineState(index=config.index)
    return EngineState(
        index=given.index,
        db_available=given.db_available,
        risk=RiskState(kill_switch=given.risk.kill_switch),
    )


def _splits(broker: Any) -> bool:
    return all(callable(getattr(broker, name, None)) for name in ("ids_issued", "shifted_id", "resume_ids"))


def run_parts(
    days: Sequence[DayBars],
    *,
    cores: int = 2,
    strategies: Mapping[str, StrategySlot],
    broker: BrokerLike,
    config: EngineConfig,
    params: Mapping[str, Any] | None = None,
    iv_history: Any = None,
    warmup: Sequence[DayBars] = (),
    state: EngineState | None = None,
    on_session: Callable[[date, int], None] | None = None,
    keep_signals: bool = True,
    keep_trades: bool = True,
    on_closed: Callable[[ClosedTrade], None] | None = None,
    session_batch: int = HELD_BATCH,
    **others: Any,
) -> BacktestResult:
    """``run_backtest`` over ``days`` in ``cores`` parts at once (see the module); the same result."""
    args = {
        "strategies": strategies, "broker": broker, "config": config, "params": params,
        "iv_history": iv_history, "warmup": warmup, "state": state, "on_session": on_session,
        "keep_signals": keep_signals, "keep_trades": keep_trades, "on_closed": on_closed,
        "session_batch": session_batch,
    }  # fmt: skip
    n = len(days) if isinstance(days, Sequence) else 0
    if (
        cores < 2
        or n < 2 * MIN_PART
        or not can_fork()
        or not _splits(broker)
        or any(others.get(name) is not None for name in ("on_cycle", "days_again", "features"))
    ):
        return run_backtest(days, **args, **others)
    if others:
        raise TypeError(f"run_parts() got unexpected arguments: {sorted(others)}")
    cores = min(cores, n // MIN_PART)
    points = split_points(n, cores)
    start = fresh(state, config)
    # A part keeps its trades for ``on_closed`` to hear of here, whether the result keeps them or not.
    part_trades = keep_trades or on_closed is not None
    job = _Job(
        days, list(warmup), strategies, config, params, iv_history, keep_signals, part_trades, session_batch
    )
    children = [
        _fork(job, broker, start, points[j], points[j + 1] if j + 1 < cores else n) for j in range(1, cores)
    ]
    try:
        run = Trading(
            strategies, broker, config, state, keep_signals=keep_signals, keep_trades=keep_trades,
            on_closed=on_closed, on_session=on_session,
        )  # fmt: skip
        prep = job.prep()
        run.warm(job.warmup, prep, signals=False)
        at = _trade(job, prep, run, broker, start, 0, points[1])
        for pid, fd in children:
            if at >= n:
                break
            part = _collect(pid, fd)
            mark = next((m for m in part.marks if m.at == at and m.clean), None)
            if mark is None:  # the part was not clean where the last one stopped: go on here
                break
            at = _join(run, broker, part, mark, on_closed, on_session)
        if at < n:  # the rest here, in order, from the clean boundary the last part joined stopped at
            prep = job.prep()
            run.warm([*job.warmup, *days[:at]], prep, signals=False)
            at = _trade(job, prep, run, broker, start, at, n)
    finally:
        for pid, fd in children:
            _close(pid, fd)
    if state is not None and state is not run.state:
        vars(state).update(vars(run.state))
    return run.result


@dataclass
class _Job:
    """What every part shares: the sessions and the run's settings."""

    days: Sequence[DayBars]
    warmup: list[DayBars]
    strategies: Mapping[str, StrategySlot]
    config: EngineConfig
    params: Mapping[str, Any] | None
    iv_history: Any
    keep_signals: bool
    keep_trades: bool
    batch: int

    def prep(self) -> SessionPrep:
        names = [n for n, slot in self.strategies.items() if slot.enabled]
        return SessionPrep(names, self.params, self.iv_history, self.config.index)


@dataclass
class _Part:
    """What a part's process hands back: its result, its marks, its final state and broker count."""

    result: BacktestResult
    marks: list[Mark]
    state: EngineState
    ids: int
    realised: Decimal
    # Each session traded: its index in ``days``, its date and bars, the part's trades at its end.
    traded: list[tuple[int, date, int, int]]


def _mark(run: Trading, broker: Any, at: int, is_clean: bool) -> Mark:
    r = run.result
    return Mark(
        at=at, clean=is_clean, sessions=r.sessions, bars=r.bars, cycles=r.cycles,
        signal_count=r.signal_count, accepted_count=r.accepted_count, trade_count=r.trade_count,
        win_count=r.win_count, gross=r.gross_total, charges=r.charges_total, net=r.net_total,
        trades=len(r.trades), signals=len(r.signals), orders=len(r.orders), equity=len(r.equity),
        combos=len(r.combos), realised=run.realised, ids=broker.ids_issued(),
    )  # fmt: skip


def _first_bar(day: DayBars) -> datetime | None:
    return day.bar_time(0) if len(day) else None


def _trade(
    job: _Job, prep: SessionPrep, run: Trading, broker: Any, start: EngineState, begin: int, end: int,
    marks: list[Mark] | None = None, traded: list[tuple[int, date, int, int]] | None = None,
) -> int:  # fmt: skip
    """Trade sessions ``begin..`` through ``end`` and on until a clean boundary (or the last
    session); returns the index of the boundary it stopped at. ``marks``: a part's marks, one at
    each boundary it crosses (its first included); ``traded``: the sessions it traded."""
    days = job.days
    at = begin
    for batch in batches(days[begin:], job.batch):
        ready = prep.batch(batch)
        for day, prepared in zip(batch, ready, strict=True):
            first = _first_bar(day)
            is_clean = first is not None and clean(run.state, start, job.strategies, first)
            if marks is not None:
                marks.append(_mark(run, broker, at, is_clean))
            if at >= end and is_clean:
                return at
            run.trade(day, prepared)
            if traded is not None:
                traded.append((at, day.session, len(day), run.result.trade_count))
            at += 1
        batch = ready = day = prepared = None
    return at


def _fork(job: _Job, broker: Any, start: EngineState, begin: int, end: int) -> tuple[int, int]:
    """A part in a process of its own: ``begin..end`` (and on to a clean boundary), after the
    sessions before it went through the features; its ``_Part`` written to the pipe returned."""
    read, write = os.pipe()
    widen(write)
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(read)
        code = 0
        try:
            die_with_parent(parent)  # a run killed leaves no part running
            with os.fdopen(write, "wb", buffering=1 << 20) as out:
                try:
                    write_item(out, ("part", _run_part(job, broker, start, begin, end)))
                except BrokenPipeError:
                    raise
                except BaseException as exc:  # noqa: BLE001 - handed to the parent, raised there
                    write_item(out, ("error", (portable(exc), traceback.format_exc())))
        except BaseException:  # noqa: BLE001 - any failure ends the child with a code
            code = 1
        finally:
            os._exit(code)
    os.close(write)
    return pid, read


def _run_part(job: _Job, broker: Any, start: EngineState, begin: int, end: int) -> _Part:
    forget = getattr(broker, "forget_finished", None)
    if forget is not None:
        forget()
    state = replace(start, risk=replace(start.risk))
    run = Trading(
        job.strategies, broker, job.config, state, keep_signals=job.keep_signals, keep_trades=job.keep_trades
    )
    prep = job.prep()
    run.warm([*job.warmup, *job.days[:begin]], prep, signals=False)
    marks: list[Mark] = []
    traded: list[tuple[int, date, int, int]] = []
    last = _trade(job, prep, run, broker, start, begin, end, marks, traded)
    if last >= len(job.days):
        marks.append(_mark(run, broker, last, True))  # the end: nothing after it to differ on
    return _Part(
        result=run.result, marks=marks, state=run.state, ids=broker.ids_issued(), realised=run.realised,
        traded=traded,
    )  # fmt: skip


def _collect(pid: int, fd: int) -> _Part:
    try:
        with os.fdopen(fd, "rb", closefd=False) as src:
            kind, payload = read_item(src)
    except (Truncated, EOFError, ValueError) as exc:
        raise PartDied(f"the process of a backtest part ended without its result ({exc})") from exc
    if kind == "error":  # the part's own error, as one run would have raised it
        error, trace = payload
        raise error from PartFailed(f"a backtest part failed:\n{trace}")
    return payload


def _close(pid: int, fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    reap(pid)


def _join(
    run: Trading, broker: Any, part: _Part, mark: Mark,
    on_closed: Callable[[ClosedTrade], None] | None, on_session: Callable[[date, int], None] | None,
) -> int:  # fmt: skip
    """The part's result from ``mark`` on, added to ``run``'s as one run would have made it; the
    boundary the part stopped at."""
    mine, theirs = run.result, part.result
    offset, by = run.realised - mark.realised, broker.ids_issued() - mark.ids
    mine.sessions += theirs.sessions - mark.sessions
    mine.bars += theirs.bars - mark.bars
    mine.cycles += theirs.cycles - mark.cycles
    mine.signal_count += theirs.signal_count - mark.signal_count
    mine.accepted_count += theirs.accepted_count - mark.accepted_count
    mine.trade_count += theirs.trade_count - mark.trade_count
    mine.win_count += theirs.win_count - mark.win_count
    mine.gross_total += theirs.gross_total - mark.gross
    mine.charges_total += theirs.charges_total - mark.charges
    mine.net_total += theirs.net_total - mark.net
    new_trades = theirs.trades[mark.trades :]
    if mine.keep_trades:
        mine.trades.extend(new_trades)
    mine.signals.extend(theirs.signals[mark.signals :])
    for record in theirs.orders[mark.orders :]:
        _renumber(record, broker, by)
        mine.orders.append(record)
    mine.equity.extend((at, value + offset) for at, value in theirs.equity[mark.equity :])
    for combo_id in list(theirs.combos)[mark.combos :]:
        mine.combos[combo_id] = theirs.combos[combo_id]
    run.realised += part.realised - mark.realised
    broker.resume_ids(part.ids + by)
    run.state = part.state
    if on_closed is not None or on_session is not None:  # heard of as one run would have told them
        told = mark.trade_count  # a part keeps every trade then: its n-th is trades[n - 1]
        for at, session, bars, trades in part.traded:
            if at < mark.at:
                continue
            if on_closed is not None:
                for closed in theirs.trades[told:trades]:
                    on_closed(closed)
            told = trades
            if on_session is not None:
                on_session(session, bars)
    return part.marks[-1].at


def _renumber(record: OrderRecord, broker: Any, by: int) -> None:
    if by:
        record.broker_order_id = broker.shifted_id(record.broker_order_id, by)
        for child in record.children:
            _renumber(child, broker, by)
