"""Market data types shared by the simulator, the feeds, the feature frame and the engine.

Two shapes of the same data:

* ``MarketBar`` - one minute of the market as the engine sees it live: spot OHLC, India VIX and the
  option chain of each traded expiry at the close of that minute.
* ``DayBars`` - one whole session as numpy arrays (bars x expiries x strikes), what the simulator and
  the CSV replay produce in bulk so that backtests and the feature frame work vectorised.

Conventions (the same everywhere):

* ``time`` is the bar's **start**, timezone-aware UTC (``numpy.datetime64[ns]`` in ``DayBars``); a
  bar's data is known at its end, ``time + 1 minute``. Sessions run 09:15-15:30 IST, so a full session
  has 375 bars labelled 09:15 ... 15:29 IST.
* Prices are rupees (floats here; Decimals only in the database). OI and volume are in units
  (contracts x lot size), as NSE reports them.
* ``iv`` is annualised volatility as a fraction (0.15 = 15%); NaN where not known (a feed that does
  not send IV leaves it NaN and ``features`` computes it with ``options.implied_vol``).
* Within one expiry, ``strikes`` is sorted ascending; chains are ordered nearest expiry first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime
from typing import Any

import numpy as np

CHAIN_FIELDS: tuple[str, ...] = (
    "call_ltp",
    "call_bid",
    "call_ask",
    "call_oi",
    "call_volume",
    "call_iv",
    "put_ltp",
    "put_bid",
    "put_ask",
    "put_oi",
    "put_volume",
    "put_iv",
)
"""The chain arrays of ``OptionChain`` and ``DayBars``, in the order of their fields."""

_DATETIME_NS = np.dtype("datetime64[ns]")

QUOTE_FIELDS: tuple[str, ...] = ("ltp", "bid", "ask", "oi", "volume", "iv")
"""A contract's quote (``OptionChain.quote``): one side's chain fields, in their order."""

_SIDE_FIELDS = {
    call: [(name, f"{'call' if call else 'put'}_{name}") for name in QUOTE_FIELDS] for call in (True, False)
}


@dataclass
class OptionChain:
    """The chain of one expiry at one moment: arrays of shape (S,) aligned with ``strikes``."""

    expiry: date
    strikes: np.ndarray
    call_ltp: np.ndarray
    call_bid: np.ndarray
    call_ask: np.ndarray
    call_oi: np.ndarray
    call_volume: np.ndarray
    call_iv: np.ndarray
    put_ltp: np.ndarray
    put_bid: np.ndarray
    put_ask: np.ndarray
    put_oi: np.ndarray
    put_volume: np.ndarray
    put_iv: np.ndarray
    _quotes: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def quote(self, strike: float, option_type: str) -> dict[str, float] | None:
        """Return ltp/bid/ask/oi/volume/iv of one contract (``option_type`` CE or PE), None if absent.

        A bar's chain is read several times per contract in a cycle (the plan, the fill, the context):
        each contract's quote is read from the arrays once per chain, and a copy handed out."""
        call = option_type in ("CE", "CALL")
        key = (strike, call)
        found = self._quotes.get(key, self)  # ``self``: not read yet (None: read, and not listed)
        if found is self:
            idx = (self.strikes == strike).nonzero()[0]
            found = None
            if idx.size:
                found = self._quote_at(int(idx[0]), call)
            self._quotes[key] = found
        return None if found is None else dict(found)

    def _quote_at(self, k: int, call: bool) -> dict[str, float]:
        """The quote of strike ``k`` (an index into ``strikes``) on one side."""
        return {name: float(getattr(self, field)[k]) for name, field in _SIDE_FIELDS[call]}


@dataclass
class MarketBar:
    """One minute of one index: spot OHLC, India VIX and the chains of the traded expiries."""

    index: str
    time: datetime
    open: float
    high: float
    low: float
    close: float
    vix: float
    volume: float = 0.0
    chains: list[OptionChain] = field(default_factory=list)

    def chain(self, expiry: date) -> OptionChain | None:
        """The chain of one expiry, None when that expiry is not in this bar."""
        for c in self.chains:
            if c.expiry == expiry:
                return c
        return None


@dataclass
class DayBars:
    """One session of one index as arrays.

    ``times`` and the spot/VIX arrays have shape (T,); chain arrays have shape (T, E, S) for the
    ``expiries`` (E of them, nearest first) and S strikes per expiry and bar (``strikes`` may move from
    bar to bar as the window re-centres on spot).

    A source may note what the session was read from as ``read_from`` (an attribute, not a field:
    the store's partitions by inode, size and modification time; ``session_prep`` compares two
    readings by it), and its ``session_digest`` as ``digest`` when it knows it already (the store's
    decoded file keeps it, worked out from the same arrays when it was written).
    """

    index: str
    session: date
    times: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    vix: np.ndarray
    expiries: tuple[date, ...]
    strikes: np.ndarray
    call_ltp: np.ndarray
    call_bid: np.ndarray
    call_ask: np.ndarray
    call_oi: np.ndarray
    call_volume: np.ndarray
    call_iv: np.ndarray
    put_ltp: np.ndarray
    put_bid: np.ndarray
    put_ask: np.ndarray
    put_oi: np.ndarray
    put_volume: np.ndarray
    put_iv: np.ndarray

    def __len__(self) -> int:
        return int(self.times.shape[0])

    def bar_time(self, i: int) -> datetime:
        """Aware UTC datetime of bar ``i``'s start."""
        times = self.times
        if times.dtype == _DATETIME_NS:
            ns = int(times.view(np.int64)[i])
        else:
            ns = int(times[i].astype("datetime64[ns]").astype(np.int64))
        return datetime.fromtimestamp(ns / 1e9, tz=UTC)

    def bar(self, i: int) -> MarketBar:
        """Bar ``i`` as a ``MarketBar`` (copies nothing: each chain reads the day's arrays when asked)."""
        chains = [_DayChain(self, i, e, expiry) for e, expiry in enumerate(self.expiries)]
        return MarketBar(
            index=self.index,
            time=self.bar_time(i),
            open=float(self.open[i]),
            high=float(self.high[i]),
            low=float(self.low[i]),
            close=float(self.close[i]),
            vix=float(self.vix[i]),
            volume=float(self.volume[i]),
            chains=chains,
        )

    def __iter__(self):
        for i in range(len(self)):
            yield self.bar(i)


class _DayChain(OptionChain):
    """The chain of expiry ``e`` on bar ``i`` of a ``DayBars`` (``DayBars.bar``): an ``OptionChain``
    whose arrays are the day's, viewed when read. A cycle reads a few of a bar's chain arrays, often
    none; building the 13 views of every expiry for every bar cost more than the reads (issue 18).
    Copied or pickled, it becomes a plain ``OptionChain`` of those views' values."""

    def __init__(self, day: DayBars, i: int, e: int, expiry: date) -> None:
        self._day, self._i, self._e = day, i, e
        self.expiry = expiry
        self._quotes = {}

    def _quote_at(self, k: int, call: bool) -> dict[str, float]:
        day, i, e = self._day, self._i, self._e
        return {name: float(getattr(day, field)[i, e, k]) for name, field in _SIDE_FIELDS[call]}

    def __reduce__(self):
        return OptionChain, (self.expiry, *(getattr(self, name) for name in _VIEWED))


_VIEWED = ("strikes", *CHAIN_FIELDS)  # OptionChain's arrays, in the order of its fields


def _viewed(name: str) -> property:
    def read(chain: _DayChain) -> np.ndarray:
        return getattr(chain._day, name)[chain._i, chain._e]

    return property(read, doc=f"``{name}`` of the day's bar and expiry (a view).")


for _name in _VIEWED:
    setattr(_DayChain, _name, _viewed(_name))


# --- the data version's part of one session ----------------------------------------------------------------

DAY_ARRAYS: tuple[str, ...] = tuple(
    f.name for f in fields(DayBars) if f.name not in ("index", "session", "expiries")
)
"""The array fields of ``DayBars``, in their order: the order a session's bytes are hashed and stored."""


def session_digest(day: DayBars) -> bytes:
    """SHA-256 of one session as a backtest's data version counts it: ``index|session|expiries``,
    then the bytes of its arrays (``DAY_ARRAYS``) in C order, one after another.

    The same arrays give the same digest wherever they are read from. A source that knows it
    already sets it as ``day.digest`` (the store's decoded files keep it: a year's sessions read
    from them are not hashed again, ~0.5 s of CPU); anything else is hashed here."""
    known = day.__dict__.get("digest")
    if known is not None:
        return known
    digest = hashlib.sha256(f"{day.index}|{day.session}|{','.join(map(str, day.expiries))}".encode())
    for chunk in byte_runs([getattr(day, name) for name in DAY_ARRAYS]):
        digest.update(chunk)
    return digest.digest()


def byte_runs(arrays: list[np.ndarray]) -> Iterator[np.ndarray]:
    """The arrays' bytes in C order, one after another, read where they are (no copy: a hash runs
    without the GIL) and in as few pieces as they allow: arrays lying back to back in one buffer (a
    decoded session's, memory-mapped: ``store.decoded``) are one piece - one release of the GIL
    instead of twenty, each of which a reading thread waits to take back."""
    run: list[np.ndarray] = []
    for a in arrays:
        if a.nbytes == 0:
            continue  # no bytes to hash
        if not a.flags.c_contiguous:
            yield from _joined(run)
            run = []
            yield np.ascontiguousarray(a).reshape(-1).view(np.uint8)
            continue
        if run and (_buffer_of(run[-1]) is not _buffer_of(a) or _end(run[-1]) != a.ctypes.data):
            yield from _joined(run)
            run = []
        run.append(a)
    yield from _joined(run)


def _buffer_of(a: np.ndarray) -> Any:
    """The object whose memory ``a`` views (a memory map, bytes; the array itself if it owns it)."""
    while isinstance(a.base, np.ndarray):
        a = a.base
    base = a.base if a.base is not None else a
    return base.obj if isinstance(base, memoryview) else base


def _end(a: np.ndarray) -> int:
    return a.ctypes.data + a.nbytes


def _joined(run: list[np.ndarray]) -> Iterator[np.ndarray]:
    """One uint8 view over a run of back-to-back arrays of one buffer (each array's own bytes if the
    buffer cannot be viewed whole)."""
    if not run:
        return
    first = run[0]
    buffer = _buffer_of(first)
    if len(run) > 1 and not isinstance(buffer, np.ndarray):
        try:
            whole = np.frombuffer(buffer, dtype=np.uint8)
        except (TypeError, ValueError):
            whole = None
        if whole is not None:
            start = first.ctypes.data - whole.ctypes.data
            yield whole[start : start + _end(run[-1]) - first.ctypes.data]
            return
    for a in run:  # a datetime array exports no buffer; its bytes as uint8 do
        yield a.reshape(-1).view(np.uint8)
