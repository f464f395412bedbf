"""The feed interface: where the engine gets its market bars from.

Every feed - the simulator, a CSV replay, Kite live - answers the same three questions:

* ``snapshot(at)`` -> the last ``MarketBar`` completed at ``at`` (its start + 1 minute <= ``at``).
  Raises ``NoData`` when there is none (before the first bar, a stale live feed).
* ``bars(start, end)`` -> the bars whose start lies in ``[start, end)``, in time order.
* ``days(start, end)`` -> the sessions from ``start`` to ``end`` (IST dates, inclusive) as
  ``DayBars``; the base class builds them from ``bars`` for feeds that have no faster way.
* ``settlement_price(expiry)`` -> the exchange's final settlement price of that expiry's options
  (the index's official close), None when the feed does not have it (the default).

``source`` is the journal's data source of the trades made on the feed: ``SIM``, ``REPLAY``,
``KITE`` or ``STORE`` (``trading.choices.DataSource``). ``check(at)`` is the health check: it returns None when the feed can serve a bar at
``at`` and raises ``FeedError`` (with the reason) otherwise. Feeds never read the wall clock: the
caller says what time it is.

This module and the feeds import no Django; ``trading.market.services`` is the Django side.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta

import numpy as np

from trading.core import calendar as market_calendar
from trading.core.bars import CHAIN_FIELDS, DayBars, MarketBar, OptionChain
from trading.marketdata.config import FeedConfig

__all__ = [
    "Feed",
    "FeedError",
    "NoData",
    "SOURCES",
    "bars_to_day",
    "group_sessions",
]

SOURCES = ("SIM", "REPLAY", "KITE")
BAR = timedelta(minutes=1)


class FeedError(Exception):
    """The feed cannot serve: not configured, unreachable, stale or broken (the message says which)."""


class NoData(FeedError):
    """No bar has completed at the time asked (before the first bar, or none recorded)."""


class Feed:
    """Base class of the market-data feeds (see the module docstring for the contract)."""

    source: str = ""
    index: str = "NIFTY"
    expiries_from_broker: bool = False
    """True when the bars' chains list the broker's real expiries (its instrument master)."""

    @classmethod
    def from_config(cls, config: FeedConfig) -> Feed:
        """The feed for ``config`` (``trading.marketdata.registry.build_feed`` calls it). The default,
        for a feed that needs nothing else: ``cls(index=config.index)``."""
        return cls(index=config.index)

    def snapshot(self, at: datetime) -> MarketBar:
        """The last bar completed at ``at`` (aware); ``NoData`` if none."""
        raise NotImplementedError

    def bars(self, start: datetime, end: datetime) -> Iterator[MarketBar]:
        """Bars starting in ``[start, end)`` (aware datetimes), in time order."""
        raise NotImplementedError

    def days(self, start: date, end: date) -> Iterator[DayBars]:
        """Sessions ``start``..``end`` (IST dates, inclusive) as ``DayBars``, built from ``bars``."""
        lo = datetime.combine(start, time(0, 0), tzinfo=market_calendar.IST)
        hi = datetime.combine(end + timedelta(days=1), time(0, 0), tzinfo=market_calendar.IST)
        yield from group_sessions(self.bars(lo, hi))

    def settlement_price(self, expiry: date) -> float | None:
        """The exchange's final settlement price of the options expiring on ``expiry`` (the index's
        official close that day), None when the feed does not have it (the default)."""
        return None

    def check(self, at: datetime) -> None:
        """None when a bar can be served at ``at``; raises ``FeedError`` with the reason otherwise."""
        self.snapshot(at)

    def close(self) -> None:
        """Release what the feed holds (files, processes); the default holds nothing."""


def _aware(dt: datetime) -> datetime:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"naive datetime {dt!r}: feeds take timezone-aware datetimes")
    return dt


def _ns(dt: datetime) -> int:
    return int(np.datetime64(_aware(dt).astimezone(UTC).replace(tzinfo=None), "ns").astype(np.int64))


def group_sessions(bars: Iterable[MarketBar]) -> Iterator[DayBars]:
    """Group time-ordered bars into ``DayBars`` per IST session."""
    current: list[MarketBar] = []
    session: date | None = None
    for bar in bars:
        d = market_calendar.ist_date(bar.time)
        if session is not None and d != session:
            yield bars_to_day(current)
            current = []
        session = d
        current.append(bar)
    if current:
        yield bars_to_day(current)


def bars_to_day(bars: list[MarketBar]) -> DayBars:
    """Stack the bars of one session into a ``DayBars``.

    The expiries are every expiry seen in the session (nearest first); a bar that lacks one gets
    NaN for it. Strikes are padded with NaN to the widest chain of the session (bars.py allows the
    strike window to move from bar to bar; padding keeps the arrays rectangular).
    """
    if not bars:
        raise ValueError("no bars to stack")
    session = market_calendar.ist_date(bars[0].time)
    expiries = tuple(sorted({c.expiry for b in bars for c in b.chains}))
    T, E = len(bars), len(expiries)
    S = max((len(c.strikes) for b in bars for c in b.chains), default=0)
    e_index = {e: i for i, e in enumerate(expiries)}
    strikes = np.full((T, E, S), np.nan)
    fields = {name: np.full((T, E, S), np.nan) for name in CHAIN_FIELDS}
    for t, bar in enumerate(bars):
        if market_calendar.ist_date(bar.time) != session:
            raise ValueError(f"bar at {bar.time} is not in the session {session}")
        for chain in bar.chains:
            e, n = e_index[chain.expiry], len(chain.strikes)
            strikes[t, e, :n] = chain.strikes
            for name in CHAIN_FIELDS:
                fields[name][t, e, :n] = getattr(chain, name)
    times = np.array([_ns(b.time) for b in bars], dtype=np.int64).astype("datetime64[ns]")
    return DayBars(
        index=bars[0].index,
        session=session,
        times=times,
        open=np.array([b.open for b in bars], dtype=float),
        high=np.array([b.high for b in bars], dtype=float),
        low=np.array([b.low for b in bars], dtype=float),
        close=np.array([b.close for b in bars], dtype=float),
        volume=np.array([b.volume for b in bars], dtype=float),
        vix=np.array([b.vix for b in bars], dtype=float),
        expiries=expiries,
        strikes=strikes,
        **fields,
    )


def trim_chain(chain: OptionChain) -> OptionChain:
    """The chain without its padded (NaN) strikes."""
    keep = np.isfinite(chain.strikes)
    if keep.all():
        return chain
    return OptionChain(
        expiry=chain.expiry,
        strikes=chain.strikes[keep],
        **{name: getattr(chain, name)[keep] for name in CHAIN_FIELDS},
    )


def last_completed(times_ns: np.ndarray, at: datetime) -> int:
    """How many of the sorted bar starts ``times_ns`` have completed at ``at`` (start + 1 min <= at)."""
    return int(np.searchsorted(times_ns + 60_000_000_000, _ns(at), side="right"))
