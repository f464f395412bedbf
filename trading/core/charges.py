"""Exact Indian charges on index options and index futures, from dated schedules (DOMAIN.md section 1).

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
  value (intrinsic x quantity) and brokerage for the exercise, and no exchange charge or stamp duty;
* index futures (``instrument=FUTURE``) are charged on traded value (price x quantity) with their own
  STT, exchange and stamp schedules; SEBI fee, GST and brokerage as for options. A future held to
  expiry (exit type EXPIRY) is cash-settled at the final settlement price with no exit order: no exit
  charges (no sale, so no STT).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, fields
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from operator import itemgetter

PAISA = Decimal("0.01")
RUPEE = Decimal("1")

# Instruments charged here: index options (on premium turnover) and index futures (on traded value).
OPTION = "OPTION"
FUTURE = "FUTURE"
INSTRUMENTS = (OPTION, FUTURE)

Schedule = tuple[tuple[date, Decimal], ...]  # (effective from, rate as a fraction of turnover)

# Where a schedule starts is where our history starts, not when the levy began; a date before the
# first row has no rate (ValueError). Sources are the circular or Act that set each rate, or - where
# the exchange text was not at hand - who reported it and when.

# --- Securities Transaction Tax (Securities Transaction Tax Act, Finance Act 2004, as amended) ------
# Options: sell side, on premium.
STT_SELL: Schedule = (
    (date(2016, 6, 1), Decimal("0.0005")),  # 0.05%: Finance Act 2016 (0.017% before)
    (date(2023, 4, 1), Decimal("0.000625")),  # 0.0625%: Finance Act 2023 (as amended, passed 2023-03-24)
    # 0.1%: Finance (No. 2) Act 2024; NSE circular FATAX63809 dated 2024-09-11
    (date(2024, 10, 1), Decimal("0.001")),
    (date(2026, 4, 1), Decimal("0.0015")),  # 0.15%: Finance Act 2026 (Union Budget 2026-27, 2026-02-01)
)
# Options exercised long: buyer, on the settlement (intrinsic) value.
STT_EXERCISE: Schedule = (
    (date(2016, 6, 1), Decimal("0.00125")),  # 0.125%: DOMAIN.md; unchanged since the Finance Act 2008
    (date(2026, 4, 1), Decimal("0.0015")),  # 0.15%: Finance Act 2026 (Union Budget 2026-27)
)
# Futures: sell side, on traded value. A future held to expiry is cash-settled, not sold: no STT.
FUT_STT_SELL: Schedule = (
    (date(2013, 6, 1), Decimal("0.0001")),  # 0.01%: Finance Act 2013 (0.017% before)
    (date(2023, 4, 1), Decimal("0.000125")),  # 0.0125%: Finance Act 2023 (as amended)
    (date(2024, 10, 1), Decimal("0.0002")),  # 0.02%: Finance (No. 2) Act 2024; NSE circular FATAX63809
    (date(2026, 4, 1), Decimal("0.0005")),  # 0.05%: Finance Act 2026 (Union Budget 2026-27)
)

# --- Exchange transaction charges, both sides --------------------------------------------------------
# NSE charges its transaction fee plus a contribution to the NSE Investor Protection Fund Trust
# (IPFT); the contract note shows both as the exchange transaction charge, so they are summed below.
# IPFT: Rs 0.01 per crore (negligible, kept 0) until 2023-03-31; from 2023-04-01 Rs 50 per crore of
# option premium and Rs 10 per crore of futures value (NSE circular NSE/FA/56129 dated 2023-03-24).
NSE_OPTION_IPFT: Schedule = ((date(2016, 1, 1), Decimal("0")), (date(2023, 4, 1), Decimal("0.000005")))
NSE_FUTURE_IPFT: Schedule = ((date(2016, 1, 1), Decimal("0")), (date(2023, 4, 1), Decimal("0.000001")))
NSE_OPTION_TXN_FEE: Schedule = (
    # 0.053% as contract notes showed it 2021-01-01..2023-03-31, after NSE's 6% increase of 2021-01-01
    # (NSE press release 2023-03-24); the same rate is used for earlier dates (not verified).
    (date(2016, 1, 1), Decimal("0.00053")),
    # 0.0495%: the 6% increase rolled back from 2023-04-01 (NSE, 2023-03-24); the figure is the one
    # Zerodha's CEO gave for the rate replaced on 2024-10-01 (N. Kamath, "0.035% from 0.0495%", 2024-10-01).
    (date(2023, 4, 1), Decimal("0.000495")),
    # 0.03503% (Rs 35.03 per lakh of premium): NSE circular dated 2024-09-27, one flat rate under SEBI's
    # "true to label" circular of 2024-07-01, effective 2024-10-01.
    (date(2024, 10, 1), Decimal("0.0003503")),
)
NSE_FUTURE_TXN_FEE: Schedule = (
    # 0.002% as contract notes showed it 2021-01-01..2023-03-31 (Zerodha's charges page of the time);
    # the same rate is used for earlier dates (not verified).
    (date(2016, 1, 1), Decimal("0.00002")),
    # 0.00188%: the 6% increase rolled back from 2023-04-01. Zerodha's CEO put the 2024-10-01 change at a
    # net +0.00735% (Rs 735 per crore) with STT +0.0075%, i.e. 0.00015% off a 0.00188% fee (his text says
    # "0.00183%", which is the new fee plus IPFT); fee models of the period use 0.00188% too.
    (date(2023, 4, 1), Decimal("0.0000188")),
    # 0.00173% (Rs 1.73 per lakh): NSE circular dated 2024-09-27, effective 2024-10-01.
    (date(2024, 10, 1), Decimal("0.0000173")),
)
# BSE: Rs 3,250 per crore of premium on SENSEX/BANKEX options and no fee on index futures (BSE notice
# dated 2024-09-27, effective 2024-10-01, reported by PTI the same day). Before that BSE charged SENSEX
# options by turnover slab (Rs 500 per crore up to Rs 3 crore a month from 2023-11-01, Business Today
# 2023-10-31); the flat rate is used for earlier dates too. BSE has no separate IPFT levy.
BSE_OPTION_TXN_FEE: Schedule = ((date(2016, 1, 1), Decimal("0.000325")),)
BSE_FUTURE_TXN_FEE: Schedule = ((date(2016, 1, 1), Decimal("0")),)


def _summed(*schedules: Schedule) -> Schedule:
    """One schedule whose rate on every date is the sum of the given schedules' rates (from the latest
    first row on, where all of them are defined)."""
    first = max(s[0][0] for s in schedules)
    starts = sorted({d for s in schedules for d, _ in s if d >= first} | {first})
    return tuple((d, sum((rate_on(s, d) for s in schedules), Decimal(0))) for d in starts)


# --- Stamp duty (Indian Stamp Act 1899 as amended by the Finance Act 2019; uniform rates, collected by
# the exchanges, from 2020-07-01), buy side only.
STAMP_DUTY_BUY: Schedule = ((date(2020, 7, 1), Decimal("0.00003")),)  # options: 0.003% of premium
FUT_STAMP_DUTY_BUY: Schedule = ((date(2020, 7, 1), Decimal("0.00002")),)  # futures: 0.002% of value

# SEBI turnover fee, both sides: Rs 10 per crore (DOMAIN.md; the rate on broker charge pages 2021-2026,
# earlier history not verified).
SEBI_FEE: Schedule = ((date(2016, 1, 1), Decimal("0.000001")),)
# GST (CGST/IGST Acts, from 2017-07-01): 18% on brokerage, exchange transaction charge and SEBI fee.
GST: Schedule = ((date(2017, 7, 1), Decimal("0.18")),)

# Brokerage per executed order by broker plan (rupees); the plan is chosen in settings. The same flat
# fee applies to futures (Zerodha: 0.03% or Rs 20, whichever is lower - Rs 20 for any index future lot).
BROKERAGE_PER_ORDER: dict[str, Decimal] = {
    "zerodha": Decimal("20"),
    "flat20": Decimal("20"),
    "zero": Decimal("0"),
}
DEFAULT_BROKERAGE = Decimal("20")

BSE_INDICES = frozenset({"SENSEX", "BANKEX", "SENSEX50"})


def rate_on(schedule: tuple[tuple[date, Decimal], ...], on: date) -> Decimal:
    """The rate of ``schedule`` in force on ``on`` (the latest entry with effective-from <= on)."""
    i = bisect_right(schedule, on, key=_start) - 1
    if i < 0:
        raise ValueError(
            f"no rate in force on {on.isoformat()} (schedule starts {schedule[0][0].isoformat()})"
        )
    return schedule[i][1]


_start = itemgetter(0)  # a schedule entry's effective-from date


def exchange_of(index: str) -> str:
    """The exchange whose charges apply to an index's options: BSE for SENSEX, NSE otherwise."""
    return "BSE" if index.upper() in BSE_INDICES else "NSE"


@dataclass(frozen=True)
class InstrumentRates:
    """The dated schedules that charge one instrument (``stt_exercise`` None: no exercise)."""

    stt_sell: Schedule
    stt_exercise: Schedule | None
    exchange_txn: dict[str, Schedule]  # by exchange, IPFT included
    stamp_duty_buy: Schedule


# Exchange transaction charge including IPFT, by exchange: options (premium) ...
EXCHANGE_TXN: dict[str, Schedule] = {
    "NSE": _summed(NSE_OPTION_TXN_FEE, NSE_OPTION_IPFT),
    "BSE": BSE_OPTION_TXN_FEE,
}
# ... and futures (traded value).
FUT_EXCHANGE_TXN: dict[str, Schedule] = {
    "NSE": _summed(NSE_FUTURE_TXN_FEE, NSE_FUTURE_IPFT),
    "BSE": BSE_FUTURE_TXN_FEE,
}

RATES: dict[str, InstrumentRates] = {
    OPTION: InstrumentRates(STT_SELL, STT_EXERCISE, EXCHANGE_TXN, STAMP_DUTY_BUY),
    FUTURE: InstrumentRates(FUT_STT_SELL, None, FUT_EXCHANGE_TXN, FUT_STAMP_DUTY_BUY),
}


def _instrument(instrument: str) -> InstrumentRates:
    try:
        return RATES[str(instrument).upper()]
    except KeyError:
        raise ValueError(
            f"unknown instrument {instrument!r}: expected one of {', '.join(INSTRUMENTS)}"
        ) from None


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
    instrument: str = OPTION,
) -> Charges:
    """Itemised charges of a set of legs that form one trade (or one fill), rounded as described above.

    ``instrument`` is OPTION (prices are premiums) or FUTURE (prices are futures prices).
    """
    rates = _instrument(instrument)
    exchange = exchange.upper()
    if exchange not in rates.exchange_txn:
        raise ValueError(f"unknown exchange {exchange!r}: expected one of {sorted(rates.exchange_txn)}")
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
            if rates.stt_exercise is None:
                raise ValueError(f"{str(instrument).upper()} legs cannot be exercised")
            stt += turnover * rate_on(rates.stt_exercise, leg.on)
            continue
        if side == "SELL":
            stt += turnover * rate_on(rates.stt_sell, leg.on)
        else:
            stamp += turnover * rate_on(rates.stamp_duty_buy, leg.on)
        txn += turnover * rate_on(rates.exchange_txn[exchange], leg.on)
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
    instrument: str = OPTION,
) -> Charges:
    """Itemised charges of one fill (one leg), STT rounded to the rupee for that fill alone."""
    leg = Leg(side=side, price=_d(price), quantity=quantity, on=on, orders=orders)
    return charges_for_legs(
        [leg], exchange=exchange, brokerage_per_order=brokerage_per_order, instrument=instrument
    )


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
    instrument: str = OPTION,
) -> Charges:
    """Itemised charges of one round trip (``side`` LONG: buy then sell; SHORT: sell then buy).

    Each leg is charged at its own date's rates. Options: an EXPIRY exit at 0 has no exit leg; an
    EXPIRY exit above 0 of a LONG position is an exercise (STT at the exercise rate on the settlement
    value). Futures (``instrument=FUTURE``): an EXPIRY exit is a cash settlement with no exit leg.
    """
    side = side.upper()
    if side not in ("LONG", "SHORT"):
        raise ValueError(f"side must be LONG or SHORT, not {side!r}")
    is_future = _instrument(instrument) is RATES[FUTURE]
    entry_side, exit_side = ("BUY", "SELL") if side == "LONG" else ("SELL", "BUY")
    exit_p = _d(exit_price)
    legs = [Leg(entry_side, _d(entry_price), quantity, entry_date, entry_orders)]
    if exit_type.upper() == "EXPIRY":
        if exit_p > 0 and side == "LONG" and not is_future:
            legs.append(Leg("SELL", exit_p, quantity, exit_date, exit_orders, exercise=True))
        # A short exercised against pays no STT on the assignment in this model; a worthless
        # expiry has no exit order at all.
    else:
        legs.append(Leg(exit_side, exit_p, quantity, exit_date, exit_orders))
    return charges_for_legs(
        legs, exchange=exchange, brokerage_per_order=brokerage_per_order, instrument=instrument
    )


def round_trip_pnl(*, side: str, entry_price: Decimal, exit_price: Decimal, quantity: int) -> Decimal:
    """Gross P&L of a round trip in rupees (2 places): (exit - entry) x quantity for a LONG trade,
    (entry - exit) x quantity for a SHORT one. Net P&L = this - ``round_trip_charges(...).total``."""
    sign = 1 if side.upper() == "LONG" else -1
    return ((_d(exit_price) - _d(entry_price)) * quantity * sign).quantize(PAISA, ROUND_HALF_UP)
