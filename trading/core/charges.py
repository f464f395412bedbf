"""Exact Indian charges on index options, from a dated schedule (DOMAIN.md section 1).

Every rate is a table of (effective-from date, value); a leg is charged at the rates in force on its
own date. Amounts are ``Decimal`` rupees rounded to the paisa, except STT, which the contract note
rounds to the nearest rupee per trade.

How a round trip is charged (and why):

* turnover-based items (exchange transaction charge, SEBI fee, stamp duty) are computed per leg
  without rounding, summed over the trade and rounded once to the paisa - the contract note's way,
  which also reproduces DOMAIN.md's worked example to the paisa;
* STT on each sell leg at that leg's rate, summed, rounded to the nearest rupee (half up);
* GST = 18% of (brokerage + exchange transaction charge + SEBI fee) after their rounding; never on
  STT or stamp duty;
* an option that expires worthless (exit at 0, exit type EXPIRY) has no exit order and so no exit
  charges; a long option exercised in the money pays STT at the exercise rate on the settlement
  value (intrinsic x quantity) and brokerage for the exercise, and no exchange charge or stamp duty.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, fields
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

PAISA = Decimal("0.01")
RUPEE = Decimal("1")

# (effective from, rate as a fraction of premium turnover)
STT_SELL: tuple[tuple[date, Decimal], ...] = (
    (date(2016, 6, 1), Decimal("0.0005")),
    (date(2023, 4, 1), Decimal("0.000625")),
    (date(2024, 10, 1), Decimal("0.001")),
    (date(2026, 4, 1), Decimal("0.0015")),
)
STT_EXERCISE: tuple[tuple[date, Decimal], ...] = (
    (date(2016, 6, 1), Decimal("0.00125")),
    (date(2026, 4, 1), Decimal("0.0015")),
)
# NSE options transaction charge, including the IPFT levy (0.0005%) from 2024-10-01.
# Before October 2024 NSE charged 0.0495% on option premium (0.053% before 2023-04-01... kept as
# 0.0495% from 2023-04-01; earlier trades are outside this journal's range).
EXCHANGE_TXN: dict[str, tuple[tuple[date, Decimal], ...]] = {
    "NSE": (
        (date(2016, 1, 1), Decimal("0.00053")),
        (date(2023, 4, 1), Decimal("0.000495")),
        (date(2024, 10, 1), Decimal("0.0003553")),
    ),
    "BSE": ((date(2016, 1, 1), Decimal("0.000325")),),
}
SEBI_FEE: tuple[tuple[date, Decimal], ...] = ((date(2016, 1, 1), Decimal("0.000001")),)  # Rs 10 / crore
STAMP_DUTY_BUY: tuple[tuple[date, Decimal], ...] = ((date(2020, 7, 1), Decimal("0.00003")),)
GST: tuple[tuple[date, Decimal], ...] = ((date(2017, 7, 1), Decimal("0.18")),)

# Brokerage per executed order by broker plan (rupees); the plan is chosen in settings.
BROKERAGE_PER_ORDER: dict[str, Decimal] = {
    "zerodha": Decimal("20"),
    "flat20": Decimal("20"),
    "zero": Decimal("0"),
}
DEFAULT_BROKERAGE = Decimal("20")

BSE_INDICES = frozenset({"SENSEX", "BANKEX", "SENSEX50"})


def rate_on(schedule: tuple[tuple[date, Decimal], ...], on: date) -> Decimal:
    """The rate of ``schedule`` in force on ``on`` (the latest entry with effective-from <= on)."""
    starts = [start for start, _ in schedule]
    i = bisect_right(starts, on) - 1
    if i < 0:
        raise ValueError(f"no rate in force on {on.isoformat()} (schedule starts {starts[0].isoformat()})")
    return schedule[i][1]


def exchange_of(index: str) -> str:
    """The exchange whose charges apply to an index's options: BSE for SENSEX, NSE otherwise."""
    return "BSE" if index.upper() in BSE_INDICES else "NSE"


@dataclass(frozen=True)
class Charges:
    """Itemised charges in rupees (Decimal, 2 places). ``total`` is their sum."""

    brokerage: Decimal
    stt: Decimal
    exchange_txn: Decimal
    sebi_fee: Decimal
    stamp_duty: Decimal
    gst: Decimal

    @property
    def total(self) -> Decimal:
        return self.brokerage + self.stt + self.exchange_txn + self.sebi_fee + self.stamp_duty + self.gst

    def as_dict(self) -> dict[str, Decimal]:
        """Items and ``total_charges`` keyed like the journal's Trade fields (``CHARGE_FIELDS``)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["total_charges"] = self.total
        return out


# The journal's charge columns: each item of ``Charges``, then their total.
CHARGE_FIELDS: tuple[str, ...] = (*(f.name for f in fields(Charges)), "total_charges")


@dataclass(frozen=True)
class Leg:
    """One executed leg: BUY or SELL of ``quantity`` units at ``price`` on ``on``.

    ``orders`` is the number of executed orders it took (a freeze-quantity split pays brokerage per
    child order). ``exercise`` marks the settlement of a long option exercised at expiry.
    """

    side: str
    price: Decimal
    quantity: int
    on: date
    orders: int = 1
    exercise: bool = False


def _d(value) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def charges_for_legs(
    legs: list[Leg] | tuple[Leg, ...],
    *,
    exchange: str = "NSE",
    brokerage_per_order: Decimal | str | int = DEFAULT_BROKERAGE,
) -> Charges:
    """Itemised charges of a set of legs that form one trade (or one fill), rounded as described above."""
    exchange = exchange.upper()
    if exchange not in EXCHANGE_TXN:
        raise ValueError(f"unknown exchange {exchange!r}: expected one of {sorted(EXCHANGE_TXN)}")
    per_order = _d(brokerage_per_order)
    brokerage = Decimal(0)
    stt = txn = sebi = stamp = Decimal(0)
    gst_rate = None
    for leg in legs:
        side = leg.side.upper()
        if side not in ("BUY", "SELL"):
            raise ValueError(f"leg side must be BUY or SELL, not {leg.side!r}")
        if leg.quantity <= 0:
            raise ValueError("leg quantity must be positive")
        price = _d(leg.price)
        if price < 0:
            raise ValueError("leg price must not be negative")
        turnover = price * leg.quantity
        brokerage += per_order * leg.orders
        gst_rate = rate_on(GST, leg.on)
        if leg.exercise:
            stt += turnover * rate_on(STT_EXERCISE, leg.on)
            continue
        if side == "SELL":
            stt += turnover * rate_on(STT_SELL, leg.on)
        else:
            stamp += turnover * rate_on(STAMP_DUTY_BUY, leg.on)
        txn += turnover * rate_on(EXCHANGE_TXN[exchange], leg.on)
        sebi += turnover * rate_on(SEBI_FEE, leg.on)
    brokerage = brokerage.quantize(PAISA, ROUND_HALF_UP)
    stt = stt.quantize(RUPEE, ROUND_HALF_UP).quantize(PAISA)
    txn = txn.quantize(PAISA, ROUND_HALF_UP)
    sebi = sebi.quantize(PAISA, ROUND_HALF_UP)
    stamp = stamp.quantize(PAISA, ROUND_HALF_UP)
    gst = ((brokerage + txn + sebi) * (gst_rate or Decimal(0))).quantize(PAISA, ROUND_HALF_UP)
    return Charges(brokerage=brokerage, stt=stt, exchange_txn=txn, sebi_fee=sebi, stamp_duty=stamp, gst=gst)


def fill_charges(
    *,
    side: str,
    price: Decimal | str | float,
    quantity: int,
    on: date,
    exchange: str = "NSE",
    orders: int = 1,
    brokerage_per_order: Decimal | str | int = DEFAULT_BROKERAGE,
) -> Charges:
    """Itemised charges of one fill (one leg), STT rounded to the rupee for that fill alone."""
    leg = Leg(side=side, price=_d(price), quantity=quantity, on=on, orders=orders)
    return charges_for_legs([leg], exchange=exchange, brokerage_per_order=brokerage_per_order)


def round_trip_charges(
    *,
    side: str,
    entry_price: Decimal | str | float,
    exit_price: Decimal | str | float,
    quantity: int,
    entry_date: date,
    exit_date: date,
    exchange: str = "NSE",
    entry_orders: int = 1,
    exit_orders: int = 1,
    exit_type: str = "",
    brokerage_per_order: Decimal | str | int = DEFAULT_BROKERAGE,
) -> Charges:
    """Itemised charges of one round trip (``side`` LONG: buy then sell; SHORT: sell then buy).

    Each leg is charged at its own date's rates. An EXPIRY exit at 0 has no exit leg; an EXPIRY exit
    above 0 of a LONG position is an exercise (STT at the exercise rate on the settlement value).
    """
    side = side.upper()
    if side not in ("LONG", "SHORT"):
        raise ValueError(f"side must be LONG or SHORT, not {side!r}")
    entry_side, exit_side = ("BUY", "SELL") if side == "LONG" else ("SELL", "BUY")
    exit_p = _d(exit_price)
    legs = [Leg(entry_side, _d(entry_price), quantity, entry_date, entry_orders)]
    if exit_type.upper() == "EXPIRY":
        if exit_p > 0 and side == "LONG":
            legs.append(Leg("SELL", exit_p, quantity, exit_date, exit_orders, exercise=True))
        # A short exercised against pays no STT on the assignment in this model; a worthless
        # expiry has no exit order at all.
    else:
        legs.append(Leg(exit_side, exit_p, quantity, exit_date, exit_orders))
    return charges_for_legs(legs, exchange=exchange, brokerage_per_order=brokerage_per_order)


def round_trip_pnl(*, side: str, entry_price: Decimal, exit_price: Decimal, quantity: int) -> Decimal:
    """Gross P&L of a round trip in rupees (2 places): (exit - entry) x quantity for a LONG trade,
    (entry - exit) x quantity for a SHORT one. Net P&L = this - ``round_trip_charges(...).total``."""
    sign = 1 if side.upper() == "LONG" else -1
    return ((_d(exit_price) - _d(entry_price)) * quantity * sign).quantize(PAISA, ROUND_HALF_UP)
