"""The Django side of the strategies: configuration (validated and audited) and the record of every
signal the engine sees. The cooldown is the engine's (``trading.core.risk.cooldown_gate``, fed from the
stored accepted signals after a restart).

Services (writes): ``ensure_strategy_configs``, ``strategy_config_update``, ``signal_record``.
Selectors (reads): ``strategy_params``, ``param_rows``, ``with_last_signal``.

``StrategyConfig.parameters`` keeps only the values that differ from the strategy's defaults (an empty
dict means every default), so a default tuned in code reaches every configuration that did not pin it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.db.models import Max, OuterRef, QuerySet, Subquery

from trading import access, metrics
from trading.audit import user_or_none
from trading.choices import InstrumentType
from trading.core import contracts
from trading.core.combo_store import combo_specs
from trading.core.serialize import json_safe
from trading.core.strategies import registry
from trading.core.strategies.base import BaseParams, ParamError, params_dict, validate_params
from trading.core.strategies.guard import register_guard_hook
from trading.strategies.models import Signal, SignalStatus, StrategyConfig, StrategyConfigAudit

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CONFIG_FIELDS",
    "FIELD_BOUNDS",
    "clean_field",
    "clean_combo",
    "combo_label",
    "ensure_strategy_configs",
    "install_guard_metrics",
    "param_rows",
    "signal_record",
    "strategy_config_update",
    "strategy_params",
    "with_last_signal",
]

CONFIG_FIELDS = (
    "enabled",
    "parameters",
    "capital_allocation",
    "max_open_positions",
    "cooldown_minutes",
    "index",
    "combo",
)
# Inclusive bounds of the numeric configuration fields.
FIELD_BOUNDS = {
    "capital_allocation": (Decimal("0"), Decimal("1000000000")),
    "max_open_positions": (0, 50),
    "cooldown_minutes": (0, 1440),
}
_LIVE_MODES = ("PAPER", "LIVE")  # the modes whose signals the engine's cooldown counts


# --- metrics ---------------------------------------------------------------------------------------------


def _count_strategy_error(name: str, exc: BaseException) -> None:
    metrics.strategy_error(name)


def install_guard_metrics() -> None:
    """Count every exception the strategy guard catches in ``trading_strategy_errors_total``
    (idempotent; called from ``TradingConfig.ready``)."""
    register_guard_hook(_count_strategy_error)


# --- configuration ----------------------------------------------------------------------------------


def ensure_strategy_configs() -> list[StrategyConfig]:
    """Make sure every registered strategy has a ``StrategyConfig`` (defaults: enabled, its default
    parameters, its default cooldown); returns all of them in registry order. Existing rows are
    left as they are."""
    have = {c.name: c for c in StrategyConfig.objects.all()}
    missing = [
        StrategyConfig(name=s.name, parameters={}, cooldown_minutes=s.cooldown_minutes)
        for s in registry.all_strategies()
        if s.name not in have
    ]
    if missing:
        StrategyConfig.objects.bulk_create(missing, ignore_conflicts=True)
        have = {c.name: c for c in StrategyConfig.objects.all()}
    return [have[name] for name in registry.names() if name in have]


def strategy_params(config: StrategyConfig) -> BaseParams:
    """The strategy's effective parameters: its defaults with the config's values over them.
    Raises ``ParamError`` if the stored values no longer validate, ``KeyError`` for an unknown name."""
    return validate_params(registry.get(config.name), config.parameters or {})


def with_last_signal(configs: QuerySet[StrategyConfig]) -> QuerySet[StrategyConfig]:
    """``configs`` with ``last_signal_at``: the bar start (UTC) of each strategy's latest accepted
    PAPER/LIVE signal (None before its first), the clock the engine's cooldown runs from."""
    latest = (
        Signal.objects.filter(
            strategy_name=OuterRef("name"), status=SignalStatus.ACCEPTED, mode__in=_LIVE_MODES
        )
        .order_by()
        .values("strategy_name")
        .annotate(latest=Max("bar_time"))
        .values("latest")
    )
    return configs.annotate(last_signal_at=Subquery(latest))


def clean_field(name: str, value: Any) -> Any:
    """Validate one configuration field; return it in its stored type or raise ``ParamError``."""
    if name == "enabled":
        if not isinstance(value, bool):
            raise ParamError(name, f"{value!r} is not true/false")
        return value
    if name == "index":
        if not isinstance(value, str) or value.upper() not in contracts.INDICES:
            raise ParamError(name, f"{value!r} is not one of {', '.join(contracts.INDICES)}")
        return value.upper()
    if name == "capital_allocation":
        try:
            value = Decimal(str(value)).quantize(Decimal("0.01"))
        except (InvalidOperation, ValueError):
            raise ParamError(name, f"{value!r} is not an amount of rupees") from None
    elif isinstance(value, bool) or not isinstance(value, int | float) or float(value) != int(value):
        raise ParamError(name, f"{value!r} is not a whole number")
    else:
        value = int(value)
    lo, hi = FIELD_BOUNDS[name]
    if value < lo:
        raise ParamError(name, f"{value} is below the minimum {lo}")
    if value > hi:
        raise ParamError(name, f"{value} is above the maximum {hi}")
    return value


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def strategy_config_update(*, config: StrategyConfig, user: Any, **changes: Any) -> StrategyConfig:
    """Change a strategy's configuration: validate every change, save, and audit each changed field.

    ``changes`` are configuration fields (``CONFIG_FIELDS``). ``parameters`` replaces the stored
    parameter values (a partial dict; missing ones take their defaults) and is validated against the
    strategy's Params dataclass. Nothing is saved if any value is invalid: ``ParamError`` names the
    field (``parameters`` keys by their own name, e.g. ``pcr_high``) and the bound it broke. Every
    changed field - each parameter separately, as ``parameters.<name>`` - gets a
    ``StrategyConfigAudit`` row (who, when, old -> new). Returns the saved config. A ``user`` needs
    ``access.CONFIGURE_STRATEGIES`` (``PermissionDenied``); None is the system itself.
    """
    if user is not None:
        access.require(user, access.CONFIGURE_STRATEGIES)
    clean = _validated_changes(config, changes)
    with transaction.atomic():
        # the row is locked so that two editors cannot both read the same old values
        locked = StrategyConfig.objects.select_for_update().get(pk=config.pk)
        audits = [
            StrategyConfigAudit(
                config=locked, user=user_or_none(user), field=field, old_value=old, new_value=new
            )
            for field, old, new in _changed_fields(locked, clean)
        ]
        for name, value in clean.items():
            setattr(locked, name, value)
        if audits:
            locked.save()
            StrategyConfigAudit.objects.bulk_create(audits)
    for name in CONFIG_FIELDS + ("updated_at",):
        setattr(config, name, getattr(locked, name))
    return config


def _validated_changes(config: StrategyConfig, changes: Mapping[str, Any]) -> dict[str, Any]:
    """``changes`` in their stored types, or ``ParamError`` for the first invalid one. Parameters are
    kept as given (only those named), in the types of the strategy's Params dataclass (JSON-safe)."""
    unknown = sorted(set(changes) - set(CONFIG_FIELDS))
    if unknown:
        raise ParamError(unknown[0], f"not a configuration field (known: {', '.join(CONFIG_FIELDS)})")
    clean: dict[str, Any] = {}
    for name, value in changes.items():
        if name == "combo":
            clean[name] = clean_combo(str(changes.get("index") or config.index), value)
            continue
        if name != "parameters":
            clean[name] = clean_field(name, value)
            continue
        if not isinstance(value, Mapping):
            raise ParamError("parameters", f"{value!r} is not a mapping of parameter -> value")
        full = params_dict(validate_params(registry.get(config.name), value))
        clean[name] = {key: full[key] for key in value}
    return clean


def clean_combo(index: str, value: Any) -> dict:
    """A strategy's combo choice (``core.combo_store.combo_specs``), or ``ParamError`` on ``combo``."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ParamError("combo", f"{value!r} is not an object")
    try:
        combo_specs(index, dict(value))
    except (ValueError, KeyError, TypeError, AttributeError, ArithmeticError) as exc:
        raise ParamError("combo", str(exc).strip("'\"")) from None
    return dict(value)


def combo_label(combo: Mapping[str, Any] | None) -> str:
    """How a strategy's signals trade, in words: "one bought option", "short_straddle", or
    "CALL: bull_put_spread, PUT: bear_call_spread"."""
    c = combo or {}
    if c.get("spec"):
        return f"custom combo {c['spec'].get('name', '')}".strip()
    if c.get("template"):
        return str(c["template"])
    parts = [f"{d.upper()}: {c[d]}" for d in ("call", "put") if c.get(d)]
    return ", ".join(parts) or "one bought option"


def _changed_fields(config: StrategyConfig, clean: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(field, old text, new text) of each field ``clean`` changes on ``config``; each parameter is its
    own field, ``parameters.<name>`` ('' for a parameter that was or becomes its default)."""
    changed: list[tuple[str, str, str]] = []
    for name, new in clean.items():
        old = getattr(config, name)
        if name != "parameters":
            if old != new:
                changed.append((name, _text(old), _text(new)))
            continue
        old = old or {}
        for key in sorted(set(old) | set(new)):
            if old.get(key) != new.get(key):
                before = "" if key not in old else _text(old[key])
                after = "" if key not in new else _text(new[key])
                changed.append((f"parameters.{key}", before, after))
    return changed


# --- signals -------------------------------------------------------------------------------------------


def signal_record(
    *,
    strategy_name: str,
    bar_time: datetime,
    direction: str,
    strength: float,
    reason: str,
    features: Mapping[str, Any] | pd.Series | None = None,
    status: str = SignalStatus.ACCEPTED,
    reject_reason: str = "",
    reject_detail: str = "",
    index: str = "NIFTY",
    mode: str = "PAPER",
) -> Signal:
    """Store one signal the engine saw - accepted, or rejected with ``reject_reason`` (the reason code
    of the engine's gate, ``trading.core.risk.R_*``) - with the feature values of its bar
    (``trading.core.serialize.json_safe``).

    Idempotent: a signal is unique per (strategy, index, bar, direction, mode); recording it again
    returns the stored one unchanged. The engine's cooldown reads the latest accepted signal back
    from this table after a restart.
    """
    if direction not in InstrumentType.values:
        raise ValueError(f"direction {direction!r} is not CALL or PUT")
    if status not in SignalStatus.values:
        raise ValueError(f"status {status!r} is not ACCEPTED or REJECTED")
    if status == SignalStatus.REJECTED and not reject_reason:
        raise ValueError("a rejected signal needs its reject_reason")
    key = dict(strategy_name=strategy_name, index=index, bar_time=bar_time, direction=direction, mode=mode)
    try:
        with transaction.atomic():
            signal, _ = Signal.objects.get_or_create(
                **key,
                defaults=dict(
                    strength=float(strength),
                    reason=reason,
                    status=status,
                    reject_reason=reject_reason if status == SignalStatus.REJECTED else "",
                    reject_detail=reject_detail if status == SignalStatus.REJECTED else "",
                    features=json_safe(features),
                ),
            )
    except IntegrityError:  # recorded by a concurrent worker between our read and our insert
        signal = Signal.objects.get(**key)
    return signal


def param_rows(config: StrategyConfig) -> list[dict[str, Any]]:
    """For pages and the API: each parameter's effective value, default, bounds, help, and whether
    the configuration overrides it."""
    strategy = registry.get(config.name)
    stored = config.parameters or {}
    try:
        effective = params_dict(strategy_params(config))
    except ParamError:
        effective = params_dict(strategy.default_params())
    rows = []
    for f in dataclasses.fields(strategy.Params):
        default = getattr(strategy.default_params(), f.name)
        rows.append(
            {
                "name": f.name,
                "value": effective[f.name],
                "default": default,
                "min": f.metadata.get("min"),
                "max": f.metadata.get("max"),
                "help": f.metadata.get("help", ""),
                "overridden": f.name in stored,
            }
        )
    return rows
