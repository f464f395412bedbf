"""A ``ComboSpec`` as plain JSON data and back: what a saved combo strategy stores. Pure.

``combo_to_dict(spec)`` gives only JSON types (strings, numbers, lists, dicts, None); amounts of
rupees are strings (``Decimal``), times ``HH:MM``; ``combo_from_dict(data)`` rebuilds the same spec
(``combo_from_dict(combo_to_dict(spec)) == spec``) and raises ``ValueError`` naming the field for
anything the model refuses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, time
from decimal import Decimal
from typing import Any

from trading.core import chain as chain_mod
from trading.core import contracts
from trading.core.combos.model import (
    CE,
    FUT,
    FUTURE_EXPIRY_RULES,
    OPTION_EXPIRY_RULES,
    ComboSpec,
    LegSpec,
    LockAndTrail,
    Momentum,
    PricedLeg,
    ReEntry,
    StrikeRule,
    Threshold,
)
from trading.core.combos.resolve import resolve_expiry


def _threshold(t: Threshold | None) -> dict[str, Any] | None:
    return None if t is None else {"value": t.value, "unit": t.unit}


def _amount(d: Decimal | None) -> str | None:
    return None if d is None else str(d)


def _hhmm(t: time | None) -> str | None:
    return None if t is None else t.strftime("%H:%M")


def leg_to_dict(leg: LegSpec) -> dict[str, Any]:
    """One ``LegSpec`` as JSON data."""
    return {
        "instrument": leg.instrument,
        "side": leg.side,
        "lots": leg.lots,
        "expiry": leg.expiry,
        "strike": {"kind": leg.strike.kind, "value": leg.strike.value},
        "stop_loss": _threshold(leg.stop_loss),
        "target": _threshold(leg.target),
        "trailing_stop": _threshold(leg.trailing_stop),
        "re_entry": None
        if leg.re_entry is None
        else {
            "max_times": leg.re_entry.max_times,
            "after_stop": leg.re_entry.after_stop,
            "after_target": leg.re_entry.after_target,
        },
        "momentum": None
        if leg.momentum is None
        else {"threshold": _threshold(leg.momentum.threshold), "direction": leg.momentum.direction},
    }


def combo_to_dict(spec: ComboSpec) -> dict[str, Any]:
    """``spec`` as JSON data (module doc)."""
    lat = spec.lock_and_trail
    return {
        "name": spec.name,
        "index": spec.index,
        "product": spec.product,
        "entry_time": _hhmm(spec.entry_time),
        "exit_time": _hhmm(spec.exit_time),
        "stop_loss": _amount(spec.stop_loss),
        "target": _amount(spec.target),
        "lock_and_trail": None
        if lat is None
        else {
            "reach": _amount(lat.reach),
            "lock": _amount(lat.lock),
            "every": _amount(lat.every),
            "trail_by": _amount(lat.trail_by),
        },
        "legs": [leg_to_dict(leg) for leg in spec.legs],
    }


def _field(data: Mapping[str, Any], name: str, where: str) -> Any:
    if not isinstance(data, Mapping):
        raise ValueError(f"{where} must be an object")
    return data.get(name)


def _threshold_from(value: Any, where: str) -> Threshold | None:
    if value is None:
        return None
    return Threshold(_field(value, "value", where), _field(value, "unit", where) or "POINTS")


def _time_from(value: Any, where: str) -> time | None:
    if value is None:
        return None
    try:
        return time.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{where} must be a time HH:MM, not {value!r}") from None


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def leg_from_dict(data: Mapping[str, Any], where: str = "leg") -> LegSpec:
    """A ``LegSpec`` from ``leg_to_dict`` data; ``where`` names it in errors."""
    strike = _field(data, "strike", where) or {"kind": "ATM", "value": 0}
    re_entry = data.get("re_entry")
    momentum = data.get("momentum")
    return LegSpec(
        instrument=data.get("instrument"),
        side=data.get("side"),
        lots=data.get("lots", 1),
        expiry=data.get("expiry", "CURRENT_WEEK"),
        strike=StrikeRule(
            _field(strike, "kind", f"{where}.strike"), _field(strike, "value", f"{where}.strike")
        ),
        stop_loss=_threshold_from(data.get("stop_loss"), f"{where}.stop_loss"),
        target=_threshold_from(data.get("target"), f"{where}.target"),
        trailing_stop=_threshold_from(data.get("trailing_stop"), f"{where}.trailing_stop"),
        re_entry=None
        if re_entry is None
        else ReEntry(
            _field(re_entry, "max_times", f"{where}.re_entry"),
            bool(re_entry.get("after_stop", True)),
            bool(re_entry.get("after_target", False)),
        ),
        momentum=None
        if momentum is None
        else Momentum(
            _threshold_from(_field(momentum, "threshold", f"{where}.momentum"), f"{where}.momentum"),
            momentum.get("direction", "UP"),
        ),
    )


def combo_from_dict(data: Mapping[str, Any]) -> ComboSpec:
    """The ``ComboSpec`` of ``combo_to_dict`` data (module doc)."""
    if not isinstance(data, Mapping):
        raise ValueError("a combo must be an object")
    legs = data.get("legs")
    if not isinstance(legs, list):
        raise ValueError("legs must be a list")
    lat = data.get("lock_and_trail")
    entry = _time_from(data.get("entry_time"), "entry_time")
    return ComboSpec(
        name=str(data.get("name", "")),
        index=data.get("index", "NIFTY"),
        legs=tuple(leg_from_dict(leg, f"legs[{i}]") for i, leg in enumerate(legs)),
        product=data.get("product", "MIS"),
        entry_time=entry if entry is not None else time(9, 20),
        exit_time=_time_from(data.get("exit_time"), "exit_time"),
        stop_loss=_decimal(data.get("stop_loss")),
        target=_decimal(data.get("target")),
        lock_and_trail=None
        if lat is None
        else LockAndTrail(
            _decimal(_field(lat, "reach", "lock_and_trail")),
            _decimal(_field(lat, "lock", "lock_and_trail")),
            _decimal(lat.get("every")),
            _decimal(lat.get("trail_by")),
        ),
    )


# --- concrete legs back to rules ---------------------------------------------------------------------


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
