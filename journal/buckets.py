"""Bucket definitions of the breakdowns (pure, no Django): which bucket a trade falls in, by what rule.

Each breakdown over a number is a ``Dimension``: an ordered tuple of ``Bucket`` (a stable ``key`` for
URLs and JSON, a ``label`` for people, and the interval ``low``..``high`` with its closed ends), plus the
missing bucket ``na`` for a trade without the value. ``Dimension.of(value)`` classifies one value in
Python; ``Dimension.sql_case(expr)`` writes the same rule as a SQL ``CASE`` expression for a GROUP BY in
the database (numbers only, no user input: the expression is the caller's).

What each breakdown reads (docs/analytics.md, "Breakdowns"):

==================  ============================================================================
``entry_time``      minutes after midnight IST of the entry (``ist_minutes``): 15-minute buckets
                    from 09:15 to 15:30, keys ``0915`` .. ``1515``, plus ``pre`` and ``post``.
``weekday``         weekday of the entry's IST date, Monday = 0 .. Sunday = 6 (Python's
                    ``date.weekday()``; PostgreSQL: ``EXTRACT(ISODOW) - 1``), keys ``mon`` ...
``days_to_expiry``  calendar days from the entry's IST date to the expiry date: 0, 1, 2, 3-5, 6+.
``expiry_day``      1 when the entry's IST date is the expiry date, else 0.
``vix_regime``      India VIX at entry (percent): low < ``vix_low`` <= normal <= ``vix_high`` < high,
                    the strategies' regimes (``trading.core.strategies.base.regime_codes``).
``pcr``             put-call ratio (OI) at entry: low < 0.7 <= normal <= 1.3 < high (DOMAIN.md's
                    "0.7-1.3 normal" reading; bounds configurable).
``iv_percentile``   IV percentile at entry (0-100, ``trading.core.chain.iv_percentile``): 20-wide bands.
``max_pain_distance`` (spot - max pain) / spot x 100 at entry, percent, signed (+ = spot above).
``month``           the trade's month (IST date of the exit), key ``YYYY-MM`` (``month_key``).
==================  ============================================================================
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime

from trading.core import calendar as market_calendar
from trading.core.strategies.base import REGIMES, BaseParams

__all__ = [
    "MISSING",
    "Bucket",
    "Dimension",
    "DEFAULT_VIX_BOUNDS",
    "DEFAULT_PCR_BOUNDS",
    "DEFAULT_IV_PERCENTILE_EDGES",
    "DEFAULT_MAX_PAIN_EDGES",
    "ENTRY_TIME_STEP_MINUTES",
    "ist_minutes",
    "days_to_expiry",
    "is_expiry_day",
    "max_pain_distance_pct",
    "entry_time",
    "weekday",
    "dte",
    "expiry_day",
    "vix_regime",
    "pcr",
    "iv_percentile",
    "max_pain_distance",
    "dimensions",
    "month_key",
    "month_label",
]

# The strategies' defaults (BaseParams.vix_low / vix_high), so a breakdown and a strategy agree on "high".
DEFAULT_VIX_BOUNDS: tuple[float, float] = (BaseParams.vix_low, BaseParams.vix_high)
# DOMAIN.md "PCR": an Indian reading of 0.7-1.3 as normal.
DEFAULT_PCR_BOUNDS: tuple[float, float] = (0.7, 1.3)
DEFAULT_IV_PERCENTILE_EDGES: tuple[float, ...] = (20.0, 40.0, 60.0, 80.0)
DEFAULT_MAX_PAIN_EDGES: tuple[float, ...] = (-1.0, -0.5, -0.2, 0.2, 0.5, 1.0)
ENTRY_TIME_STEP_MINUTES = 15


@dataclass(frozen=True)
class Bucket:
    """One bucket: values ``v`` with ``low <= v`` (``low < v`` when not ``low_closed``) and ``v < high``
    (``v <= high`` when ``high_closed``); ``None`` is an open end."""

    key: str
    label: str
    low: float | None = None
    high: float | None = None
    low_closed: bool = True
    high_closed: bool = False

    def contains(self, value: float) -> bool:
        if self.low is not None and not (value >= self.low if self.low_closed else value > self.low):
            return False
        if self.high is not None and not (value <= self.high if self.high_closed else value < self.high):
            return False
        return True

    def sql_condition(self, expr: str) -> str:
        parts = []
        if self.low is not None:
            parts.append(f"{expr} {'>=' if self.low_closed else '>'} {self.low!r}")
        if self.high is not None:
            parts.append(f"{expr} {'<=' if self.high_closed else '<'} {self.high!r}")
        return " AND ".join(parts) or "1 = 1"


MISSING = Bucket("na", "Not recorded")


@dataclass(frozen=True)
class Dimension:
    """A breakdown over one number: name, label, unit of the value, and its buckets in display order."""

    name: str
    label: str
    unit: str
    buckets: tuple[Bucket, ...]

    def __post_init__(self) -> None:
        keys = [b.key for b in self.buckets]
        if len(set(keys)) != len(keys) or MISSING.key in keys:
            raise ValueError(f"{self.name}: bucket keys must be unique and not {MISSING.key!r}: {keys}")

    def of(self, value: float | None) -> Bucket:
        """The bucket of ``value``; ``MISSING`` for None, NaN or a value no bucket holds."""
        if value is None:
            return MISSING
        v = float(value)
        if math.isnan(v):
            return MISSING
        for b in self.buckets:
            if b.contains(v):
                return b
        return MISSING

    def key(self, value: float | None) -> str:
        return self.of(value).key

    def label_of(self, key: str) -> str:
        """The label of a bucket key (``MISSING``'s for ``na``); ``KeyError`` for an unknown key."""
        for b in (*self.buckets, MISSING):
            if b.key == key:
                return b.label
        raise KeyError(f"{self.name}: no bucket {key!r}")

    def keys(self) -> tuple[str, ...]:
        """Bucket keys in display order, ``na`` last."""
        return (*(b.key for b in self.buckets), MISSING.key)

    def sql_case(self, expr: str) -> str:
        """``CASE WHEN <expr> ... THEN '<key>' ... ELSE 'na' END``: the same rule as ``of`` in SQL."""
        whens = " ".join(f"WHEN {b.sql_condition(expr)} THEN '{b.key}'" for b in self.buckets)
        return f"CASE WHEN {expr} IS NULL THEN '{MISSING.key}' {whens} ELSE '{MISSING.key}' END"


# --- values read from a trade ------------------------------------------------------------------------------


def ist_minutes(at: datetime) -> float:
    """Minutes after midnight IST of the aware datetime ``at`` (09:20:30 IST -> 560.5)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"naive datetime {at!r}: pass an aware datetime")
    t = at.astimezone(market_calendar.IST)
    return t.hour * 60 + t.minute + (t.second + t.microsecond / 1e6) / 60.0


def days_to_expiry(entry_time: datetime, expiry: date) -> int:
    """Calendar days from the entry's IST date to the expiry date (0 on expiry day)."""
    return (expiry - market_calendar.ist_date(entry_time)).days


def is_expiry_day(entry_time: datetime, expiry: date) -> int:
    """1 when the trade was entered on its contract's expiry day (IST), else 0."""
    return int(market_calendar.ist_date(entry_time) == expiry)


def max_pain_distance_pct(spot: float | None, max_pain: float | None) -> float | None:
    """(spot - max pain) / spot x 100, percent, signed; None when either is missing or spot <= 0."""
    if spot is None or max_pain is None or not float(spot) > 0:
        return None
    return (float(spot) - float(max_pain)) / float(spot) * 100.0


def month_key(trade_date: date) -> str:
    """The month bucket of a trade (by the IST date of its exit): ``YYYY-MM``."""
    return f"{trade_date.year:04d}-{trade_date.month:02d}"


def month_label(key: str) -> str:
    """``2025-01`` -> ``Jan 2025``."""
    year, month = key.split("-")
    return date(int(year), int(month), 1).strftime("%b %Y")


# --- the dimensions ----------------------------------------------------------------------------------------


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def entry_time(step: int = ENTRY_TIME_STEP_MINUTES) -> Dimension:
    """Entry time in IST, ``step``-minute buckets over the session 09:15-15:30 (value: ``ist_minutes``)."""
    open_ = market_calendar.SESSION_OPEN.hour * 60 + market_calendar.SESSION_OPEN.minute
    close = market_calendar.SESSION_CLOSE.hour * 60 + market_calendar.SESSION_CLOSE.minute
    if step <= 0 or (close - open_) % step:
        raise ValueError(f"entry-time step {step} must divide the {close - open_}-minute session")
    buckets = [Bucket("pre", f"Before {_hhmm(open_)}", None, float(open_))]
    for lo in range(open_, close, step):
        hi = lo + step
        buckets.append(Bucket(_hhmm(lo).replace(":", ""), f"{_hhmm(lo)}-{_hhmm(hi)}", float(lo), float(hi)))
    buckets.append(Bucket("post", f"From {_hhmm(close)}", float(close), None))
    return Dimension("entry_time", "Entry time (IST)", "minutes after midnight IST", tuple(buckets))


_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def weekday() -> Dimension:
    """Weekday of the entry (IST), Monday = 0 .. Sunday = 6."""
    buckets = tuple(
        Bucket(key, date(2024, 1, 1 + i).strftime("%A"), float(i), float(i + 1))  # 2024-01-01 is a Monday
        for i, key in enumerate(_WEEKDAYS)
    )
    return Dimension("weekday", "Weekday", "Monday = 0 .. Sunday = 6", buckets)


def dte() -> Dimension:
    """Calendar days to expiry at entry: 0 (expiry day), 1, 2, 3-5, 6 or more."""
    buckets = (
        Bucket("0", "0 (expiry day)", 0.0, 1.0),
        Bucket("1", "1 day", 1.0, 2.0),
        Bucket("2", "2 days", 2.0, 3.0),
        Bucket("3-5", "3-5 days", 3.0, 6.0),
        Bucket("6+", "6 days or more", 6.0, None),
    )
    return Dimension("days_to_expiry", "Days to expiry", "calendar days", buckets)


def expiry_day() -> Dimension:
    """Entered on the contract's expiry day (1) or not (0)."""
    buckets = (Bucket("expiry", "Expiry day", 0.5, None), Bucket("other", "Other days", None, 0.5))
    return Dimension("expiry_day", "Expiry day", "1 = expiry day, 0 = not", buckets)


def _bands(name: str, label: str, unit: str, bounds: tuple[float, float], fmt: str) -> Dimension:
    low, high = (float(b) for b in bounds)
    if not low < high:
        raise ValueError(f"{name} bounds {bounds}: the first must be below the second")
    keys = REGIMES  # low, normal, high
    buckets = (
        Bucket(keys[0], f"Low (< {low:{fmt}})", None, low),
        Bucket(keys[1], f"Normal ({low:{fmt}}-{high:{fmt}})", low, high, True, True),
        Bucket(keys[2], f"High (> {high:{fmt}})", high, None, False),
    )
    return Dimension(name, label, unit, buckets)


def vix_regime(bounds: tuple[float, float] = DEFAULT_VIX_BOUNDS) -> Dimension:
    """India VIX at entry: low < ``bounds[0]`` <= normal <= ``bounds[1]`` < high (the strategies' rule)."""
    return _bands("vix_regime", "VIX regime", "India VIX, percent", bounds, "g")


def pcr(bounds: tuple[float, float] = DEFAULT_PCR_BOUNDS) -> Dimension:
    """Put-call ratio (open interest) at entry: low < ``bounds[0]`` <= normal <= ``bounds[1]`` < high."""
    return _bands("pcr", "PCR (OI)", "put OI / call OI", bounds, "g")


def _num_key(x: float) -> str:
    return f"{x:g}".replace("-", "m")


def _intervals(name: str, label: str, unit: str, edges: tuple[float, ...], suffix: str) -> Dimension:
    e = [float(x) for x in edges]
    if not e or any(b <= a for a, b in zip(e, e[1:])):
        raise ValueError(f"{name} edges {edges} must be increasing")
    buckets = [Bucket(f"lt{_num_key(e[0])}", f"< {e[0]:g}{suffix}", None, e[0])]
    buckets += [
        Bucket(f"{_num_key(a)}_{_num_key(b)}", f"{a:g} to {b:g}{suffix}", a, b) for a, b in zip(e, e[1:])
    ]
    buckets.append(Bucket(f"ge{_num_key(e[-1])}", f">= {e[-1]:g}{suffix}", e[-1], None))
    return Dimension(name, label, unit, tuple(buckets))


def iv_percentile(edges: tuple[float, ...] = DEFAULT_IV_PERCENTILE_EDGES) -> Dimension:
    """IV percentile at entry (0-100): half-open bands ``[a, b)`` between ``edges``, open at both ends."""
    return _intervals("iv_percentile", "IV percentile", "percentile, 0-100", edges, "")


def max_pain_distance(edges: tuple[float, ...] = DEFAULT_MAX_PAIN_EDGES) -> Dimension:
    """Signed distance of spot from max pain at entry, percent of spot (``max_pain_distance_pct``)."""
    return _intervals("max_pain_distance", "Spot vs max pain", "percent of spot, + = above", edges, "%")


def dimensions(
    *,
    vix_bounds: tuple[float, float] = DEFAULT_VIX_BOUNDS,
    pcr_bounds: tuple[float, float] = DEFAULT_PCR_BOUNDS,
    iv_percentile_edges: tuple[float, ...] = DEFAULT_IV_PERCENTILE_EDGES,
    max_pain_edges: tuple[float, ...] = DEFAULT_MAX_PAIN_EDGES,
    entry_step: int = ENTRY_TIME_STEP_MINUTES,
) -> dict[str, Dimension]:
    """Every bucketed breakdown by name, from the configured bounds (``month`` is by ``month_key``)."""
    dims = (
        entry_time(entry_step),
        weekday(),
        dte(),
        expiry_day(),
        vix_regime(vix_bounds),
        pcr(pcr_bounds),
        iv_percentile(iv_percentile_edges),
        max_pain_distance(max_pain_edges),
    )
    return {d.name: d for d in dims}
