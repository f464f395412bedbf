"""A backtest's sessions prepared for the loop: each one's feature rows (``FeatureStream``) and every
strategy's signals (``SessionSignals``) - here, or in a forked process while this one trades. Pure.

``SessionPrep`` is what ``run_backtest`` did inline: the sessions in batches, the features of each,
the signals of the batch in one pass. ``prepared_apart`` runs the same ``SessionPrep`` in a child
process (``os.fork``) over a second reading of the same sessions and hands each session's rows and
signals back through a pipe, ahead of the loop: on two cores the feature and signal passes (about a
fifth of a stored year's run) leave the trading thread. The numbers are the same - the same code over
the same bars, in the same order (``tests/engine/test_prep_apart.py``).

The child runs as far ahead as the pipe holds (widened to the system's maximum, ~2 batches on Linux)
and then blocks on it; it ends when its sessions are done, when the loop calls
``ApartSessions.close`` (it is killed unless done, and reaped), or when the parent dies (its next
write fails). An exception in the child is raised in the loop, at the session where it happened; a
child that dies without one is an error too (``PrepDied``).
"""

from __future__ import annotations

import os
import signal
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date
from typing import Any

import numpy as np

from trading.core.apart import Truncated, portable, read_item, reap, widen, write_item
from trading.core.bars import DayBars
from trading.core.features import FeatureStream
from trading.core.results import SignalInput
from trading.core.strategies.evaluate import strategy_pairs
from trading.core.strategies.guard import compute_guarded

Cols = dict[str, np.ndarray]
Prepared = tuple[date, Cols | None, dict[int, list[SignalInput]]]  # session, rows, signals by row
# What a session was read from, where its source says (``DayBars.read_from``: a stored session's
# partitions by inode, size and modification time): two readings of one session agree on it.
Identity = tuple[date, Any]


def identity(day: DayBars) -> Identity:
    return day.session, getattr(day, "read_from", None)


class PrepDied(RuntimeError):
    """The process preparing the sessions ended without handing them all over."""


class MemoMismatch(RuntimeError):
    """A run over a ``FeatureMemo`` read another session than the one kept at that place."""


class FeatureMemo:
    """The feature rows of one market's sessions, kept from one run to the next over the same market
    (a sweep's combinations: the features depend on the bars, the IV history and the index, never on
    the strategies or their parameters - about 70% of a one-strategy run).

    A run given the memo (``run_backtest(features=...)``) before it is sealed computes the rows and
    keeps them (read-only arrays of their own, ~140 kB a session); ``seal()`` - once the caller knows
    the run read the market it meant to (a sweep checks the data version first) - makes them the
    memo's. A run given a sealed memo takes each session's rows from it, in order (warm-up sessions
    first): a session that is not the one kept at its place raises ``MemoMismatch``. Unsealed, a run
    starts the memo afresh: it is used whole or not at all."""

    def __init__(self) -> None:
        self.kept: list[tuple[date, Cols | None]] = []
        self.sealed = False
        self._filling: list[tuple[date, Cols | None]] = []

    def begin(self) -> bool:
        """Start a run: True when it reads the kept rows, False when it computes (and fills)."""
        self._filling = []
        return self.sealed

    def add(self, session: date, cols: Cols | None) -> Cols | None:
        if cols is not None:
            # A view of the session's own arrays (its bars: memory-mapped from the store) would keep
            # the whole session alive: the rows are kept as copies of their own, read-only (shared
            # by every later run: nobody writes them).
            cols = {
                name: column.copy() if column.base is not None else column for name, column in cols.items()
            }
            for column in cols.values():
                column.setflags(write=False)
        self._filling.append((session, cols))
        return cols

    def seal(self) -> None:
        """The rows of the run just done become the memo's (nothing when it read a sealed memo)."""
        if not self.sealed:
            self.kept, self.sealed, self._filling = self._filling, True, []


class SessionPrep:
    """Feature rows and signals of sessions given in time order (the state between them kept);
    ``memo``: the rows kept by an earlier run over the same market, or kept here for later ones."""

    def __init__(
        self,
        names: Iterable[str],
        params: Mapping[str, Any] | None,
        iv_history: Any,
        index: str,
        memo: FeatureMemo | None = None,
    ) -> None:
        self.stream = FeatureStream(iv_history, index=index)
        self.signals = SessionSignals(names, params)
        self.memo = memo
        self._replay = memo.begin() if memo is not None else False
        self._at = 0

    def features(self, day: DayBars) -> Cols | None:
        """The session's feature rows (None without a bar); sessions in time order (the state kept)."""
        if self.memo is None:
            return self.stream.day(day)
        if not self._replay:
            return self.memo.add(day.session, self.stream.day(day))
        kept = self.memo.kept[self._at] if self._at < len(self.memo.kept) else None
        if kept is None or kept[0] != day.session:
            raise MemoMismatch(
                f"session {self._at + 1} of the run is {day.session}, the memo's "
                f"{'none' if kept is None else kept[0]}: a memo serves one market"
            )
        self._at += 1
        return kept[1]

    def warm(self, day: DayBars, *, signals: bool = True) -> None:
        """A warm-up session: through the features and strategies (their state), not traded.
        ``signals=False``: the strategies are not evaluated on it, only the rows they will look back
        on are kept (``SessionSignals.skip``): the same state, for less work."""
        cols = self.features(day)
        if cols is not None:
            if signals:
                self.signals.session(cols)
            else:
                self.signals.skip(cols)

    def batch(self, days: list[DayBars]) -> list[Prepared]:
        """Each session's rows (None without a bar) and signals, the signals in one pass per strategy."""
        return self.signals_of([(day.session, self.features(day)) for day in days])

    def signals_of(self, rows: list[tuple[date, Cols | None]]) -> list[Prepared]:
        """``batch`` of sessions whose rows are worked out already (``features``): their bars are not
        needed any more, so a reader can let go of each session once its rows are done."""
        found = iter(self.signals.sessions([c for _, c in rows if c is not None]))
        return [(session, c, next(found) if c is not None else {}) for session, c in rows]


class SessionSignals:
    """The strategies' signals one session at a time, equal to ``signals_by_bar`` over the whole
    history: each session's rows are evaluated after the last ``lookback - 1`` rows before them (the
    strategies' contract: a signal depends on at most ``lookback`` rows), so only that tail is kept."""

    def __init__(self, names: Iterable[str], params: Mapping[str, Any] | None = None) -> None:
        self.pairs = strategy_pairs([(n, (params or {}).get(n)) for n in names])
        self.columns = tuple(dict.fromkeys(c for s, _ in self.pairs for c in s.columns))
        self.keep = max((s.lookback for s, _ in self.pairs), default=1) - 1
        self._tail: dict[str, np.ndarray] = {c: np.empty(0) for c in self.columns}

    def session(self, cols: Mapping[str, np.ndarray]) -> dict[int, list[SignalInput]]:
        """Row of the session (0-based) -> its signals, in the order of the strategies."""
        rows = len(cols["_ns"])
        if not self.pairs or rows == 0:
            return {}
        first = len(next(iter(self._tail.values()))) if self._tail else 0
        window = {c: np.concatenate((self._tail[c], np.asarray(cols[c], dtype=float))) for c in self.columns}
        out: dict[int, list[SignalInput]] = {}
        for strategy, params in self.pairs:
            start = max(0, first - (strategy.lookback - 1))  # each strategy reads its own lookback
            arrays = compute_guarded(strategy, {c: window[c][start:] for c in strategy.columns}, params)
            if arrays is None:
                continue
            fired = np.flatnonzero(arrays.direction[first - start :])
            for row in fired.tolist():
                at = first - start + row
                out.setdefault(row, []).append(
                    SignalInput(
                        strategy=strategy.name,
                        direction="CALL" if arrays.direction[at] > 0 else "PUT",
                        strength=float(arrays.strength[at]),
                        reason=str(arrays.reasons.get(at, "")),
                    )
                )
        self._keep_tail(window)
        return out

    def skip(self, cols: Mapping[str, np.ndarray]) -> None:
        """A session whose signals are not wanted (a warm-up): its rows only extend the tail the next
        session is evaluated after, as ``session`` would have left it."""
        if not self.pairs or len(cols["_ns"]) == 0:
            return
        self._keep_tail(
            {c: np.concatenate((self._tail[c], np.asarray(cols[c], dtype=float))) for c in self.columns}
        )

    def _keep_tail(self, window: dict[str, np.ndarray]) -> None:
        self._tail = {c: w[max(0, len(w) - self.keep) :] for c, w in window.items()}

    def sessions(self, parts: list[Mapping[str, np.ndarray]]) -> list[dict[int, list[SignalInput]]]:
        """``session`` of several sessions in one pass (fewer calls per strategy): their rows
        evaluated together, the signals handed back per session (rows 0-based in each)."""
        sizes = [len(p["_ns"]) for p in parts]
        if not parts:
            return []
        joined = {c: np.concatenate([np.asarray(p[c], dtype=float) for p in parts]) for c in self.columns}
        joined["_ns"] = np.concatenate([p["_ns"] for p in parts])
        everything = self.session(joined)
        bounds = np.cumsum([0, *sizes])
        out: list[dict[int, list[SignalInput]]] = [{} for _ in parts]
        for row, found in everything.items():
            j = int(np.searchsorted(bounds, row, side="right")) - 1
            out[j][row - int(bounds[j])] = found
        return out


def batches(days: Iterable[DayBars], size: int) -> Iterator[list[DayBars]]:
    """``days`` in lists of ``size`` sessions (the last one shorter), taken lazily; between two
    lists it holds none of the sessions it handed out."""
    batch: list[DayBars] = []
    for day in days:
        batch.append(day)
        day = None  # not held while the caller has the batch
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def prepared_apart(
    days: Callable[[], Iterable[DayBars]],
    *,
    names: Iterable[str],
    params: Mapping[str, Any] | None,
    iv_history: Any,
    index: str,
    warmup: Iterable[DayBars] = (),
    batch: int = 5,
) -> ApartSessions:
    """``SessionPrep``'s sessions computed in a forked process over ``days()`` (a second reading of
    the sessions the loop trades) after ``warmup``; yielded one session at a time, in order, each as
    ``(identity, prepared)`` (``identity``: which reading of the session it was computed from), then
    ``(None, handed_back)``: what ``days()``'s ``finish()`` returned, if it has one (e.g. the data
    version of what it read), else None.

    Fork before any thread of this process starts (the child runs only this function's code: no
    lock another thread held is needed there). The child never touches what the parent holds open
    (database connections, files) and leaves with ``os._exit``: no exit handler of the parent runs
    twice."""
    names = list(names)
    read, write = os.pipe()
    widen(write)
    pid = os.fork()
    if pid == 0:  # the child
        os.close(read)
        code = 0
        try:
            _produce(write, days, names, params, iv_history, index, warmup, batch)
        except BrokenPipeError:
            code = 0  # the loop is gone: nothing to hand over
        except BaseException:  # noqa: BLE001 - any failure ends the child with a code
            code = 1
        finally:
            os._exit(code)
    os.close(write)
    return ApartSessions(pid, read)


def _produce(fd, days, names, params, iv_history, index, warmup, size) -> None:
    with os.fdopen(fd, "wb", buffering=1 << 20) as out:

        def send(kind: str, payload: Any) -> None:
            write_item(out, (kind, payload))
            out.flush()

        try:
            prep = SessionPrep(names, params, iv_history, index)
            for day in warmup:
                prep.warm(day)
            source = days()
            ids: list[Identity] = []
            rows: list[tuple[date, Cols | None]] = []
            # The first batch is one session, so that the loop starts at once; each next one twice
            # the last, up to ``size``: the loop trades a batch while this process works out the next.
            now = 1

            def send_batch() -> None:
                ready = prep.signals_of(rows)
                send("batch", [(i, (d, _packed(c), s)) for i, (d, c, s) in zip(ids, ready, strict=True)])
                ids.clear()
                rows.clear()

            for day in source:
                # The rows now and the bars let go of before the next session is read: a stored
                # session is memory-mapped, and only one at a time is (flat memory, whatever the batch).
                ids.append(identity(day))
                rows.append((day.session, prep.features(day)))
                day = None
                if len(rows) >= now:
                    send_batch()
                    now = min(size, 2 * now)
            if rows:
                send_batch()
            finish = getattr(source, "finish", None)
            send("done", finish() if finish is not None else None)
        except BrokenPipeError:
            raise
        except BaseException as exc:  # noqa: BLE001 - handed to the loop, raised there
            send("error", portable(exc))


def _packed(cols: Cols | None) -> tuple | None:
    """A session's feature columns for the pipe: the columns of each dtype stacked into one block,
    so that a session is a few arrays to pickle, not ~45 (``_unpacked`` gives them back), and the
    columns' order."""
    if cols is None:
        return None
    by_dtype: dict[np.dtype, list[str]] = {}
    for name, col in cols.items():
        by_dtype.setdefault(col.dtype, []).append(name)
    blocks = tuple((tuple(names), np.stack([cols[name] for name in names])) for names in by_dtype.values())
    return tuple(cols), blocks


def _unpacked(packed: tuple | None) -> Cols | None:
    """``_packed``'s columns by name again, in their order (rows of its blocks: views, equal to what
    was sent)."""
    if packed is None:
        return None
    order, blocks = packed
    found = {name: block[j] for names, block in blocks for j, name in enumerate(names)}
    return {name: found[name] for name in order}


class ApartSessions(Iterator):
    """The sessions prepared in the child (``prepared_apart``), in order, as they arrive; ``close()``
    stops the child (killed unless it finished) and reaps it, whether or not any was read."""

    def __init__(self, pid: int, fd: int) -> None:
        self.pid = pid
        self._src = os.fdopen(fd, "rb", buffering=1 << 20)
        self._ready: deque = deque()
        self._finished = False

    def __next__(self) -> tuple[Identity | None, Any]:
        while not self._ready:
            if self._finished:
                raise StopIteration
            self._ready.extend(self._receive())
        return self._ready.popleft()

    def _receive(self) -> list:
        try:
            kind, payload = read_item(self._src)
        except Truncated:
            raise PrepDied(f"the process preparing the sessions (pid {self.pid}) ended mid-batch") from None
        except EOFError:
            raise PrepDied(f"the process preparing the sessions (pid {self.pid}) ended early") from None
        if kind == "batch":
            return [(i, (d, _unpacked(c), s)) for i, (d, c, s) in payload]
        self._finished = True
        if kind == "error":
            raise payload
        return [(None, payload)]  # done: what the second reading handed back

    def close(self) -> None:
        if self._src.closed:
            return
        self._src.close()
        if not self._finished:
            try:
                os.kill(self.pid, signal.SIGKILL)  # the loop stopped first: the child's work is not needed
            except ProcessLookupError:
                pass
        reap(self.pid)
