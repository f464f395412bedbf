"""Concrete legs back to rules, pure: what the strategy builder saves is a ``ComboSpec`` by rule (so
that a backtest resolves it afresh every session), built from the concrete legs the trader looked at.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from trading.core import chain as chain_mod
from trading.core import contracts
from trading.core.combos.model import (
    CE,
    FUT,
    FUTURE_EXPIRY_RULES,
    OPTION_EXPIRY_RULES,
    PricedLeg,
    StrikeRule,
)
from trading.core.combos.resolve import resolve_expiry


def leg_rules(
    legs: Sequence[PricedLeg], *, index: str, on: date, spot: float
) -> list[tuple[str, StrikeRule | None]]:
    """The (expiry rule, strike rule) of each concrete leg as seen on the session ``on`` at ``spot``.

    The expiry rule is the first of CURRENT_WEEK, NEXT_WEEK, CURRENT_MONTH, NEXT_MONTH (futures: the
    two monthly ones) that ``resolve.resolve_expiry`` maps to the leg's expiry; the strike rule is ATM
    +- whole steps out of the money (``contracts.strike_step`` on ``on``, ATM ``chain.atm_strike``)
    when the strike is on the grid, else EXACT. FUT legs have no strike rule (None). Raises
    ``ValueError`` naming ``legs[i].expiry`` for an expiry no rule names.
    """
    step = float(contracts.strike_step(index, on))
    atm = chain_mod.atm_strike(spot, step)
    out: list[tuple[str, StrikeRule | None]] = []
    for i, leg in enumerate(legs):
        rules = FUTURE_EXPIRY_RULES if leg.instrument == FUT else OPTION_EXPIRY_RULES
        found = None
        for rule in rules:
            try:
                if resolve_expiry(rule, index, on) == leg.expiry:
                    found = rule
                    break
            except ValueError:  # a weekly rule on a monthly-only index
                continue
        if found is None:
            raise ValueError(
                f"legs[{i}].expiry: {leg.expiry.isoformat()} is none of {', '.join(rules)} on {on.isoformat()}"
            )
        if leg.instrument == FUT:
            out.append((found, None))
            continue
        steps = (float(leg.strike) - atm) / step
        direction = 1 if leg.instrument == CE else -1
        if abs(steps - round(steps)) < 1e-9:
            out.append((found, StrikeRule.atm(direction * int(round(steps)))))
        else:
            out.append((found, StrikeRule.exact(float(leg.strike))))
    return out
