"""Combos as plain data, pure: a ``ComboSpec`` and an ``OpenCombo`` to JSON-safe dicts and back (the
journal keeps an open combo's engine state in ``Combo.engine`` so a restarted desk takes it back), and
a strategy's combo choice (``StrategyConfig.combo``) to the combos its signals trade (``combo_specs``).

``StrategyConfig.combo``, all keys optional (empty: the single bought option of today):

* ``template``: a template name (``combos.TEMPLATES``) traded for every signal, or ``call`` /
  ``put``: one per direction (e.g. a bull put spread for CALL, a bear call spread for PUT);
  ``params``: the template's keyword arguments (``lots``, ``otm_steps``, ``product``, ``exit_time``
  "HH:MM", ``stop_loss``/``target`` rupees, ``leg_stop`` a fraction...);
* ``spec``: a whole spec as ``spec_to_dict`` writes it (any legs and rules), for every signal.
"""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from trading.core.combos.model import (
    ComboSpec,
    LegSpec,
    LockAndTrail,
    Momentum,
    PricedLeg,
    ReEntry,
    StrikeRule,
    Threshold,
)
from trading.core.combos.templates import build_template
from trading.core.state import OpenCombo, SignalInput

DIRECTIONS = ("CALL", "PUT")


# --- specs ----------------------------------------------------------------------------------------------


def _threshold(t: Threshold | None) -> dict | None:
    return None if t is None else {"value": t.value, "unit": t.unit}


def _threshold_of(d: dict | None) -> Threshold | None:
    return None if not d else Threshold(float(d["value"]), str(d.get("unit", "POINTS")))


def _money(d: Decimal | None) -> str | None:
    return None if d is None else str(d)


def _hhmm(t: time | None) -> str | None:
    return None if t is None else t.strftime("%H:%M")


def _time_of(text: str | None) -> time | None:
    return None if text in (None, "") else time.fromisoformat(str(text))


def leg_to_dict(leg: LegSpec) -> dict:
    """A ``LegSpec`` as JSON-safe data."""
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


def leg_from_dict(d: dict) -> LegSpec:
    """The ``LegSpec`` of ``leg_to_dict`` (ValueError naming a bad field)."""
    strike = d.get("strike") or {}
    re_entry = d.get("re_entry")
    momentum = d.get("momentum")
    return LegSpec(
        instrument=d["instrument"],
        side=d["side"],
        lots=int(d.get("lots", 1)),
        expiry=d.get("expiry", "CURRENT_WEEK"),
        strike=StrikeRule(strike.get("kind", "ATM"), strike.get("value", 0)),
        stop_loss=_threshold_of(d.get("stop_loss")),
        target=_threshold_of(d.get("target")),
        trailing_stop=_threshold_of(d.get("trailing_stop")),
        re_entry=None if not re_entry else ReEntry(**re_entry),
        momentum=None
        if not momentum
        else Momentum(_threshold_of(momentum["threshold"]), momentum.get("direction", "UP")),
    )


def spec_to_dict(spec: ComboSpec) -> dict:
    """A ``ComboSpec`` as JSON-safe data (rupees as strings, times "HH:MM")."""
    lt = spec.lock_and_trail
    return {
        "name": spec.name,
        "index": spec.index,
        "legs": [leg_to_dict(leg) for leg in spec.legs],
        "product": spec.product,
        "entry_time": _hhmm(spec.entry_time),
        "exit_time": _hhmm(spec.exit_time),
        "stop_loss": _money(spec.stop_loss),
        "target": _money(spec.target),
        "lock_and_trail": None
        if lt is None
        else {
            "reach": str(lt.reach),
            "lock": str(lt.lock),
            "every": _money(lt.every),
            "trail_by": _money(lt.trail_by),
        },
    }


def spec_from_dict(d: dict) -> ComboSpec:
    """The ``ComboSpec`` of ``spec_to_dict`` (ValueError naming a bad field)."""
    lt = d.get("lock_and_trail")
    return ComboSpec(
        name=str(d.get("name", "custom")),
        index=str(d["index"]),
        legs=tuple(leg_from_dict(leg) for leg in d["legs"]),
        product=d.get("product", "MIS"),
        entry_time=_time_of(d.get("entry_time")) or time(9, 20),
        exit_time=_time_of(d.get("exit_time")),
        stop_loss=d.get("stop_loss"),
        target=d.get("target"),
        lock_and_trail=None
        if not lt
        else LockAndTrail(
            reach=Decimal(lt["reach"]),
            lock=Decimal(lt["lock"]),
            every=None if lt.get("every") is None else Decimal(lt["every"]),
            trail_by=None if lt.get("trail_by") is None else Decimal(lt["trail_by"]),
        ),
    )


def _template(index: str, name: str, params: dict) -> ComboSpec:
    kwargs = dict(params)
    for key in ("entry_time", "exit_time"):
        if key in kwargs:
            kwargs[key] = _time_of(kwargs[key])
    for key in ("stop_loss", "target"):
        if kwargs.get(key) is not None:
            kwargs[key] = Decimal(str(kwargs[key]))
    if kwargs.get("leg_stop") is not None:
        kwargs["leg_stop"] = Threshold.fraction(float(kwargs["leg_stop"]))
    try:
        return build_template(name, index, **kwargs)
    except TypeError as exc:  # an argument the template does not take
        raise ValueError(f"params: {exc}") from None


def combo_specs(index: str, choice: dict | None) -> dict[str, ComboSpec]:
    """The combos a strategy's signals trade, by direction (CALL, PUT), from its combo choice
    (module doc); empty when it trades single options. ValueError names the bad key."""
    c = choice or {}
    unknown = sorted(set(c) - {"template", "call", "put", "params", "spec"})
    if unknown:
        raise ValueError(f"unknown combo key {unknown[0]!r} (known: template, call, put, params, spec)")
    extra = c.get("params") or {}
    if not isinstance(extra, dict):
        raise ValueError("params must be an object of template arguments")
    out: dict[str, ComboSpec] = {}
    if c.get("spec"):
        out = dict.fromkeys(DIRECTIONS, spec_from_dict({**c["spec"], "index": index}))
    if c.get("template"):
        out = dict.fromkeys(DIRECTIONS, _template(index, str(c["template"]), extra))
    for direction in DIRECTIONS:
        name = c.get(direction.lower())
        if name:
            out[direction] = _template(index, str(name), extra)
    return out


# --- open combos -----------------------------------------------------------------------------------------


def _leg_data(leg: PricedLeg) -> dict:
    return {
        "instrument": leg.instrument,
        "side": leg.side,
        "strike": leg.strike,
        "expiry": leg.expiry.isoformat(),
        "lots": leg.lots,
        "premium": leg.premium,
        "lot_size": leg.lot_size,
        "iv": leg.iv,
    }


def _int_keys(d: dict | None) -> dict[int, Any]:
    return {int(k): v for k, v in (d or {}).items()}


def combo_state(combo: OpenCombo) -> dict:
    """What the engine needs to take an open combo back after a restart, JSON-safe."""
    signal = combo.signal
    return {
        "spec": spec_to_dict(combo.spec),
        "legs": [_leg_data(leg) for leg in combo.legs],
        "direction": combo.direction,
        "opened_at": combo.opened_at.isoformat(),
        "margin": str(combo.margin),
        "margin_is_estimate": combo.margin_is_estimate,
        "status": combo.status,
        "leg_status": combo.leg_status,
        "leg_orders": combo.leg_orders,
        "leg_positions": combo.leg_positions,
        "reentries": combo.reentries,
        "momentum_reference": {k: str(v) for k, v in combo.momentum_reference.items()},
        "peak_pnl": str(combo.peak_pnl),
        "realised": str(combo.realised),
        "gross": str(combo.gross),
        "charges": str(combo.charges),
        "trades": list(combo.trades),
        "exit_type": combo.exit_type,
        "exit_reason": combo.exit_reason,
        "note": combo.note,
        "signal": None
        if signal is None
        else {
            "strategy": signal.strategy,
            "direction": signal.direction,
            "strength": signal.strength,
            "reason": signal.reason,
        },
        "signal_bar_time": combo.signal_bar_time.isoformat() if combo.signal_bar_time else None,
        "payoff_known": combo.payoff_known,
        "max_profit": _money(combo.max_profit),
        "max_loss": _money(combo.max_loss),
        "breakevens": list(combo.breakevens),
    }


def combo_from_state(combo_id: str, strategy: str, index: str, data: dict) -> OpenCombo:
    """The ``OpenCombo`` of ``combo_state``."""
    signal = data.get("signal")
    bar_time = data.get("signal_bar_time")
    return OpenCombo(
        combo_id=combo_id,
        strategy=strategy,
        index=index,
        spec=spec_from_dict(data["spec"]),
        legs=tuple(PricedLeg(**{**leg, "expiry": date.fromisoformat(leg["expiry"])}) for leg in data["legs"]),
        direction=data.get("direction", ""),
        opened_at=datetime.fromisoformat(data["opened_at"]),
        margin=Decimal(data.get("margin", "0")),
        margin_is_estimate=bool(data.get("margin_is_estimate", True)),
        status=data.get("status", "OPEN"),
        leg_status=_int_keys(data.get("leg_status")),
        leg_orders=_int_keys(data.get("leg_orders")),
        leg_positions=_int_keys(data.get("leg_positions")),
        reentries=_int_keys(data.get("reentries")),
        momentum_reference={k: Decimal(v) for k, v in _int_keys(data.get("momentum_reference")).items()},
        peak_pnl=Decimal(data.get("peak_pnl", "0")),
        realised=Decimal(data.get("realised", "0")),
        gross=Decimal(data.get("gross", "0")),
        charges=Decimal(data.get("charges", "0")),
        trades=list(data.get("trades", [])),
        exit_type=data.get("exit_type", ""),
        exit_reason=data.get("exit_reason", ""),
        note=data.get("note", ""),
        signal=None if not signal else SignalInput(**signal),
        signal_bar_time=datetime.fromisoformat(bar_time) if bar_time else None,
        payoff_known=bool(data.get("payoff_known", False)),
        max_profit=None if data.get("max_profit") is None else Decimal(data["max_profit"]),
        max_loss=None if data.get("max_loss") is None else Decimal(data["max_loss"]),
        breakevens=tuple(data.get("breakevens", ())),
    )
