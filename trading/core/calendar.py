"""Trading calendar of NSE and BSE equity derivatives: trading days, sessions and coverage, in IST.

Data (``trading/core/data/``, described in its README):

* ``calendar_years.csv`` - the calendar years each exchange's holiday list covers, each ``FINAL``
  (the exchange's published list) or ``PROVISIONAL`` (its list is not out yet: only the fixed-date
  holidays are entered), with the source. A year absent from it is *not covered*.
* ``holidays.csv`` - one row per exchange and weekday on which no normal session runs, with the
  exchange circular that declared it.
* ``special_sessions.csv`` - sessions outside the normal calendar, with their hours and circular:
  weekend sessions (a Saturday or Sunday budget day, the 2024-01-20 Saturday), the Diwali Muhurat
  hour (on a listed holiday), disaster-recovery drill sessions. ``trading_day=yes`` marks a full
  session that counts as a trading day (expiries can move onto it, as the 2024-01-22 MIDCPNIFTY
  expiry moved to Saturday 2024-01-20); short sessions (Muhurat, drills) are sessions but not
  trading days.

A trading day is a weekday that is not a listed holiday, or a special ``trading_day`` session. In a
year that is not covered every weekday counts as a trading day - which is wrong as soon as a holiday
falls on one - so contract selection calls :func:`ensure_covered` first, and LIVE asks
:func:`live_must_refuse` about provisional years.

Every time is Indian Standard Time (``IST``, UTC+05:30, no daylight saving). Functions taking a
``datetime`` require it to be aware; a naive one raises ``ValueError`` rather than being guessed at.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from trading.core import memo

IST = ZoneInfo("Asia/Kolkata")
SESSION_OPEN = time(9, 15)
SESSION_CLOSE = time(15, 30)

DATA_DIR = Path(__file__).resolve().parent / "data"
HOLIDAYS_CSV = DATA_DIR / "holidays.csv"
CALENDAR_YEARS_CSV = DATA_DIR / "calendar_years.csv"
SPECIAL_SESSIONS_CSV = DATA_DIR / "special_sessions.csv"

EXCHANGES = ("NSE", "BSE")
FINAL = "FINAL"
PROVISIONAL = "PROVISIONAL"
UNCOVERED = "UNCOVERED"
YEAR_STATUSES = (FINAL, PROVISIONAL)

# Kinds of a day's sessions (``DaySessions.kind``).
NORMAL = "normal"
SPECIAL = "special"
CLOSED = "closed"

# Derivatives segments share their cash exchange's calendar.
_EXCHANGE_ALIASES = {"NSE": "NSE", "NFO": "NSE", "BSE": "BSE", "BFO": "BSE"}


class CalendarNotCovered(LookupError):
    """The holiday calendar has no list for the year of ``day`` on ``exchange``.

    Raised by :func:`ensure_covered`; the message names the data files to update.
    """

    def __init__(self, day: date, exchange: str, message: str) -> None:
        super().__init__(message)
        self.day = day
        self.exchange = exchange
        self.year = day.year


class CalendarProvisional(CalendarNotCovered):
    """The year is covered only provisionally (fixed-date holidays) and the caller cannot accept that:
    LIVE without expiries from the broker's instrument master."""


@dataclass(frozen=True)
class SpecialSession:
    """One window of a special session: ``start``/``end`` are aware IST datetimes, ``end`` excluded."""

    day: date
    exchange: str
    start: datetime
    end: datetime
    kind: str
    trading_day: bool
    description: str
    source: str


@dataclass(frozen=True)
class DaySessions:
    """The sessions of one exchange day.

    ``kind`` is ``normal`` (the 09:15-15:30 session), ``special`` (only the listed special windows) or
    ``closed``. ``windows`` are (start, end) aware IST datetimes, end excluded, ascending.
    ``year_status`` is FINAL, PROVISIONAL or UNCOVERED (then ``normal`` only means "a weekday").
    """

    day: date
    exchange: str
    kind: str
    windows: tuple[tuple[datetime, datetime], ...]
    description: str
    source: str
    year_status: str

    @property
    def is_open(self) -> bool:
        return bool(self.windows)


def _exchange(exchange: str) -> str:
    try:
        return _EXCHANGE_ALIASES[exchange.upper()]
    except (KeyError, AttributeError):
        raise ValueError(f"unknown exchange {exchange!r}: expected one of NSE, BSE, NFO, BFO") from None


def _rows(path: Path):
    with path.open(newline="", encoding="utf-8") as fh:
        yield from enumerate(csv.DictReader(fh), start=2)


def _hhmm(text: str) -> time:
    return time.fromisoformat(text.strip())


@lru_cache(maxsize=1)
def _years() -> dict[str, dict[int, tuple[str, str]]]:
    out: dict[str, dict[int, tuple[str, str]]] = {ex: {} for ex in EXCHANGES}
    for line_no, row in _rows(CALENDAR_YEARS_CSV):
        try:
            exchange = _exchange(row["exchange"].strip())
            year = int(row["year"])
            status = row["status"].strip().upper()
            source = row["source"].strip()
            if status not in YEAR_STATUSES:
                raise ValueError(f"status must be one of {YEAR_STATUSES}")
            if not source:
                raise ValueError("source is empty")
            if year in out[exchange]:
                raise ValueError(f"{exchange} {year} is listed twice")
        except (KeyError, ValueError, AttributeError, TypeError) as exc:
            raise ValueError(f"{CALENDAR_YEARS_CSV}:{line_no}: bad row {row!r}: {exc}") from exc
        out[exchange][year] = (status, source)
    return out


@lru_cache(maxsize=1)
def _load() -> dict[str, dict[date, tuple[str, str]]]:
    years = _years()
    rows: dict[str, dict[date, tuple[str, str]]] = {ex: {} for ex in EXCHANGES}
    for line_no, row in _rows(HOLIDAYS_CSV):
        try:
            d = date.fromisoformat(row["date"].strip())
            exchange = _exchange(row["exchange"].strip())
            description = row["description"].strip()
            source = (row.get("source") or "").strip()
            if d.weekday() >= 5:
                raise ValueError("weekends are closed anyway and are not listed")
            if not description or not source:
                raise ValueError("description and source are required")
            if d.year not in years[exchange]:
                raise ValueError(f"{exchange} {d.year} is not declared in {CALENDAR_YEARS_CSV.name}")
        except (KeyError, ValueError, AttributeError) as exc:
            raise ValueError(f"{HOLIDAYS_CSV}:{line_no}: bad holiday row {row!r}: {exc}") from exc
        rows[exchange][d] = (description, source)
    return rows


@lru_cache(maxsize=1)
def _special() -> dict[str, dict[date, tuple[SpecialSession, ...]]]:
    found: dict[str, dict[date, list[SpecialSession]]] = {ex: {} for ex in EXCHANGES}
    for line_no, row in _rows(SPECIAL_SESSIONS_CSV):
        try:
            d = date.fromisoformat(row["date"].strip())
            exchange = _exchange(row["exchange"].strip())
            start = datetime.combine(d, _hhmm(row["start"]), tzinfo=IST)
            end = datetime.combine(d, _hhmm(row["end"]), tzinfo=IST)
            trading_day = row["trading_day"].strip().lower()
            if trading_day not in ("yes", "no"):
                raise ValueError("trading_day must be yes or no")
            if not start < end:
                raise ValueError("start must be before end")
            session = SpecialSession(
                day=d,
                exchange=exchange,
                start=start,
                end=end,
                kind=row["kind"].strip().upper(),
                trading_day=trading_day == "yes",
                description=row["description"].strip(),
                source=row["source"].strip(),
            )
            if not session.kind or not session.description or not session.source:
                raise ValueError("kind, description and source are required")
        except (KeyError, ValueError, AttributeError) as exc:
            raise ValueError(f"{SPECIAL_SESSIONS_CSV}:{line_no}: bad session row {row!r}: {exc}") from exc
        found[exchange].setdefault(d, []).append(session)
    return {
        ex: {d: tuple(sorted(s, key=lambda x: x.start)) for d, s in days.items()}
        for ex, days in found.items()
    }


# --- coverage ----------------------------------------------------------------------------------------


def covered_years(exchange: str = "NSE") -> frozenset[int]:
    """Years whose holiday list of ``exchange`` is present (FINAL or PROVISIONAL)."""
    return frozenset(_years()[_exchange(exchange)])


def year_status(year: int, exchange: str = "NSE") -> str:
    """``FINAL``, ``PROVISIONAL`` or ``UNCOVERED`` for ``year`` on ``exchange``."""
    entry = _years()[_exchange(exchange)].get(year)
    return entry[0] if entry else UNCOVERED


def year_source(year: int, exchange: str = "NSE") -> str:
    """Where the ``year`` list of ``exchange`` comes from ('' when not covered)."""
    entry = _years()[_exchange(exchange)].get(year)
    return entry[1] if entry else ""


def is_covered(d: date, exchange: str = "NSE") -> bool:
    """True when the holiday list of ``d``'s year is present (final or provisional)."""
    return year_status(d.year, exchange) != UNCOVERED


def is_provisional(d: date, exchange: str = "NSE") -> bool:
    """True when ``d``'s year is covered only provisionally (fixed-date holidays, list not published)."""
    return year_status(d.year, exchange) == PROVISIONAL


def live_must_refuse(d: date, exchange: str = "NSE", *, expiries_from_broker: bool) -> bool:
    """Whether LIVE must refuse to trade a contract expiring on ``d``.

    Always for a year that is not covered (days to expiry, square-off and settlement read the
    calendar); for a provisional year unless the expiries come from the broker's instrument master
    (``expiries_from_broker``). PAPER and backtests accept provisional years.
    """
    status = year_status(d.year, exchange)
    return status == UNCOVERED or (status == PROVISIONAL and not expiries_from_broker)


def ensure_covered(
    d: date, exchange: str = "NSE", *, live: bool = False, expiries_from_broker: bool = False
) -> str:
    """Refuse a contract whose expiry ``d`` falls in a year the calendar does not cover.

    Returns the year's status (``FINAL`` or ``PROVISIONAL``). Raises :class:`CalendarNotCovered`
    when the year is missing, and - with ``live=True`` - :class:`CalendarProvisional` for a
    provisional year unless ``expiries_from_broker``. The message names the files to update.
    """
    ex = _exchange(exchange)
    status = year_status(d.year, ex)
    files = f"{CALENDAR_YEARS_CSV} and {HOLIDAYS_CSV}"
    if status == UNCOVERED:
        raise CalendarNotCovered(
            d,
            ex,
            f"the {ex} trading calendar does not cover {d.year} (expiry {d.isoformat()}): add the "
            f"{ex} {d.year} holiday list, with its circular, to {files} "
            f"(see trading/core/data/README.md)",
        )
    if status == PROVISIONAL and live and not expiries_from_broker:
        raise CalendarProvisional(
            d,
            ex,
            f"the {ex} trading calendar for {d.year} is PROVISIONAL (expiry {d.isoformat()}): LIVE "
            f"needs the expiries from the broker's instrument master, or the published {ex} "
            f"{d.year} holiday list in {files}",
        )
    return status


# --- days --------------------------------------------------------------------------------------------


def holidays(exchange: str = "NSE") -> frozenset[date]:
    """Listed trading holidays (weekdays only; weekends are never listed) of ``exchange``."""
    return frozenset(_load()[_exchange(exchange)])


def holiday_years(exchange: str = "NSE") -> frozenset[int]:
    """Calendar years with at least one holiday row of ``exchange`` (see :func:`covered_years`)."""
    return frozenset(d.year for d in holidays(exchange))


def special_sessions(exchange: str = "NSE") -> tuple[SpecialSession, ...]:
    """Every listed special-session window of ``exchange``, by date."""
    days = _special()[_exchange(exchange)]
    return tuple(s for d in sorted(days) for s in days[d])


def is_trading_day(d: date, exchange: str = "NSE") -> bool:
    """True when ``d`` is a weekday and not a listed holiday of ``exchange``, or a full special session
    (``trading_day=yes`` in special_sessions.csv, e.g. a weekend budget day)."""
    ex = _exchange(exchange)
    if d.weekday() < 5 and d not in _load()[ex]:
        return True
    return any(s.trading_day for s in _special()[ex].get(d, ()))


def session_hours(d: date, exchange: str = "NSE") -> DaySessions:
    """The sessions of ``d``: the normal 09:15-15:30 session, the listed special windows, or closed.

    On a holiday or a weekend the special windows are the day's only sessions (a Muhurat hour, a
    weekend budget session); on a normal weekday they add to the normal session.
    """
    ex = _exchange(exchange)
    status = year_status(d.year, ex)
    specials = _special()[ex].get(d, ())
    holiday = _load()[ex].get(d)
    normal = (session_open(d), session_close(d))
    if specials:
        windows = {(s.start, s.end) for s in specials}
        if d.weekday() < 5 and holiday is None:
            windows.add(normal)  # a special window on a normal weekday adds to its session
        return DaySessions(
            day=d,
            exchange=ex,
            kind=SPECIAL,
            windows=tuple(sorted(windows)),
            description="; ".join(dict.fromkeys(s.description for s in specials)),
            source="; ".join(dict.fromkeys(s.source for s in specials)),
            year_status=status,
        )
    if holiday is not None:
        return DaySessions(d, ex, CLOSED, (), holiday[0], holiday[1], status)
    if d.weekday() >= 5:
        return DaySessions(d, ex, CLOSED, (), "weekend", "", status)
    return DaySessions(d, ex, NORMAL, (normal,), "normal session", "", status)


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


def trading_days_from(first: date, count: int, exchange: str = "NSE") -> list[date]:
    """``count`` trading days starting with ``first`` (itself a trading day), ascending."""
    out = [first]
    while len(out) < count:
        out.append(next_trading_day(out[-1], exchange))
    return out[:count]


def session_open(d: date) -> datetime:
    """09:15 IST on ``d`` as an aware datetime (whether or not ``d`` is a trading day).

    The normal session's open; a special session's hours come from :func:`session_hours`.
    """
    return datetime.combine(d, SESSION_OPEN, tzinfo=IST)


@lru_cache(maxsize=1024)  # a constant time on a date (the engine asks for each position on each bar)
def session_close(d: date) -> datetime:
    """15:30 IST on ``d`` as an aware datetime; also the moment an option expiring on ``d`` expires."""
    return datetime.combine(d, SESSION_CLOSE, tzinfo=IST)


@lru_cache(maxsize=1024)
def session_close_utc(d: date) -> datetime:
    """``session_close(d)`` in UTC: the same instant, compared with a UTC clock time (the engine's)
    without converting either to a common offset (0.09 us against 0.70 us against IST)."""
    return session_close(d).astimezone(UTC)


def ist_date(dt: datetime) -> date:
    """The IST calendar date of the aware datetime ``dt`` (e.g. 2025-01-01 20:00 UTC -> 2025-01-02).

    Remembered: the very object asked last, and each instant of the session (``_IST_DATES``, a
    bounded session memo - a cycle asks of its clock, each position's entry and each trade's exit
    in turn, ~28,000 asks a year for ~10,000 instants). Equal instants in any zone share an IST date;
    a naive datetime equals no aware key, so it is never found and is refused."""
    global _LAST_IST_DATE
    last = _LAST_IST_DATE
    if last[0] is dt:  # the very object asked last (a cycle asks of its clock time again and again)
        return last[1]
    d = _IST_DATES.get(dt)
    if d is None:
        if dt.tzinfo is None or dt.utcoffset() is None:
            raise ValueError(f"naive datetime {dt!r}: pass an aware datetime (UTC or IST)")
        d = dt.astimezone(IST).date()
        if len(_IST_DATES) >= 4096:
            _IST_DATES.clear()
        _IST_DATES[dt] = d
    _LAST_IST_DATE = (dt, d)
    return d


_LAST_IST_DATE: tuple = (None, None)  # (datetime, its IST date): replaced whole, so threads see a pair
_IST_DATES: dict[datetime, date] = memo.session_memo()


def is_in_session(dt: datetime, exchange: str = "NSE") -> bool:
    """True when ``dt`` (aware) falls in a session of ``exchange``: the normal 09:15 <= t < 15:30 IST
    of a trading day, or a listed special window (Muhurat hour, weekend session, drill).

    The close is excluded: at 15:30:00 the continuous session is over.
    """
    d = ist_date(dt)
    return any(start <= dt < end for start, end in session_hours(d, exchange).windows)
