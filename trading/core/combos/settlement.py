"""Expiry settlement of each leg of a positional (NRML) combo, with its charges. Pure.

NSE index derivatives are cash settled at the **final settlement price** of the expiry day (the
index's closing value, in paise). For each leg still open at its expiry:

* a **long ITM option is exercised**: it receives intrinsic x qty and pays STT at the exercise rate on
  that settlement value plus brokerage for the exercise, no exchange charge or stamp duty - exactly
  how ``charges.charges_for_legs`` models an ``exercise`` leg (the rates live there, dated);
* a **short ITM option is assigned**: it pays intrinsic x qty; no STT on the assignment and no order,
  so no charges (as ``charges.round_trip_charges`` treats a short EXPIRY exit);
* an **OTM (or exactly ATM) option expires worthless**: no cash, no order, no charges;
* a **future settles at the final settlement price**: no order and no STT at expiry settlement.

The intrinsic value is exact to the paisa (the settlement price minus the strike), not rounded to
the 0.05 premium tick: the exchange settles on the price itself. Amounts are ``Decimal`` rupees,
because they go to the journal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from trading.core import charges as charges_mod
from trading.core.combos.model import CE, FUT, PricedLeg

EXERCISED = "EXERCISED"
ASSIGNED = "ASSIGNED"
EXPIRED_WORTHLESS = "EXPIRED_WORTHLESS"
FUTURE_SETTLED = "FUTURE_SETTLED"

PAISA = Decimal("0.01")


def _money(value: Decimal | float | str | int) -> Decimal:
    d = value if isinstance(value, Decimal) else Decimal(str(value))
    if not d.is_finite() or d <= 0:
        raise ValueError(f"settlement price must be a positive number, not {value!r}")
    return d


@dataclass(frozen=True)
class LegSettlement:
    """How one leg settled at its expiry.

    ``outcome`` EXERCISED, ASSIGNED, EXPIRED_WORTHLESS or FUTURE_SETTLED; ``settlement_price`` the
    final settlement price (index points); ``exit_price`` rupees per unit the leg closes at (its
    intrinsic value, or the settlement price for a future); ``cash_flow`` rupees the settlement moves
    (+ received, - paid: ``sign x intrinsic x qty`` for an option; for a future its whole P&L against
    the entry price, ``sign x (settlement - entry) x qty``, daily marks to market included);
    ``gross_pnl`` ``sign x (exit - entry) x qty`` for the round trip; ``charges`` those of the
    settlement alone (``charges.Charges``).
    """

    leg: PricedLeg
    outcome: str
    settlement_price: Decimal
    exit_price: Decimal
    cash_flow: Decimal
    gross_pnl: Decimal
    charges: charges_mod.Charges

    @property
    def net_cash_flow(self) -> Decimal:
        """``cash_flow`` less the settlement charges, rupees."""
        return self.cash_flow - self.charges.total


def settle_leg(
    leg: PricedLeg,
    *,
    index: str,
    settlement_price: Decimal | float | str,
    brokerage_per_order: Decimal | str | int = charges_mod.DEFAULT_BROKERAGE,
) -> LegSettlement:
    """Settle one leg at its expiry at ``settlement_price`` (index points; module doc for the rules).

    ``index`` picks the exchange whose charges apply (``charges.exchange_of``); the settlement is
    charged at the rates in force on the leg's expiry date.
    """
    price = _money(settlement_price)
    qty = leg.quantity
    entry = Decimal(str(leg.premium))
    exchange = charges_mod.exchange_of(index)
    settlement_legs: list[charges_mod.Leg] = []
    if leg.instrument == FUT:
        outcome, exit_price = FUTURE_SETTLED, price
        cash = leg.sign * (price - entry) * qty
    else:
        strike = Decimal(str(leg.strike))
        intrinsic = max(price - strike if leg.instrument == CE else strike - price, Decimal(0)).quantize(
            PAISA
        )
        exit_price = intrinsic
        cash = leg.sign * intrinsic * qty
        if intrinsic == 0:
            outcome = EXPIRED_WORTHLESS
        elif leg.sign > 0:
            outcome = EXERCISED
            settlement_legs.append(charges_mod.Leg("SELL", intrinsic, qty, leg.expiry, exercise=True))
        else:
            outcome = ASSIGNED
    charged = charges_mod.charges_for_legs(
        settlement_legs, exchange=exchange, brokerage_per_order=brokerage_per_order
    )
    return LegSettlement(
        leg=leg,
        outcome=outcome,
        settlement_price=price,
        exit_price=exit_price,
        cash_flow=cash.quantize(PAISA) if cash else Decimal("0.00"),  # no "-0.00" for a short OTM
        gross_pnl=(leg.sign * (exit_price - entry) * qty).quantize(PAISA),
        charges=charged,
    )


def settle_combo(
    legs: Sequence[PricedLeg],
    *,
    index: str,
    settlement_prices: Mapping[date, Decimal | float | str] | Decimal | float | str,
    brokerage_per_order: Decimal | str | int = charges_mod.DEFAULT_BROKERAGE,
) -> tuple[LegSettlement, ...]:
    """Per-leg settlement cash flows of ``legs``, in order, each at its own expiry.

    ``settlement_prices`` maps each expiry date to its final settlement price, or is one price when
    every leg shares an expiry. ValueError names a leg whose expiry has no price.
    """
    out = []
    for i, leg in enumerate(legs):
        if isinstance(settlement_prices, Mapping):
            if leg.expiry not in settlement_prices:
                raise ValueError(f"leg {i + 1}: no settlement price for {leg.expiry.isoformat()}")
            price = settlement_prices[leg.expiry]
        else:
            if len({other.expiry for other in legs}) > 1:
                raise ValueError("legs with several expiries need a settlement price per expiry")
            price = settlement_prices
        out.append(
            settle_leg(leg, index=index, settlement_price=price, brokerage_per_order=brokerage_per_order)
        )
    return tuple(out)
