"""The ten standard option combos as ``ComboSpec`` builders. Pure.

Every builder takes the index, ``lots`` per leg, the expiry rule and the strike geometry in whole
strike steps (``StrikeRule.atm``: steps out of the money, so a 4-step NIFTY wing is 200 points), and
passes any further keyword (``product``, ``entry_time``, ``exit_time``, ``stop_loss``, ``target``,
``lock_and_trail``) to ``ComboSpec``. Bought legs are listed first: the engine sends them first so
that the sold legs get the hedge benefit in margin.

Defaults, chosen as a trader starting out would: intraday (MIS, 09:20 to 15:15 IST) on the current
weekly expiry; the naked short premium combos (straddle, strangle) carry a per-leg stop (25% of the
premium for the ATM straddle, 50% for the cheaper OTM strangle legs); the defined-risk combos carry
none (their loss is capped by the wings). The calendar spread is positional (NRML): it is held to the
near expiry, where the far leg is closed - its payoff is judged there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from trading.core.combos.model import (
    BUY,
    CE,
    CURRENT_WEEK,
    NEXT_WEEK,
    NRML,
    PE,
    SELL,
    ComboSpec,
    LegSpec,
    StrikeRule,
    Threshold,
)


def _leg(instrument: str, side: str, steps_otm: int, lots: int, expiry: str, **rules: Any) -> LegSpec:
    return LegSpec(instrument, side, lots, expiry, StrikeRule.atm(steps_otm), **rules)


def short_straddle(
    index: str = "NIFTY",
    *,
    lots: int = 1,
    expiry: str = CURRENT_WEEK,
    leg_stop: Threshold | None = Threshold.fraction(0.25),
    **combo: Any,
) -> ComboSpec:
    """Sell the ATM CE and the ATM PE. Profit: both premiums; loss unlimited on either side."""
    legs = (
        _leg(CE, SELL, 0, lots, expiry, stop_loss=leg_stop),
        _leg(PE, SELL, 0, lots, expiry, stop_loss=leg_stop),
    )
    return ComboSpec("short_straddle", index, legs, **combo)


def short_strangle(
    index: str = "NIFTY",
    *,
    lots: int = 1,
    expiry: str = CURRENT_WEEK,
    otm_steps: int = 4,
    leg_stop: Threshold | None = Threshold.fraction(0.5),
    **combo: Any,
) -> ComboSpec:
    """Sell a CE and a PE ``otm_steps`` strikes out of the money. Loss unlimited on either side."""
    legs = (
        _leg(CE, SELL, otm_steps, lots, expiry, stop_loss=leg_stop),
        _leg(PE, SELL, otm_steps, lots, expiry, stop_loss=leg_stop),
    )
    return ComboSpec("short_strangle", index, legs, **combo)


def iron_condor(
    index: str = "NIFTY",
    *,
    lots: int = 1,
    expiry: str = CURRENT_WEEK,
    short_steps: int = 4,
    wing_steps: int = 4,
    **combo: Any,
) -> ComboSpec:
    """A short strangle ``short_steps`` out with long wings ``wing_steps`` beyond each short strike."""
    _positive_wing(wing_steps)
    legs = (
        _leg(CE, BUY, short_steps + wing_steps, lots, expiry),
        _leg(PE, BUY, short_steps + wing_steps, lots, expiry),
        _leg(CE, SELL, short_steps, lots, expiry),
        _leg(PE, SELL, short_steps, lots, expiry),
    )
    return ComboSpec("iron_condor", index, legs, **combo)


def iron_butterfly(
    index: str = "NIFTY", *, lots: int = 1, expiry: str = CURRENT_WEEK, wing_steps: int = 4, **combo: Any
) -> ComboSpec:
    """A short ATM straddle with long wings ``wing_steps`` above (CE) and below (PE)."""
    _positive_wing(wing_steps)
    legs = (
        _leg(CE, BUY, wing_steps, lots, expiry),
        _leg(PE, BUY, wing_steps, lots, expiry),
        _leg(CE, SELL, 0, lots, expiry),
        _leg(PE, SELL, 0, lots, expiry),
    )
    return ComboSpec("iron_butterfly", index, legs, **combo)


def _vertical(
    name: str,
    index: str,
    option_type: str,
    debit: bool,
    lots: int,
    expiry: str,
    near: int,
    width: int,
    combo: Any,
) -> ComboSpec:
    """A vertical spread: the leg ``near`` steps out of the money and one ``width`` steps further out.
    A debit spread buys the near leg and sells the far one; a credit spread the reverse."""
    _positive_wing(width)
    near_side, far_side = (BUY, SELL) if debit else (SELL, BUY)
    legs = (
        _leg(option_type, near_side, near, lots, expiry),
        _leg(option_type, far_side, near + width, lots, expiry),
    )
    legs = tuple(sorted(legs, key=lambda leg: leg.side != BUY))
    return ComboSpec(name, index, legs, **combo)


def bull_call_spread(
    index: str = "NIFTY",
    *,
    lots: int = 1,
    expiry: str = CURRENT_WEEK,
    buy_steps: int = 0,
    width_steps: int = 4,
    **combo: Any,
) -> ComboSpec:
    """Buy a CE ``buy_steps`` out of the money (ATM by default), sell a CE ``width_steps`` higher."""
    return _vertical("bull_call_spread", index, CE, True, lots, expiry, buy_steps, width_steps, combo)


def bear_put_spread(
    index: str = "NIFTY",
    *,
    lots: int = 1,
    expiry: str = CURRENT_WEEK,
    buy_steps: int = 0,
    width_steps: int = 4,
    **combo: Any,
) -> ComboSpec:
    """Buy a PE ``buy_steps`` out of the money (ATM by default), sell a PE ``width_steps`` lower."""
    return _vertical("bear_put_spread", index, PE, True, lots, expiry, buy_steps, width_steps, combo)


def bull_put_spread(
    index: str = "NIFTY",
    *,
    lots: int = 1,
    expiry: str = CURRENT_WEEK,
    sell_steps: int = 0,
    width_steps: int = 4,
    **combo: Any,
) -> ComboSpec:
    """Sell a PE ``sell_steps`` out of the money (ATM by default), buy a PE ``width_steps`` lower."""
    return _vertical("bull_put_spread", index, PE, False, lots, expiry, sell_steps, width_steps, combo)


def bear_call_spread(
    index: str = "NIFTY",
    *,
    lots: int = 1,
    expiry: str = CURRENT_WEEK,
    sell_steps: int = 0,
    width_steps: int = 4,
    **combo: Any,
) -> ComboSpec:
    """Sell a CE ``sell_steps`` out of the money (ATM by default), buy a CE ``width_steps`` higher."""
    return _vertical("bear_call_spread", index, CE, False, lots, expiry, sell_steps, width_steps, combo)


def long_straddle(
    index: str = "NIFTY", *, lots: int = 1, expiry: str = CURRENT_WEEK, **combo: Any
) -> ComboSpec:
    """Buy the ATM CE and the ATM PE. Loss: both premiums; profit unlimited upwards."""
    legs = (_leg(CE, BUY, 0, lots, expiry), _leg(PE, BUY, 0, lots, expiry))
    return ComboSpec("long_straddle", index, legs, **combo)


def calendar_spread(
    index: str = "NIFTY",
    *,
    lots: int = 1,
    option_type: str = CE,
    near_expiry: str = CURRENT_WEEK,
    far_expiry: str = NEXT_WEEK,
    steps_otm: int = 0,
    **combo: Any,
) -> ComboSpec:
    """Buy the far-expiry option and sell the near-expiry one at the same strike (ATM by default).

    Positional (NRML) and held to the near expiry by default (``exit_time`` None).
    """
    if near_expiry == far_expiry:
        raise ValueError("a calendar spread needs two different expiries")
    combo = {"product": NRML, "exit_time": None, **combo}
    legs = (
        _leg(option_type, BUY, steps_otm, lots, far_expiry),
        _leg(option_type, SELL, steps_otm, lots, near_expiry),
    )
    return ComboSpec("calendar_spread", index, legs, **combo)


def _positive_wing(steps: int) -> None:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"a wing or spread width must be at least one strike step, not {steps!r}")


TEMPLATES: dict[str, Callable[..., ComboSpec]] = {
    "short_straddle": short_straddle,
    "short_strangle": short_strangle,
    "iron_condor": iron_condor,
    "iron_butterfly": iron_butterfly,
    "bull_call_spread": bull_call_spread,
    "bear_put_spread": bear_put_spread,
    "bull_put_spread": bull_put_spread,
    "bear_call_spread": bear_call_spread,
    "long_straddle": long_straddle,
    "calendar_spread": calendar_spread,
}


def build_template(name: str, index: str = "NIFTY", **params: Any) -> ComboSpec:
    """The ``ComboSpec`` of template ``name`` (a key of ``TEMPLATES``) with ``params``."""
    try:
        builder = TEMPLATES[name]
    except KeyError:
        raise ValueError(f"unknown template {name!r}: expected one of {', '.join(TEMPLATES)}") from None
    return builder(index, **params)
