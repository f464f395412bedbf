"""Index option and future contracts: specs, lot sizes, expiries, Zerodha symbols (DOMAIN.md section 2).

Every number that the exchanges revise (lot size, strike step, freeze quantity, expiry weekday, the
RBI repo rate) is a table of ``(effective from, value)`` rows below; logic only looks values up. To
record a revision, append a row: nothing else changes. The broker's instrument master is the truth for
live contracts; these tables are the fallback and the history for backtests and the journal.

Expiries
    Weekly expiries fall on the weekday in force for the expiry date (``WEEKLY_EXPIRY_WEEKDAY``,
    keyed by the nominal expiry date); the monthly expiry is the last such weekday of the month in
    force for that contract month (``MONTHLY_EXPIRY_WEEKDAY``, keyed by the first of the month). An
    expiry that falls on an exchange holiday moves to the previous trading day (NSE calendar for NSE
    indices, BSE for SENSEX). Quarterly and half-yearly contracts are not modelled.

    Contracts listed on a day (``expiries``): the next ``WEEKLIES_LISTED`` weekly expiries that are not
    monthly ones plus the next ``MONTHLIES_LISTED`` monthly expiries. NSE's NIFTY specification lists
    four weeklies besides the three serial months; the same rule is used for SENSEX. An expiry is
    alive through its expiry day (it expires at 15:30 IST), so ``expiries(index, d)`` includes ``d``.

Schedule history (sources: NSE/BSE circulars as reported by brokers; earlier history not modelled):
    * NIFTY weekly Thursday, monthly last Thursday; both Tuesday for expiries from 2025-09-01 (last
      Thursday expiry 2025-08-28, first Tuesday 2025-09-02).
    * BANKNIFTY weekly Wednesday until the 2024-11-13 expiry, none from 2024-11-20; monthly last
      Thursday, last Wednesday from the Mar-2024 series, last Thursday from Jan-2025, last Tuesday
      from Sep-2025.
    * FINNIFTY weekly Tuesday, MIDCPNIFTY weekly Monday, both until 2024-11-19 / 2024-11-18 (none from
      2024-11-20); monthly last Tuesday / last Monday until Dec-2024, last Thursday Jan- to Aug-2025,
      last Tuesday from Sep-2025. (DOMAIN.md only says "last Thursday before 2025-09": the 2024
      weekdays are from the NSE contract specifications of 2024; the Dec-2024 monthlies expired on
      2024-12-24 (BANKNIFTY, 25th a holiday), 12-31 (FINNIFTY) and 12-30 (MIDCPNIFTY).)
    * SENSEX weekly and monthly Friday; Tuesday from 2025-01 (the 2025-01-03 weekly kept its Friday,
      the first Tuesday weekly was 2025-01-07; the Jan-2025 monthly was 2025-01-28); Thursday for
      expiries from 2025-09-01 (first 2025-09-04).

Coverage: an expiry in a year the holiday calendar does not cover is refused before a contract is
selected (``ensure_calendar_covers``); the monthly form of a symbol is decided from the nominal
monthly weekday, so an expiry from the instrument master keeps it even in a provisional year.

Index futures (``future_expiries``, ``future_lot_size``, ``future_tradingsymbol``): monthly only,
expiring with the monthly options, with the lot of the options' monthly series.

Lot sizes follow the contract, not the trade date: an exchange revision applies to contracts
introduced after it, so for a while old and new lots trade side by side. Each revision therefore
records the first weekly expiry and the first monthly series with the new lot (as the exchange
circulars state them); ``lot_size(index, expiry)`` picks by whether the expiry is a monthly one.
Quarterly/half-yearly contracts re-lotted mid-life are not modelled (they get the lot of their
expiry's series).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import NamedTuple, TypeVar

from trading.core import calendar

MON, TUE, WED, THU, FRI = range(5)

CALL = "CE"
PUT = "PE"
OPTION_TYPES = (CALL, PUT)

WEEKLIES_LISTED = 4
MONTHLIES_LISTED = 3

_ALWAYS = date.min  # "since before the history we record"


@dataclass(frozen=True)
class IndexSpec:
    """Static description of an index whose options we trade.

    ``exchange`` is the cash exchange whose holiday calendar applies, ``fo_exchange`` the broker's
    derivatives segment, ``tick_size`` the option price tick in rupees, ``spot_symbol`` the broker
    quote key of the index itself.
    """

    name: str
    exchange: str
    fo_exchange: str
    tick_size: float = 0.05
    spot_symbol: str = ""


INDICES: dict[str, IndexSpec] = {
    "NIFTY": IndexSpec("NIFTY", "NSE", "NFO", 0.05, "NSE:NIFTY 50"),
    "BANKNIFTY": IndexSpec("BANKNIFTY", "NSE", "NFO", 0.05, "NSE:NIFTY BANK"),
    "FINNIFTY": IndexSpec("FINNIFTY", "NSE", "NFO", 0.05, "NSE:NIFTY FIN SERVICE"),
    "MIDCPNIFTY": IndexSpec("MIDCPNIFTY", "NSE", "NFO", 0.05, "NSE:NIFTY MID SELECT"),
    "SENSEX": IndexSpec("SENSEX", "BSE", "BFO", 0.05, "BSE:SENSEX"),
}

T = TypeVar("T")
Dated = tuple[tuple[date, T], ...]

# Weekday (Mon = 0) of weekly expiries, by nominal expiry date; None = no weekly contracts.
WEEKLY_EXPIRY_WEEKDAY: dict[str, Dated[int | None]] = {
    "NIFTY": ((_ALWAYS, THU), (date(2025, 9, 1), TUE)),
    "BANKNIFTY": ((_ALWAYS, WED), (date(2024, 11, 20), None)),
    "FINNIFTY": ((_ALWAYS, TUE), (date(2024, 11, 20), None)),
    "MIDCPNIFTY": ((_ALWAYS, MON), (date(2024, 11, 20), None)),
    "SENSEX": ((_ALWAYS, FRI), (date(2025, 1, 4), TUE), (date(2025, 9, 1), THU)),
}

# Weekday of the monthly expiry (the last such weekday of the month), by contract month (1st).
MONTHLY_EXPIRY_WEEKDAY: dict[str, Dated[int]] = {
    "NIFTY": ((_ALWAYS, THU), (date(2025, 9, 1), TUE)),
    "BANKNIFTY": ((_ALWAYS, THU), (date(2024, 3, 1), WED), (date(2025, 1, 1), THU), (date(2025, 9, 1), TUE)),
    "FINNIFTY": ((_ALWAYS, TUE), (date(2025, 1, 1), THU), (date(2025, 9, 1), TUE)),
    "MIDCPNIFTY": ((_ALWAYS, MON), (date(2025, 1, 1), THU), (date(2025, 9, 1), TUE)),
    "SENSEX": ((_ALWAYS, FRI), (date(2025, 1, 1), TUE), (date(2025, 9, 1), THU)),
}


class LotRevision(NamedTuple):
    """A lot size and the first contracts that carry it.

    ``weekly_from``: weekly (non-monthly) expiries on or after this date have ``lot``.
    ``monthly_from``: monthly expiries on or after this date (the first day of the first series) have it.
    """

    lot: int
    weekly_from: date
    monthly_from: date


# Units per lot. Rows in ascending order; the last row whose threshold the expiry reaches wins.
LOT_SIZES: dict[str, tuple[LotRevision, ...]] = {
    "NIFTY": (
        LotRevision(50, _ALWAYS, _ALWAYS),
        # NSE, effective 2024-04-26: first weekly 2024-05-02, first monthly May-2024.
        LotRevision(25, date(2024, 4, 26), date(2024, 5, 1)),
        # NSE circular 2024-10-18, new contracts from 2024-11-20: last 25-lot weekly 2024-12-19 and
        # monthly 2025-01-30; first 75-lot weekly 2025-01-02 and monthly 2025-02-27.
        LotRevision(75, date(2025, 1, 1), date(2025, 2, 1)),
        # NSE circular 2025-10-03: Jan-2026 series (weekly 2026-01-06, monthly 2026-01-27) onwards.
        LotRevision(65, date(2026, 1, 1), date(2026, 1, 1)),
    ),
    "BANKNIFTY": (
        LotRevision(15, _ALWAYS, _ALWAYS),
        LotRevision(30, date(2025, 2, 1), date(2025, 2, 1)),  # last 15-lot monthly Jan-2025
        LotRevision(35, date(2025, 7, 1), date(2025, 7, 1)),  # first 35-lot monthly 2025-07-31
        LotRevision(30, date(2026, 1, 1), date(2026, 1, 1)),
    ),
    "FINNIFTY": (
        LotRevision(40, _ALWAYS, _ALWAYS),
        # First 25-lot monthly 2024-07-30, weeklies from 2024-08-06.
        LotRevision(25, date(2024, 8, 1), date(2024, 7, 1)),
        LotRevision(65, date(2025, 2, 1), date(2025, 2, 1)),
        LotRevision(60, date(2026, 1, 1), date(2026, 1, 1)),
    ),
    "MIDCPNIFTY": (
        LotRevision(75, _ALWAYS, _ALWAYS),
        # First 50-lot monthly 2024-07-29, weeklies from 2024-08-05.
        LotRevision(50, date(2024, 8, 1), date(2024, 7, 1)),
        LotRevision(120, date(2025, 2, 1), date(2025, 2, 1)),
        LotRevision(140, date(2025, 7, 1), date(2025, 7, 1)),
        LotRevision(120, date(2026, 1, 1), date(2026, 1, 1)),
    ),
    "SENSEX": (
        LotRevision(10, _ALWAYS, _ALWAYS),
        # BSE: last 10-lot weekly 2025-01-03, first 20-lot weekly 2025-01-07; monthly from Feb-2025.
        LotRevision(20, date(2025, 1, 4), date(2025, 2, 1)),
    ),
}

# Strike interval in index points of the strikes we trade (the exchange lists finer ones far OTM
# for some indices at times; the grid we pick from is this one).
STRIKE_STEP: dict[str, Dated[int]] = {
    "NIFTY": ((_ALWAYS, 50),),
    "BANKNIFTY": ((_ALWAYS, 100),),
    "FINNIFTY": ((_ALWAYS, 50),),
    "MIDCPNIFTY": ((_ALWAYS, 25),),
    "SENSEX": ((_ALWAYS, 100),),
}

# Maximum units in one order, by the date the order is placed (NSE "Quantity freeze limits for
# indices" circulars; the limit applies to an index's futures and options alike). Dates before an
# index's first row use that row. The earlier limits seen (NSE revisions effective 2023-04-03,
# 2024-08-01 and 2025-03-03, as relayed by Angel One's notices) were at least as large - BANKNIFTY
# 900, FINNIFTY and NIFTY 1,800, MIDCPNIFTY 5,500 / 2,800 / 4,200 - so a smaller limit only splits more.
FREEZE_QUANTITY: dict[str, Dated[int]] = {
    "NIFTY": ((_ALWAYS, 1800),),  # unchanged in every NSE revision 2023-04-03 .. 2025-12-01
    "BANKNIFTY": (
        (date(2025, 7, 1), 600),  # NSE circular dated 2025-06-30, effective 2025-07-01
        (date(2025, 9, 1), 900),  # NSE circular dated 2025-08-29, effective 2025-09-01
        (date(2025, 11, 3), 600),  # NSE circular dated 2025-10-31, effective 2025-11-03
    ),
    "FINNIFTY": (
        (_ALWAYS, 1800),  # NSE revisions 2023-04-03 .. 2025-11-03
        (date(2025, 12, 1), 1200),  # NSE circular dated 2025-11-28, effective 2025-12-01
    ),
    "MIDCPNIFTY": ((date(2025, 7, 1), 2800),),  # NSE circulars 2025-06-30 .. 2025-11-28
    "SENSEX": ((_ALWAYS, 1000),),  # DOMAIN.md; the BSE circular is not recorded
}

# RBI policy repo rate (fraction), effective on the announcement date.
REPO_RATE: Dated[float] = (
    (date(2020, 5, 22), 0.0400),
    (date(2022, 5, 4), 0.0440),
    (date(2022, 6, 8), 0.0490),
    (date(2022, 8, 5), 0.0540),
    (date(2022, 9, 30), 0.0590),
    (date(2022, 12, 7), 0.0625),
    (date(2023, 2, 8), 0.0650),
    (date(2025, 2, 7), 0.0625),
    (date(2025, 4, 9), 0.0600),
    (date(2025, 6, 6), 0.0550),
    (date(2025, 12, 5), 0.0525),
)
# Short money-market yields (91-day T-bill, MIBOR) sit about a quarter point over repo; DOMAIN.md's
# r ~ 5.5% with repo at 5.25% is exactly that, so the model rate is repo + this spread at every date.
RISK_FREE_SPREAD_OVER_REPO: Dated[float] = ((_ALWAYS, 0.0025),)

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_WEEKLY_MONTH_CODES = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "O", "N", "D")


# --- lookups -----------------------------------------------------------------------------------------


def _in_force(table: Dated[T], on: date) -> T:
    """Value of the last row effective on or before ``on``; the first row's for earlier dates."""
    value = table[0][1]
    for effective, v in table:
        if effective <= on:
            value = v
        else:
            break
    return value


def _name(index: str) -> str:
    name = str(index).strip().upper()
    if name not in INDICES:
        raise ValueError(f"unknown index {index!r}: expected one of {', '.join(INDICES)}")
    return name


def index_spec(index: str) -> IndexSpec:
    """The ``IndexSpec`` of ``index`` (case-insensitive); ValueError if unknown."""
    return INDICES[_name(index)]


def _series_lot(name: str, expiry: date, monthly: bool) -> int:
    lot = LOT_SIZES[name][0].lot
    for rev in LOT_SIZES[name]:
        if expiry >= (rev.monthly_from if monthly else rev.weekly_from):
            lot = rev.lot
    return lot


# The look-ups an order asks of its contract on every entry and exit (lot, step, freeze, rate,
# symbol) are remembered per argument: each reads dated tables that do not change while a process
# runs (the lot and the symbol also read the calendar's monthly expiries, cached as ``_is_monthly``
# is). A backtest asks them ~3,000 times a year for a few hundred distinct answers.


@lru_cache(maxsize=4096)
def lot_size(index: str, expiry: date) -> int:
    """Units per lot of the ``index`` option contract expiring on ``expiry`` (its series' lot)."""
    name = _name(index)
    return _series_lot(name, expiry, is_monthly_expiry(name, expiry))


@lru_cache(maxsize=4096)
def strike_step(index: str, on: date) -> int:
    """Strike interval in index points in force on ``on``."""
    return _in_force(STRIKE_STEP[_name(index)], on)


@lru_cache(maxsize=4096)
def freeze_quantity(index: str, on: date) -> int:
    """Maximum units in a single order placed on ``on`` (IST trade date), futures and options alike;
    larger orders must be split."""
    return _in_force(FREEZE_QUANTITY[_name(index)], on)


def max_lots_per_order(index: str, expiry: date, on: date) -> int:
    """Whole lots of the ``expiry`` contract that fit in one order on ``on`` (freeze // lot)."""
    return freeze_quantity(index, on) // lot_size(index, expiry)


def repo_rate(on: date) -> float:
    """RBI policy repo rate on ``on`` as a fraction (0.0525 = 5.25%)."""
    return _in_force(REPO_RATE, on)


@lru_cache(maxsize=4096)
def risk_free_rate(on: date) -> float:
    """Model risk-free rate on ``on``: repo + ``RISK_FREE_SPREAD_OVER_REPO``, annual fraction.

    0.055 from 2025-12-05 (repo 5.25%), 0.0575 from 2025-06-06, 0.0625 from 2025-04-09, 0.065 from
    2025-02-07, 0.0675 from 2023-02-08. Used as the continuously compounded rate in pricing.
    """
    return round(repo_rate(on) + _in_force(RISK_FREE_SPREAD_OVER_REPO, on), 6)


# --- expiries ----------------------------------------------------------------------------------------


def weekly_expiry_weekday(index: str, on: date) -> int | None:
    """Weekday (Mon = 0) of weekly expiries falling on ``on``'s date under the rules in force; None if none."""
    return _in_force(WEEKLY_EXPIRY_WEEKDAY[_name(index)], on)


def monthly_expiry_weekday(index: str, on: date) -> int:
    """Weekday (Mon = 0) of the monthly expiry of ``on``'s month (before any holiday shift)."""
    return _in_force(MONTHLY_EXPIRY_WEEKDAY[_name(index)], on.replace(day=1))


def _exchange(name: str) -> str:
    return INDICES[name].exchange


def _shift_for_holiday(d: date, exchange: str) -> date:
    return d if calendar.is_trading_day(d, exchange) else calendar.previous_trading_day(d, exchange)


def _next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def _nominal_monthly(name: str, year: int, month: int) -> date:
    """The last monthly-expiry weekday of the month, before any holiday shift."""
    weekday = _in_force(MONTHLY_EXPIRY_WEEKDAY[name], date(year, month, 1))
    ny, nm = _next_month(year, month)
    d = date(ny, nm, 1) - timedelta(days=1)
    return d - timedelta(days=(d.weekday() - weekday) % 7)


@lru_cache(maxsize=4096)
def _monthly_expiry(name: str, year: int, month: int) -> date:
    return _shift_for_holiday(_nominal_monthly(name, year, month), _exchange(name))


def monthly_expiry(index: str, year: int, month: int) -> date:
    """Expiry date of the ``year``-``month`` monthly contract of ``index`` (holiday-adjusted)."""
    return _monthly_expiry(_name(index), year, month)


def is_monthly_expiry(index: str, d: date) -> bool:
    """True when the expiry date ``d`` is the monthly (last) expiry of ``index`` in its month.

    ``d`` must be an expiry date (from :func:`expiries` or the broker's instrument master). Besides
    the calendar's monthly date, any expiry after the last weekly before the nominal monthly date (at
    most six days before it) counts: a holiday only moves the monthly back a day or two. So an expiry
    taken from the instrument master is recognised even when the holiday that moved it is missing
    from the calendar (a provisional year): 2027-01-25, the day before Republic Day, is the January
    2027 monthly whatever holidays.csv says.
    """
    return _is_monthly(_name(index), d)


@lru_cache(maxsize=4096)  # an order's symbol and lot ask it; with _monthly_expiry's, cleared as that one
def _is_monthly(name: str, d: date) -> bool:
    if d == _monthly_expiry(name, d.year, d.month):
        return True
    nominal = _nominal_monthly(name, d.year, d.month)
    floor = nominal - timedelta(days=7)
    # A weekly on an earlier weekday of the final week (BANKNIFTY's Wednesday weeklies under a Thursday
    # monthly, Jan-Feb 2024) stays a weekly.
    final_week = _weekly_nominal(name, floor + timedelta(days=1), nominal - timedelta(days=1))
    return max([floor, *final_week]) < d <= nominal


def current_monthly(index: str, on: date) -> date:
    """The monthly expiry of ``on``'s month, or next month's if that one is already before ``on``."""
    e = monthly_expiry(index, on.year, on.month)
    if e < on:
        e = monthly_expiry(index, *_next_month(on.year, on.month))
    return e


def _weekly_nominal(name: str, start: date, end: date) -> list[date]:
    """Nominal (not holiday-adjusted) weekly expiry dates in [start, end]."""
    rules = WEEKLY_EXPIRY_WEEKDAY[name]
    out: list[date] = []
    for i, (frm, weekday) in enumerate(rules):
        to = rules[i + 1][0] - timedelta(days=1) if i + 1 < len(rules) else end
        lo, hi = max(frm, start), min(to, end)
        if weekday is None or lo > hi:
            continue
        d = lo + timedelta(days=(weekday - lo.weekday()) % 7)
        while d <= hi:
            out.append(d)
            d += timedelta(days=7)
    return out


def all_expiries(index: str, start: date, end: date) -> list[date]:
    """Every weekly and monthly expiry date of ``index`` in [start, end], holiday-adjusted, ascending."""
    name = _name(index)
    exchange = _exchange(name)
    found = {_shift_for_holiday(d, exchange) for d in _weekly_nominal(name, start, end + timedelta(days=7))}
    y, m = start.year, start.month
    while date(y, m, 1) <= end:
        found.add(_monthly_expiry(name, y, m))
        y, m = _next_month(y, m)
    return sorted(d for d in found if start <= d <= end)


@lru_cache(maxsize=4096)
def _listed(name: str, on: date) -> tuple[date, ...]:
    monthlies: list[date] = []
    y, m = on.year, on.month
    while len(monthlies) < MONTHLIES_LISTED:
        e = _monthly_expiry(name, y, m)
        if e >= on:
            monthlies.append(e)
        y, m = _next_month(y, m)
    weeklies = [d for d in all_expiries(name, on, monthlies[-1]) if d not in monthlies][:WEEKLIES_LISTED]
    return tuple(sorted(set(monthlies) | set(weeklies)))


def expiries(index: str, on: date, count: int | None = None) -> list[date]:
    """Expiry dates of ``index`` options alive on ``on`` (>= ``on``), ascending; first ``count`` if given.

    The next ``WEEKLIES_LISTED`` non-monthly weekly expiries plus the next ``MONTHLIES_LISTED`` monthly
    ones, holiday-adjusted. Indices without weeklies list monthlies only.
    """
    out = list(_listed(_name(index), on))
    return out if count is None else out[:count]


def nearest_weekly(index: str, on: date) -> date:
    """The nearest expiry on or after ``on`` - the weekly, or the monthly when that is the week's expiry.

    For indices without weekly contracts (BANKNIFTY, FINNIFTY, MIDCPNIFTY since 2024-11-20) this is
    the current monthly: the nearest contract is what "buy the nearest weekly" means there.
    """
    return _listed(_name(index), on)[0]


def ensure_calendar_covers(
    index: str, expiry: date, *, live: bool = False, expiries_from_broker: bool = False
) -> str:
    """Refuse a contract of ``index`` expiring on ``expiry`` when the exchange calendar does not cover
    that year: :func:`calendar.ensure_covered` on the index's exchange (NSE, or BSE for SENSEX).

    Call it before selecting any contract. Returns the year status (FINAL / PROVISIONAL); raises
    ``calendar.CalendarNotCovered`` naming the file to update, or - ``live=True`` without expiries from
    the broker's instrument master - ``calendar.CalendarProvisional`` for a provisional year.
    """
    return calendar.ensure_covered(
        expiry, _exchange(_name(index)), live=live, expiries_from_broker=expiries_from_broker
    )


# --- index futures -----------------------------------------------------------------------------------
#
# Index futures are monthly contracts only: they expire with the monthly options of the same index
# (the holiday-adjusted last expiry weekday of the month) and carry the lot of the options' monthly
# series (NSE sets one lot per underlying for futures and options). Three serial months are listed.


def future_expiries(index: str, on: date, count: int = MONTHLIES_LISTED) -> list[date]:
    """Expiry dates of the ``count`` nearest ``index`` futures alive on ``on`` (>= ``on``), ascending."""
    name = _name(index)
    out: list[date] = []
    y, m = on.year, on.month
    while len(out) < count:
        e = _monthly_expiry(name, y, m)
        if e >= on:
            out.append(e)
        y, m = _next_month(y, m)
    return out


def future_lot_size(index: str, expiry: date) -> int:
    """Units per lot of the ``index`` future expiring on ``expiry``: the lot of that monthly series,
    from the same dated table as the options (``LOT_SIZES``, monthly thresholds)."""
    return _series_lot(_name(index), expiry, True)


def future_tradingsymbol(index: str, expiry: date) -> str:
    """Zerodha trading symbol of an index future, e.g. ``NIFTY26MAYFUT`` (SYMBOL YY MMM FUT)."""
    name = _name(index)
    if not is_monthly_expiry(name, expiry):
        raise ValueError(f"{expiry.isoformat()} is not a monthly expiry of {name}: futures are monthly")
    return f"{name}{expiry.year % 100:02d}{_MONTHS[expiry.month - 1]}FUT"


# --- trading symbols ---------------------------------------------------------------------------------


class ParsedSymbol(NamedTuple):
    """The parts of a Zerodha option trading symbol."""

    index: str
    expiry: date
    strike: Decimal
    option_type: str


def _option_type(option_type: str) -> str:
    ot = str(option_type).strip().upper()
    ot = {"CALL": CALL, "C": CALL, "PUT": PUT, "P": PUT}.get(ot, ot)
    if ot not in OPTION_TYPES:
        raise ValueError(f"option type {option_type!r}: expected 'CE' or 'PE'")
    return ot


def _format_strike(strike: float | Decimal | str) -> str:
    try:
        k = Decimal(str(strike))
    except InvalidOperation:
        raise ValueError(f"strike {strike!r} is not a number") from None
    if not k.is_finite() or k <= 0:
        raise ValueError(f"strike {strike!r} must be a positive number")
    if k == k.to_integral_value():
        return str(int(k))
    return format(k.normalize(), "f")


@lru_cache(maxsize=4096)
def tradingsymbol(index: str, expiry: date, strike: float, option_type: str) -> str:
    """Zerodha trading symbol, e.g. ``NIFTY25NOV24000CE`` (monthly) or ``NIFTY25N1124500CE`` (weekly).

    Monthly form ``SYMBOL YY MMM STRIKE TYPE`` when ``expiry`` is the monthly (last) expiry of its
    month; otherwise the weekly form ``SYMBOL YY M DD STRIKE TYPE`` with M = 1..9 for Jan..Sep and
    O/N/D for Oct/Nov/Dec and DD zero-padded.
    """
    name = _name(index)
    yy = f"{expiry.year % 100:02d}"
    if is_monthly_expiry(name, expiry):
        middle = _MONTHS[expiry.month - 1]
    else:
        middle = f"{_WEEKLY_MONTH_CODES[expiry.month - 1]}{expiry.day:02d}"
    return f"{name}{yy}{middle}{_format_strike(strike)}{_option_type(option_type)}"


_SYMBOL_RE = re.compile(
    r"^(?P<name>"
    + "|".join(sorted(INDICES, key=len, reverse=True))
    + r")(?P<yy>\d{2})(?:(?P<mon>"
    + "|".join(_MONTHS)
    + r")|(?P<m>[1-9OND])(?P<dd>\d{2}))(?P<strike>\d+(?:\.\d+)?)(?P<type>CE|PE)$"
)


def parse_tradingsymbol(symbol: str) -> ParsedSymbol:
    """Split a Zerodha option symbol (an ``NFO:``/``BFO:`` prefix is allowed) into its parts.

    A monthly symbol's expiry is resolved with ``monthly_expiry``; a weekly one's is the date it
    spells. Raises ValueError naming the problem for anything else.
    """
    raw = str(symbol).strip().upper()
    text = raw.split(":", 1)[1] if ":" in raw else raw
    match = _SYMBOL_RE.match(text)
    if match is None:
        raise ValueError(
            f"bad option symbol {symbol!r}: expected <INDEX><YY><MMM><STRIKE><CE|PE> (monthly) or "
            f"<INDEX><YY><M><DD><STRIKE><CE|PE> (weekly) with INDEX one of {', '.join(INDICES)}"
        )
    name = match["name"]
    year = 2000 + int(match["yy"])
    if match["mon"]:
        expiry = monthly_expiry(name, year, _MONTHS.index(match["mon"]) + 1)
    else:
        month = _WEEKLY_MONTH_CODES.index(match["m"]) + 1
        try:
            expiry = date(year, month, int(match["dd"]))
        except ValueError:
            raise ValueError(
                f"bad option symbol {symbol!r}: {year}-{month:02d}-{match['dd']} is not a date"
            ) from None
    strike = Decimal(match["strike"])
    if strike <= 0:
        raise ValueError(f"bad option symbol {symbol!r}: strike must be positive")
    return ParsedSymbol(name, expiry, strike, match["type"])
