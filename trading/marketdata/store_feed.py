"""The market-data store as a feed: minute bars of one index, served exactly as the replay feed would.

``StoreFeed(root, index)`` reads ``spot_minute`` and ``chain_minute`` partitions of the store
(``trading/marketdata/store``) and answers the ``Feed`` contract of ``base.py``. A bar is a minute
with a spot bar; its chains hold the strikes stored for that minute (both sides, padded only in
``DayBars``), nearest expiry first, the same arrays a replay file of the day gives. India VIX comes
from the spot row, else from ``vix_minute``, else NaN.

Nothing is invented: a minute without a spot bar is not served (``gaps()`` reports it, with missing
strikes and sides), and a session for which the store has only end-of-day data (a bhavcopy) is
refused by name - ``EodOnlySession`` - whenever a request covers it, since an intraday strategy
cannot trade on one price per day.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from trading.core import bars
from trading.core import calendar as market_calendar
from trading.core.bars import CHAIN_FIELDS, DayBars, MarketBar
from trading.marketdata.base import Feed, FeedError, NoData, last_completed, trim_chain
from trading.marketdata.config import FeedConfig
from trading.marketdata.replay import QUOTE_COLUMNS
from trading.marketdata.store import decoded, schema
from trading.marketdata.store.schema import VIX_INDEX, kind
from trading.marketdata.store.store import MarketDataStore
from trading.marketdata.store.verify import SessionGaps, minute_gaps

__all__ = ["EodOnlySession", "StoreFeed", "build_day", "build_day_arrays", "strike_slots"]

_EPOCH = date(1970, 1, 1)

# Arrow's default pool (mimalloc) keeps the memory it freed for the next read: over a backtest's
# sessions that held about 50 MB more than the system allocator, which gives back each session's
# large blocks when the arrays are dropped. ARROW_DEFAULT_MEMORY_POOL, when set, is left to decide.
if not os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
    pa.set_memory_pool(pa.system_memory_pool())


def _decoder() -> str | None:
    """The fingerprint of the code that turns partitions into a session (this module's decoding and
    building, the store's schema, the decoded files' format): a decoded session made by other code is
    stale. None (no decoded
    sessions) when the sources cannot be read (a deployment without them)."""
    try:
        return decoded.decoder_fingerprint(__file__, schema.__file__, decoded.__file__, bars.__file__)
    except OSError:
        return None


_DECODER = _decoder()


class EodOnlySession(FeedError):
    """Sessions the store holds only end-of-day data for; ``sessions`` lists them."""

    def __init__(self, index: str, sessions: list[date]) -> None:
        self.index = index
        self.sessions = sessions
        shown = ", ".join(d.isoformat() for d in sessions[:10]) + (" ..." if len(sessions) > 10 else "")
        super().__init__(
            f"{index}: the store has only end-of-day data (bhavcopy) for {len(sessions)} session(s) "
            f"{shown}: intraday strategies cannot trade them - import minute data for them or leave them out"
        )


def _ns(frame: pd.DataFrame) -> np.ndarray:
    return frame["time"].astype("datetime64[ns, UTC]").dt.tz_localize(None).to_numpy().astype(np.int64)


def strike_slots(t_idx: np.ndarray, e_idx: np.ndarray, strike: np.ndarray) -> np.ndarray:
    """Slot of each row in the strike axis: the rank of its strike among the distinct strikes of its
    (minute, expiry), ascending - so a (T, E, S) array holds each minute's chain sorted, NaN-padded."""
    dt, de, ds = np.diff(t_idx), np.diff(e_idx), np.diff(strike)
    if np.all((dt > 0) | ((dt == 0) & ((de > 0) | ((de == 0) & (ds >= 0))))):
        order = None  # already in (minute, expiry, strike) order, as the store writes a partition
        st, se, sk = t_idx, e_idx, strike
    else:
        order = np.lexsort((strike, e_idx, t_idx))
        st, se, sk = t_idx[order], e_idx[order], strike[order]
    new_group = np.concatenate([[True], (st[1:] != st[:-1]) | (se[1:] != se[:-1])])
    new_strike = new_group | np.concatenate([[True], sk[1:] != sk[:-1]])
    group_id = np.cumsum(new_group) - 1
    strike_no = np.cumsum(new_strike) - 1
    ranked = strike_no - strike_no[np.flatnonzero(new_group)][group_id]
    if order is None:
        return ranked
    slots = np.empty_like(ranked)
    slots[order] = ranked
    return slots


def _frame_arrays(frame: pd.DataFrame | None, names: tuple[str, ...]) -> dict[str, np.ndarray] | None:
    """A store frame as the arrays ``build_day_arrays`` takes (``time`` as ns, ``expiry`` as days)."""
    if frame is None:
        return None
    out: dict[str, np.ndarray] = {"time": _ns(frame)}
    for name in names:
        if name == "expiry":
            out[name] = np.array([(e - _EPOCH).days for e in frame["expiry"]], dtype=np.int64)
        elif name == "option_type":
            out["is_call"] = (frame["option_type"] == "CE").to_numpy()
        else:
            out[name] = frame[name].to_numpy(dtype=float)
    return out


def build_day(
    index: str,
    session: date,
    spot: pd.DataFrame,
    chain: pd.DataFrame | None,
    vix: pd.DataFrame | None = None,
) -> DayBars:
    """``DayBars`` of one session from store rows: a bar per spot minute, chain rows of other minutes dropped."""
    return build_day_arrays(
        index,
        session,
        _frame_arrays(spot, ("open", "high", "low", "close", "volume", "vix")),
        _frame_arrays(chain, ("expiry", "strike", "option_type", *QUOTE_COLUMNS)),
        _frame_arrays(vix, ("close",)),
    )


def _partition_arrays(store: MarketDataStore, kind_name: str, index: str, session: date) -> dict | None:
    """One partition straight from Parquet into numpy (no DataFrame, no Python objects per row):
    ``time`` as ns since the epoch (UTC), ``expiry`` as days since the epoch, ``is_call`` for
    ``option_type``, floats for the rest. None when the partition does not exist."""
    path = store.path(kind_name, index, session)
    if not path.exists():
        return None
    # One thread: a session's partition is small, and the backtest's own work runs beside it.
    table = pq.read_table(path, schema=kind(kind_name).schema, use_threads=False, memory_map=True)
    out: dict[str, np.ndarray] = {}
    for name in table.column_names:
        col = table.column(name)
        if name == "time":
            out[name] = col.cast(pa.timestamp("ns", tz="UTC")).cast(pa.int64()).to_numpy()
        elif name == "expiry":
            out[name] = col.cast(pa.int32()).to_numpy().astype(np.int64)
        elif name == "option_type":
            out["is_call"] = pc.equal(col, "CE").to_numpy(zero_copy_only=False)
        else:
            out[name] = col.to_numpy(zero_copy_only=False).astype(float, copy=False)
    return out


def build_day_arrays(
    index: str,
    session: date,
    spot: dict[str, np.ndarray],
    chain: dict[str, np.ndarray] | None,
    vix: dict[str, np.ndarray] | None = None,
) -> DayBars:
    """``DayBars`` of one session from store columns as arrays (``_partition_arrays``): a bar per
    spot minute, chain rows of other minutes dropped."""
    order = np.argsort(spot["time"], kind="stable")
    times = spot["time"][order]
    T = times.size
    vix_values = spot["vix"][order].astype(float, copy=True)
    if vix is not None and vix["time"].size:
        vix_ns = vix["time"]
        pos = np.searchsorted(vix_ns, times).clip(0, max(vix_ns.size - 1, 0))
        found = vix_ns[pos] == times
        fill = np.isnan(vix_values) & found
        vix_values[fill] = vix["close"][pos[fill]]
    if chain is not None and chain["time"].size:
        t_idx = np.searchsorted(times, chain["time"]).clip(0, max(T - 1, 0))
        keep = times[t_idx] == chain["time"] if T else np.zeros(chain["time"].size, dtype=bool)
        if not keep.all():
            chain = {name: values[keep] for name, values in chain.items()}
            t_idx = t_idx[keep]
    if chain is None or not chain["time"].size:
        expiries: tuple[date, ...] = ()
        strikes = np.full((T, 0, 0), np.nan)
        fields = {name: np.full((T, 0, 0), np.nan) for name in CHAIN_FIELDS}
    else:
        # the few expiries of a session, numbered in order without sorting the rows
        low = int(chain["expiry"].min())
        seen = np.bincount(chain["expiry"] - low) > 0
        uniq_exp = np.flatnonzero(seen) + low
        e_idx = (np.cumsum(seen) - 1)[chain["expiry"] - low]
        strike = chain["strike"]
        s_idx = strike_slots(t_idx, e_idx, strike)
        E, S = uniq_exp.size, int(s_idx.max()) + 1
        flat = (t_idx * E + e_idx) * S + s_idx  # each row's cell in a (T, E, S) array
        strikes = np.full((T, E, S), np.nan)
        strikes.reshape(-1)[flat] = strike
        fields = {name: np.full((T, E, S), np.nan) for name in CHAIN_FIELDS}
        calls = chain["is_call"]
        for side, rows in (("call", np.flatnonzero(calls)), ("put", np.flatnonzero(~calls))):
            cells = flat[rows]
            for name in QUOTE_COLUMNS:
                fields[f"{side}_{name}"].reshape(-1)[cells] = chain[name][rows]
        expiries = tuple(_EPOCH + timedelta(days=int(d)) for d in uniq_exp)
    return DayBars(
        index=index,
        session=session,
        times=times.astype("datetime64[ns]"),
        open=spot["open"][order],
        high=spot["high"][order],
        low=spot["low"][order],
        close=spot["close"][order],
        volume=spot["volume"][order],
        vix=vix_values,
        expiries=expiries,
        strikes=strikes,
        **fields,
    )


def _trimmed(bar: MarketBar) -> MarketBar:
    chains = [trim_chain(c) for c in bar.chains]
    bar.chains = [c for c in chains if c.strikes.size]
    return bar


def _ns_of(dt: datetime) -> int:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"naive datetime {dt!r}: feeds take timezone-aware datetimes")
    return int(np.datetime64(dt.astimezone(UTC).replace(tzinfo=None), "ns").astype(np.int64))


class StoreFeed(Feed):
    """Minute bars of ``index`` from the market-data store at ``root`` (or a ``MarketDataStore``).

    ``sessions`` are the sessions with minute data. ``days``/``bars``/``snapshot`` raise
    ``EodOnlySession`` when the range asked for covers a session with only end-of-day data;
    ``gaps(start, end)`` reports what is missing in the minute sessions served. Sessions are read
    lazily and the last ``cache`` of them kept in memory; a session decoded once is kept on disk
    beside the store and memory-mapped the next time (``store.decoded``; ``decoded=False``: always
    decoded from Parquet, nothing written).
    """

    source = "STORE"

    @classmethod
    def from_config(cls, config: FeedConfig) -> StoreFeed:
        """The store at ``config.store_dir`` (``MARKETDATA_DIR``) for ``config.index``."""
        return cls(config.store_dir, config.index)

    def __init__(
        self,
        root: str | Path | MarketDataStore,
        index: str = "NIFTY",
        *,
        cache: int = 8,
        decoded: bool = True,
    ) -> None:
        self.store = root if isinstance(root, MarketDataStore) else MarketDataStore(root)
        self.index = index.upper()
        self._cache: OrderedDict[date, DayBars] = OrderedDict()
        self._cache_size = cache
        self._decoder = _DECODER if decoded else None

    @property
    def sessions(self) -> list[date]:
        return self.store.sessions("spot_minute", self.index)

    def eod_only_sessions(self, start: date, end: date) -> list[date]:
        """Sessions in ``start..end`` with an end-of-day chain and no minute bars."""
        minute = set(self.store.sessions("spot_minute", self.index, start, end))
        return [d for d in self.store.sessions("chain_eod", self.index, start, end) if d not in minute]

    def _refuse_eod_only(self, start: date, end: date) -> None:
        eod_only = self.eod_only_sessions(start, end)
        if eod_only:
            raise EodOnlySession(self.index, eod_only)

    def day(self, session: date) -> DayBars:
        """The session's ``DayBars``; ``NoData`` when the store has no minute bars for it."""
        if session in self._cache:
            self._cache.move_to_end(session)
            return self._cache[session]
        # The partitions' identity before they are read: one replaced meanwhile leaves the decoded
        # file stale, never wrong.
        sources = self._sources(session) if self._decoder else ()
        day = self._decoded(session, sources) if self._decoder else None
        if day is None:
            spot = _partition_arrays(self.store, "spot_minute", self.index, session)
            if spot is None or not spot["time"].size:
                self._refuse_eod_only(session, session)
                raise NoData(f"the store has no {self.index} minute bars for {session}")
            chain = _partition_arrays(self.store, "chain_minute", self.index, session)
            vix = _partition_arrays(self.store, "vix_minute", VIX_INDEX, session)
            day = build_day_arrays(self.index, session, spot, chain, vix)
            if self._decoder:
                day.digest = decoded.save(self.store.root, day, sources, self._decoder)
        day.read_from = sources  # which partitions, as they were (two readings compare it)
        self._cache[session] = day
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return day

    def _sources(self, session: date) -> decoded.SourceKey:
        return decoded.source_key(
            {
                "spot_minute": self.store.path("spot_minute", self.index, session),
                "chain_minute": self.store.path("chain_minute", self.index, session),
                "vix_minute": self.store.path("vix_minute", VIX_INDEX, session),
            }
        )

    def _decoded(self, session: date, sources: decoded.SourceKey) -> DayBars | None:
        """The session from its decoded file, when that was made from the partitions as they are
        (``sources``, read just before)."""
        if sources[0] is None:  # no spot partition: nothing to serve (``day`` says why)
            return None
        return decoded.load(self.store.root, self.index, session, sources, self._decoder)

    def days(self, start: date, end: date) -> Iterator[DayBars]:
        self._refuse_eod_only(start, end)
        for session in self.store.sessions("spot_minute", self.index, start, end):
            yield self.day(session)

    def bars(self, start: datetime, end: datetime) -> Iterator[MarketBar]:
        lo, hi = _ns_of(start), _ns_of(end)
        if hi <= lo:
            return
        first = market_calendar.ist_date(start)
        last = market_calendar.ist_date(end - timedelta(microseconds=1))
        self._refuse_eod_only(first, last)
        for session in self.store.sessions("spot_minute", self.index, first, last):
            day = self.day(session)
            ns = day.times.astype("datetime64[ns]").astype(np.int64)
            for i in np.flatnonzero((ns >= lo) & (ns < hi)):
                yield _trimmed(day.bar(int(i)))

    def snapshot(self, at: datetime) -> MarketBar:
        today = market_calendar.ist_date(at)
        self._refuse_eod_only(today, today)
        for session in reversed(self.store.sessions("spot_minute", self.index, None, today)):
            day = self.day(session)
            n = last_completed(day.times.astype("datetime64[ns]").astype(np.int64), at)
            if n:
                return _trimmed(day.bar(n - 1))
        raise NoData(f"no {self.index} bar in the store {self.store.root} has completed at {at}")

    def settlement_price(self, expiry: date) -> float | None:
        """The index's official close on ``expiry`` from the store's daily index closes (the final
        settlement price of index options), None when the store does not have that day."""
        daily = self.store.read("index_daily", self.index, expiry, expiry)
        if daily is None or daily.empty:
            return None
        close = float(daily["close"].iloc[-1])
        return close if np.isfinite(close) and close > 0 else None

    def gaps(self, start: date, end: date) -> list[SessionGaps]:
        """Per minute session in ``start..end``: what is missing (nothing is filled in)."""
        return [
            minute_gaps(self.store, self.index, d)
            for d in self.store.sessions("spot_minute", self.index, start, end)
        ]
