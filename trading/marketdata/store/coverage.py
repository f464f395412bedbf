"""Refuse dates the dated tables do not cover, naming the table to extend.

A session must be a trading day of its index's exchange inside the years of the holiday list
(``trading/core/data/holidays.csv``), and the charge schedule (``trading/core/charges.py``) must have
a rate in force for it; a contract's expiry must not precede the first row of its index's lot-size
table (``LOT_SIZES`` in ``trading/core/contracts.py``). Otherwise a backtest on the data would charge
or size trades with defaults.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from trading.core import calendar as market_calendar
from trading.core import charges, contracts

__all__ = ["expiry_problem", "session_problem"]

HOLIDAYS_TABLE = "trading/core/data/holidays.csv"
CHARGES_TABLE = "trading/core/charges.py"
LOTS_TABLE = "LOT_SIZES in trading/core/contracts.py"


def session_problem(index: str, session: date) -> str | None:
    """Why ``session`` cannot be stored for ``index`` (a sentence naming the table), or None."""
    exchange = contracts.index_spec(index).exchange
    years = market_calendar.holiday_years(exchange)
    if session.year not in years:
        covered = f"{min(years)}-{max(years)}" if years else "no year"
        return (
            f"{session} is outside the {exchange} holiday table {HOLIDAYS_TABLE} (it covers {covered}): "
            f"add the {exchange} holidays of {session.year} there before importing this date"
        )
    if session.weekday() >= 5:
        return (
            f"{session} is a {session.strftime('%A')}, not a trading day "
            "(special weekend sessions are not modelled by trading/core/calendar.py)"
        )
    if session in market_calendar.holidays(exchange):
        return (
            f"{session} is an {exchange} holiday in {HOLIDAYS_TABLE}: either the file's date or the "
            "holiday list is wrong"
        )
    one = Decimal("1")
    legs = [
        charges.Leg(side="BUY", price=one, quantity=1, on=session),
        charges.Leg(side="SELL", price=one, quantity=1, on=session),
        charges.Leg(side="SELL", price=one, quantity=1, on=session, exercise=True),
    ]
    try:
        charges.charges_for_legs(legs, exchange=charges.exchange_of(index))
    except ValueError as exc:
        return f"{session} is outside the charge schedule in {CHARGES_TABLE} ({exc}): add the rates in force then"
    return None


def expiry_problem(index: str, expiry: date) -> str | None:
    """Why contracts of ``index`` expiring on ``expiry`` have no lot size in the table, or None."""
    name = contracts.index_spec(index).name
    first = contracts.LOT_SIZES[name][0]
    start = min(first.weekly_from, first.monthly_from)
    if expiry < start:
        return (
            f"expiry {expiry} of {name} is before the lot-size table {LOTS_TABLE} (it starts {start}): "
            "add the lot sizes of that time there"
        )
    return None
