"""Gaps in the store, per session: missing minutes, strikes and sides - reported, never filled.

Minute sessions (``spot_minute`` + ``chain_minute``):

* ``missing_minutes`` - minutes of the 09:15-15:29 IST session with no spot bar;
* ``chain_without_spot`` - minutes with chain rows but no spot bar (a feed cannot serve them);
* ``minutes_without_chain`` - spot bars with no chain row;
* ``missing_strikes`` - holes in the strike grid (``contracts.strike_step``) between the lowest and
  the highest strike listed for a minute and expiry;
* ``one_sided`` - a strike listed with a call and no put at that minute, or the reverse;
* ``missing_vix`` - spot bars without India VIX (neither in the row nor in ``vix_minute``).

End-of-day sessions (``chain_eod``): holes in the strike grid within ``EOD_GRID_STEPS`` steps of the
nearest expiry's middle strike, one-sided strikes, and lot sizes that differ from the lot-size table
(UDiFF states the lot). ``missing_sessions`` lists the trading days between a kind's first and last
stored session that have nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd

from trading.core import calendar as market_calendar
from trading.core import contracts
from trading.marketdata.store.store import MarketDataStore

__all__ = ["SessionGaps", "eod_gaps", "minute_gaps", "missing_sessions", "verify"]

SESSION_MINUTES = 375
EOD_GRID_STEPS = 10
EXAMPLES = 5


@dataclass
class SessionGaps:
    """What is missing from one stored session (counts, and a few examples of each)."""

    index: str
    session: date
    kind: str  # "minute" or "eod"
    minutes: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(self.counts.values())

    def add(self, name: str, count: int, examples: list[str]) -> None:
        self.counts[name] = int(count)
        if count:
            self.examples[name] = examples[:EXAMPLES]

    def as_json(self) -> dict:
        return {
            "index": self.index,
            "session": self.session.isoformat(),
            "kind": self.kind,
            "minutes": self.minutes,
            "gaps": self.counts,
            "examples": self.examples,
        }


def _ist(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).astimezone(market_calendar.IST).strftime("%H:%M")


def _session_minutes(session: date) -> np.ndarray:
    start = market_calendar.session_open(session).astimezone(UTC).replace(tzinfo=None)
    first = int(np.datetime64(start, "ns").astype(np.int64))
    return first + np.arange(SESSION_MINUTES, dtype=np.int64) * 60_000_000_000


def _ranges(ns: np.ndarray) -> list[str]:
    """Consecutive minutes as ``09:45-10:02`` ranges."""
    out: list[str] = []
    if ns.size == 0:
        return out
    start = prev = int(ns[0])
    for t in [int(x) for x in ns[1:]] + [None]:
        if t is not None and t - prev == 60_000_000_000:
            prev = t
            continue
        out.append(_ist(start) if start == prev else f"{_ist(start)}-{_ist(prev)}")
        if t is not None:
            start = prev = t
    return out


def _grid_holes(strikes: np.ndarray, step: float, lo: float, hi: float) -> np.ndarray:
    grid = np.arange(np.ceil(lo / step) * step, hi + step / 2, step)
    return grid[~np.isin(grid, strikes)]


def _one_sided(rows: pd.DataFrame, group: list[str]) -> pd.DataFrame:
    sides = rows.groupby([*group, "strike"], sort=True)["option_type"].nunique()
    return sides[sides < 2].reset_index()


def minute_gaps(store: MarketDataStore, index: str, session: date) -> SessionGaps:
    """Gaps of one minute session (see the module docstring)."""
    name = index.upper()
    gaps = SessionGaps(name, session, "minute")
    spot = store.read_partition("spot_minute", name, session)
    chain = store.read_partition("chain_minute", name, session)
    vix = store.read_partition("vix_minute", "INDIAVIX", session)
    spot_ns = (
        spot["time"].astype("datetime64[ns, UTC]").dt.tz_localize(None).to_numpy().astype(np.int64)
        if spot is not None
        else np.empty(0, dtype=np.int64)
    )
    gaps.minutes = int(spot_ns.size)
    expected = _session_minutes(session)
    missing = expected[~np.isin(expected, spot_ns)]
    gaps.add("missing_minutes", missing.size, _ranges(missing))
    chain_ns = (
        chain["time"].astype("datetime64[ns, UTC]").dt.tz_localize(None).to_numpy().astype(np.int64)
        if chain is not None
        else np.empty(0, dtype=np.int64)
    )
    orphan = np.unique(chain_ns[~np.isin(chain_ns, spot_ns)])
    gaps.add("chain_without_spot", orphan.size, _ranges(orphan))
    bare = spot_ns[~np.isin(spot_ns, chain_ns)]
    gaps.add("minutes_without_chain", bare.size, _ranges(bare))
    if chain is not None and len(chain):
        step = float(contracts.strike_step(name, session))
        holes: list[str] = []
        count = 0
        c = chain.assign(ns=chain_ns)
        for (t, exp), part in c.groupby(["ns", "expiry"], sort=True):
            k = np.unique(part["strike"].to_numpy(dtype=float))
            h = _grid_holes(k, step, k.min(), k.max())
            count += h.size
            holes.extend(f"{_ist(int(t))} {exp} {x:g}" for x in h[: max(EXAMPLES - len(holes), 0)])
        gaps.add("missing_strikes", count, holes)
        lone = _one_sided(c, ["ns", "expiry"])
        gaps.add(
            "one_sided",
            len(lone),
            [f"{_ist(int(r.ns))} {r.expiry} {r.strike:g}" for r in lone.head(EXAMPLES).itertuples()],
        )
    else:
        gaps.add("missing_strikes", 0, [])
        gaps.add("one_sided", 0, [])
    if spot is not None:
        v = spot["vix"].to_numpy(dtype=float)
        if vix is not None:
            vix_ns = (
                vix["time"].astype("datetime64[ns, UTC]").dt.tz_localize(None).to_numpy().astype(np.int64)
            )
            v = np.where(np.isnan(v) & np.isin(spot_ns, vix_ns), 0.0, v)
        no_vix = spot_ns[np.isnan(v)]
        gaps.add("missing_vix", no_vix.size, _ranges(no_vix))
    else:
        gaps.add("missing_vix", 0, [])
    return gaps


def eod_gaps(store: MarketDataStore, index: str, session: date) -> SessionGaps:
    """Gaps of one end-of-day chain (see the module docstring)."""
    name = index.upper()
    gaps = SessionGaps(name, session, "eod")
    rows = store.read_partition("chain_eod", name, session)
    if rows is None or rows.empty:
        gaps.add("no_chain", 1, [f"{session}"])
        return gaps
    step = float(contracts.strike_step(name, session))
    holes: list[str] = []
    count = 0
    for exp, part in rows.groupby("expiry", sort=True):
        k = np.unique(part["strike"].to_numpy(dtype=float))
        middle = float(np.median(k))
        lo, hi = max(k.min(), middle - EOD_GRID_STEPS * step), min(k.max(), middle + EOD_GRID_STEPS * step)
        h = _grid_holes(k, step, lo, hi)
        count += h.size
        holes.extend(f"{exp} {x:g}" for x in h)
    gaps.add("missing_strikes", count, holes)
    lone = _one_sided(rows, ["expiry"])
    gaps.add("one_sided", len(lone), [f"{r.expiry} {r.strike:g}" for r in lone.head(EXAMPLES).itertuples()])
    stated = rows.dropna(subset=["lot"]).drop_duplicates("expiry")
    wrong = [
        f"{r.expiry}: file {int(r.lot)}, table {contracts.lot_size(name, r.expiry)}"
        for r in stated.itertuples()
        if int(r.lot) != contracts.lot_size(name, r.expiry)
    ]
    gaps.add("lot_differs_from_table", len(wrong), wrong)
    gaps.minutes = 0
    return gaps


def missing_sessions(store: MarketDataStore, kind_name: str, index: str) -> list[date]:
    """Trading days between the first and last stored session of a kind that have no partition."""
    stored = store.sessions(kind_name, index)
    if not stored:
        return []
    exchange = contracts.index_spec(index).exchange if index.upper() in contracts.INDICES else "NSE"
    have = set(stored)
    return [d for d in market_calendar.trading_days(stored[0], stored[-1], exchange) if d not in have]


def verify(
    store: MarketDataStore, index: str | None = None, start: date | None = None, end: date | None = None
) -> tuple[list[SessionGaps], dict[tuple[str, str], list[date]]]:
    """Gaps of every stored session (minute and end-of-day) and the missing sessions per (kind, index)."""
    reports: list[SessionGaps] = []
    missing: dict[tuple[str, str], list[date]] = {}
    for kind_name, check in (("spot_minute", minute_gaps), ("chain_eod", eod_gaps)):
        names = [index.upper()] if index else store.indices(kind_name)
        for name in names:
            if name not in contracts.INDICES:
                continue
            for session in store.sessions(kind_name, name, start, end):
                reports.append(check(store, name, session))
            days = [
                d
                for d in missing_sessions(store, kind_name, name)
                if (start is None or d >= start) and (end is None or d <= end)
            ]
            if days:
                missing[(kind_name, name)] = days
    # Chains recorded without any spot bar: a minute session the feed cannot serve at all.
    for name in [index.upper()] if index else store.indices("chain_minute"):
        spot = set(store.sessions("spot_minute", name))
        for session in store.sessions("chain_minute", name, start, end):
            if session not in spot:
                reports.append(minute_gaps(store, name, session))
    reports.sort(key=lambda g: (g.index, g.session, g.kind))
    return reports, missing
