"""The market of a backtest run: the sessions it trades, read as the run goes (``market_stream``:
flat memory, hashed on the way for the run's data version; stored sessions read ahead by a thread)
or all in memory (``market_history``: a sweep shares one market among its combinations). Split out
of ``backtests`` (which re-exports these names)."""

from __future__ import annotations

import ctypes
import hashlib
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd
from django.core.exceptions import ValidationError

from trading.choices import DataSource
from trading.core import calendar as market_calendar
from trading.core.apart import can_fork
from trading.core.bars import DayBars, session_digest
from trading.core.live import SimSource
from trading.execution.config import feed_config
from trading.marketdata.store.eod import iv_history as store_iv_history
from trading.marketdata.store_feed import EodOnlySession, StoreFeed

# Sessions a stored backtest keeps decoded at once: the features and the loop read one at a time.
_STORE_CACHE = 2
# Stored sessions read ahead of the loop by a thread (``read_ahead_of``): a batch of the loop
# (``run_backtest``'s ``STREAM_BATCH``, 5), which it takes at once - with fewer, the loop waited
# at each batch for the thread to read the rest. With the features apart the loop takes one
# session at a time, and two ahead keep it fed (each session held costs ~3 MB of mapped pages).
_READ_AHEAD = 5
_READ_AHEAD_APART = 2


# --- The market -------------------------------------------------------------------------------------------


@dataclass
class MarketHistory:
    """The sessions a backtest trades and the daily history its IV figures warm up on."""

    days: list[DayBars]
    iv_history: Any

    @property
    def bars(self) -> int:
        return sum(len(day) for day in self.days)

    def version(self) -> str:
        """SHA-256 (hex) of the sessions' digests in order (``bars.session_digest``: every array and
        date of each), then of the IV history: the same market, the same version."""
        digest = hashlib.sha256()
        for day in self.days:
            _digest_day(digest, day)
        _digest_iv(digest, self.iv_history)
        return digest.hexdigest()


def _digest_day(digest: Any, day: DayBars) -> None:
    """One session into a data version: its own digest (``bars.session_digest``: remembered by the
    store's decoded files, else hashed)."""
    digest.update(session_digest(day))


def _digest_iv(digest: Any, iv_history: Any) -> None:
    if isinstance(iv_history, pd.DataFrame):
        digest.update(pd.util.hash_pandas_object(iv_history, index=True).to_numpy().tobytes())


@dataclass
class MarketStream:
    """The sessions of a backtest as they are read, one at a time (flat memory over a year), hashed
    on the way: ``version()`` is ``MarketHistory.version()`` of the same market once they are read.
    ``gaps`` names each stored session with minutes missing (traded on what is there)."""

    days: Iterator[DayBars]
    iv_history: Any
    gaps: list[str]
    _digest: Any = None

    @classmethod
    def of(
        cls,
        days: Iterable[DayBars],
        iv_history: Any,
        gaps: list[str],
        *,
        read_ahead: int = 0,
        hashed: bool = True,
    ) -> MarketStream:
        """``read_ahead`` > 0: a thread reads (and hashes) up to that many sessions ahead of the
        loop (``read_ahead``; it starts with the first session asked for). ``hashed=False``: no
        ``version()`` (another reading hashes the sessions: ``market_days_again``)."""
        stream = cls(
            days=iter(()), iv_history=iv_history, gaps=gaps, _digest=hashlib.sha256() if hashed else None
        )
        stream.days = stream._hashed(days) if hashed else iter(days)
        if read_ahead > 0:
            stream.days = read_ahead_of(stream.days, read_ahead)
        return stream

    def _hashed(self, days: Iterable[DayBars]) -> Iterator[DayBars]:
        for day in days:
            _digest_day(self._digest, day)
            yield day

    def version(self) -> str:
        if self._digest is None:
            raise RuntimeError("this reading of the market is not hashed (market_stream(apart=True))")
        digest = self._digest.copy()
        _digest_iv(digest, self.iv_history)
        return digest.hexdigest()

    def __iter__(self) -> Iterator[DayBars]:
        return self.days

    def finish(self) -> str:
        """What a second reading hands back once read (``session_prep.prepared_apart``): its version."""
        return self.version()


def read_ahead_of(items: Iterator[Any], ahead: int = 1) -> Iterator[Any]:
    """``items`` as they come, produced by a thread up to ``ahead`` items in advance: a stored
    session is read from Parquet, decoded and hashed (pyarrow, numpy and hashlib let go of the GIL)
    while the loop trades the one before. The items and their order are those of ``items``; an
    exception in the thread is raised here, at its place; closing this generator (the loop ended
    or failed) stops the thread at its next item. The thread holds at most ``ahead`` + 1 items."""
    done = object()
    slots: queue.Queue = queue.Queue(maxsize=ahead)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        slots.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slots.put((done, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            slots.put((done, exc))

    worker = threading.Thread(target=produce, name="backtest-read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            item, exc = slots.get()
            if item is done:
                if exc is not None:
                    raise exc
                return
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue, then let it end
            try:
                slots.get_nowait()
            except queue.Empty:
                worker.join(0.05)


def _with_gaps(days: Iterable[DayBars], gaps: list[str]) -> Iterator[DayBars]:
    """``days`` as they come, noting each session's missing minutes (traded on what is there)."""
    for day in days:
        span = market_calendar.session_close(day.session) - market_calendar.session_open(day.session)
        expected = int(span.total_seconds() // 60)
        if len(day) < expected:
            gaps.append(f"{day.session}: {expected - len(day)} of {expected} minutes missing")
        yield day


def empty_store_range(root: Any, index: str, start: date, end: date) -> str:
    """Why a study or a run of a range in which the store holds no minute bars of ``index`` is refused."""
    return (
        f"the market-data store ({root}) holds no {index} minute bars between {start} and {end}: "
        "import them first (manage.py marketdata import minute; docs/marketdata-store.md)"
    )


def _store_feed(index: str, start: date, end: date) -> StoreFeed:
    """The store's sessions of ``index``; a session with only end-of-day data refuses the run by name."""
    share_the_heap()  # before the read-ahead thread, and in the features process: they decode Parquet
    feed = StoreFeed(feed_config().store_dir, index, cache=_STORE_CACHE)
    eod_only = feed.eod_only_sessions(start, end)
    if eod_only:
        raise EodOnlySession(index, eod_only)
    return feed


def market_stream(
    *, data_source: str, index: str, seed: int, start: date, end: date, apart: bool = False
) -> MarketStream:
    """The sessions ``start``..``end`` of ``index`` from ``data_source``, read as the backtest goes
    (``SIM``: the simulated market of ``seed``; ``STORE``: the market-data store). ``apart``: the
    features are computed apart from a second reading (``market_days_again``), which also hashes
    the sessions; this one is not hashed (``version()`` is then the other reading's)."""
    gaps: list[str] = []
    if data_source == DataSource.SIM:
        source = SimSource(index=index, seed=seed, start=start)
        return MarketStream.of(source.sim.days(start, end), source.iv_history(), gaps)
    if data_source == DataSource.STORE:
        feed = _store_feed(index, start, end)
        stored = set(feed.store.sessions("spot_minute", index, start, end))
        gaps.extend(
            f"{d}: not in the store" for d in market_calendar.trading_days(start, end) if d not in stored
        )
        days = _with_gaps(feed.days(start, end), gaps)
        iv_history = store_iv_history(feed.store, index, start)
        ahead = _READ_AHEAD_APART if apart else _READ_AHEAD
        return MarketStream.of(days, iv_history, gaps, read_ahead=ahead, hashed=not apart)
    raise ValidationError({"data_source": f"{data_source} is not a source backtests can read"})


def market_days_again(
    *, data_source: str, index: str, start: date, end: date
) -> Callable[[], MarketStream] | None:
    """A second reading of ``market_stream``'s sessions, for a process that computes their features
    while the run trades (``run_backtest(days_again=...)``): the stored sessions read again
    (memory-mapped once decoded) and hashed there - ``MarketStream.finish`` hands the data version
    back, so the run's own reading is not hashed (``market_stream(apart=True)``).
    None for a simulated market (simulating it twice would cost more than the features it spares)
    and where the system cannot fork."""
    if data_source != DataSource.STORE or not can_fork():
        return None

    def again() -> MarketStream:
        feed = _store_feed(index, start, end)
        return MarketStream.of(feed.days(start, end), store_iv_history(feed.store, index, start), [])

    return again


def market_history(*, data_source: str, index: str, seed: int, start: date, end: date) -> MarketHistory:
    """The sessions ``start``..``end`` of ``index`` from ``data_source``, all in memory (a sweep
    shares one market among its combinations)."""
    stream = market_stream(data_source=data_source, index=index, seed=seed, start=start, end=end)
    return MarketHistory(days=list(stream.days), iv_history=stream.iv_history)


def trim_heap() -> None:
    """Give the free pages of the C heap back to the system (glibc's ``malloc_trim``; elsewhere
    nothing): once, between the run and its journal writes, which then start from less. (After every
    session it cost 1-2 s of system time over a year for no steady gain in the peak.)"""
    if _malloc_trim is not None:
        _malloc_trim(0)


def _glibc(name: str) -> Callable | None:
    """The C library's function ``name``, None where it has none (not glibc: macOS, musl)."""
    try:
        return getattr(ctypes.CDLL(None), name)
    except (AttributeError, OSError):
        return None


_malloc_trim = _glibc("malloc_trim")

_M_ARENA_MAX = -8  # glibc's malloc.h


def share_the_heap() -> None:
    """glibc: threads started from now on allocate from the heaps there are instead of a heap of
    their own (``mallopt(M_ARENA_MAX, 1)``; elsewhere nothing). A stored backtest decodes Parquet
    in threads (the read-ahead thread, and any pyarrow starts in either process), and pyarrow
    allocates with ``malloc`` (see ``store_feed``): in heaps of their own, the blocks they freed
    stayed there, apart from the loop's. Measured on the first run over a store (decoding every
    session; 3 runs each, alternating with the code before): the peak PSS over a year 253-270 ->
    245-249 MB, over a month 231-235 -> 226-238 MB; the same wall clock; warm runs (memory-mapped)
    unchanged. It holds for the rest of the process: a backtest's command or worker, or ``make run``'s
    web server, which runs them in a thread (Python's own small objects are allocated under the GIL
    anyway)."""
    if _mallopt is not None:
        _mallopt(_M_ARENA_MAX, 1)


_mallopt = _glibc("mallopt")
