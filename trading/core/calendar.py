"""Trading calendar of NSE and BSE equity derivatives: trading days and the IST session.

A trading day is a weekday that is not a listed exchange holiday. Holidays come from
``trading/core/data/holidays.csv`` (see ``trading/core/data/README.md``), one row per exchange and
date, covering the calendar years in ``holiday_years()``; outside those years every weekday counts as
a trading day, so a startup check should assert that the current year is covered.

Not modelled: special sessions on a weekend (e.g. the Saturday sessions of 2024-01-20 and the DR
drill of 2024-03-02) and the one-hour Muhurat session on Diwali, which is listed as a holiday
because no normal session runs that day.

Every time is Indian Standard Time (``IST``, UTC+05:30, no daylight saving). Functions taking a
``datetime`` require it to be aware; a naive one raises ``ValueError`` rather than being guessed at.
"""

from __future__ import annotations

import csv
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

IST = ZoneInfo("Asia/Kolkata")
SESSION_OPEN = time(9, 15)
SESSION_CLOSE = time(15, 30)

HOLIDAYS_CSV = Path(__file__).resolve().parent / "data" / "holidays.csv"

# Derivatives segments share their cash exchange's calendar.
_EXCHANGE_ALIASES = {"NSE": "NSE", "NFO": "NSE", "BSE": "BSE", "BFO": "BSE"}


def _exchange(exchange: str) -> str:
    try:
        return _EXCHANGE_ALIASES[exchange.upper()]
    except (KeyError, AttributeError):
        raise ValueError(f"unknown exchange {exchange!r}: expected one of NSE, BSE, NFO, BFO") from None


@lru_cache(maxsize=1)
def _load() -> dict[str, frozenset[date]]:
    rows: dict[str, set[date]] = {"NSE": set(), "BSE": set()}
    with HOLIDAYS_CSV.open(newline="", encoding="utf-8") as fh:
        for line_no, row in enumerate(csv.DictReader(fh), start=2):
            try:
                d = date.fromisoformat(row["date"].strip())
                exchange = _exchange(row["exchange"].strip())
            except (KeyError, ValueError, AttributeError) as exc:
                raise ValueError(f"{HOLIDAYS_CSV}:{line_no}: bad holiday row {row!r}: {exc}") from exc
            rows[exchange].add(d)
    return {k: frozenset(v) for k, v in rows.items()}


def holidays(exchange: str = "NSE") -> frozenset[date]:
    """Listed trading holidays (weekdays only; weekends are never listed) of ``exchange``."""
    return _load()[_exchange(exchange)]


def holiday_years(exchange: str = "NSE") -> frozenset[int]:
    """Calendar years for which the holiday list of ``exchange`` is present in the CSV."""
    return frozenset(d.year for d in holidays(exchange))


def is_trading_day(d: date, exchange: str = "NSE") -> bool:
    """True when ``d`` is a weekday and not a listed holiday of ``exchange``."""
    return d.weekday() < 5 and d not in holidays(exchange)


def next_trading_day(d: date, exchange: str = "NSE") -> date:
    """The first trading day strictly after ``d``."""
    d += timedelta(days=1)
    while not is_trading_day(d, exchange):
        d += timedelta(days=1)
    return d


def previous_trading_day(d: date, exchange: str = "NSE") -> date:
    """The last trading day strictly before ``d``."""
    d -= timedelta(days=1)
    while not is_trading_day(d, exchange):
        d -= timedelta(days=1)
    return d


def trading_days(start: date, end: date, exchange: str = "NSE") -> list[date]:
    """Trading days from ``start`` to ``end``, both inclusive, ascending (empty if end < start)."""
    out: list[date] = []
    d = start
    while d <= end:
        if is_trading_day(d, exchange):
            out.append(d)
        d += timedelta(days=1)
    return out


def session_open(d: date) -> datetime:
    """09:15 IST on ``d`` as an aware datetime (whether or not ``d`` is a trading day)."""
    return datetime.combine(d, SESSION_OPEN, tzinfo=IST)


def session_close(d: date) -> datetime:
    """15:30 IST on ``d`` as an aware datetime; also the moment an option expiring on ``d`` expires."""
    return datetime.combine(d, SESSION_CLOSE, tzinfo=IST)


def ist_date(dt: datetime) -> date:
    """The IST calendar date of the aware datetime ``dt`` (e.g. 2025-01-01 20:00 UTC -> 2025-01-02)."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"naive datetime {dt!r}: pass an aware datetime (UTC or IST)")
    return dt.astimezone(IST).date()


def is_in_session(dt: datetime, exchange: str = "NSE") -> bool:
    """True when ``dt`` (aware) falls in the regular session of a trading day: 09:15 <= t < 15:30 IST.

    The close is excluded: at 15:30:00 the continuous session is over.
    """
    d = ist_date(dt)
    return is_trading_day(d, exchange) and session_open(d) <= dt < session_close(d)
