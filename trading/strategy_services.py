"""The Django side of the strategies: configuration (validated and audited), the cooldown that holds
across restarts, and the record of every signal the engine sees.

Services (writes): ``ensure_strategy_configs``, ``strategy_config_update``, ``signal_record``,
``signal_process``. Selectors (reads): ``strategy_params``, ``cooldown_check``, ``strategy_signal_gate``.

``StrategyConfig.parameters`` keeps only the values that differ from the strategy's defaults (an empty
dict means every default), so a default tuned in code reaches every configuration that did not pin it.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
import pandas as pd
from django.db import IntegrityError, transaction
from django.db.models import Q

from journal.models import InstrumentType
from trading.core import contracts
from trading.core.strategies import registry
from trading.core.strategies.base import (
    BaseParams,
    ParamError,
    params_dict,
    register_guard_hook,
    validate_params,
)
from trading.core.strategies.cooldown import COOLDOWN, DUPLICATE, cooldown_remaining, signal_gate
from trading.core.strategies.evaluate import SignalRow
from trading.models import (
    Position,
    PositionStatus,
    Signal,
    SignalStatus,
    StrategyConfig,
    StrategyConfigAudit,
)

__all__ = [
    "CONFIG_FIELDS",
    "REJECT_REASONS",
    "cooldown_check",
    "ensure_strategy_configs",
    "features_json",
    "install_guard_metrics",
    "param_rows",
    "signal_process",
    "signal_record",
    "strategy_config_update",
    "strategy_params",
    "strategy_signal_gate",
]

# Why a signal was rejected (``Signal.reject_reason``).
DISABLED = "disabled"
SESSION_TIME = "session_time"
RISK_GATE = "risk_gate"
REJECT_REASONS = (COOLDOWN, DUPLICATE, DISABLED, SESSION_TIME, RISK_GATE)

CONFIG_FIELDS = (
    "enabled",
    "parameters",
    "capital_allocation",
    "max_open_positions",
    "cooldown_minutes",
    "index",
)
_BOUNDS = {
    "capital_allocation": (Decimal("0"), Decimal("1000000000")),
    "max_open_positions": (0, 50),
    "cooldown_minutes": (0, 1440),
}
_LIVE_MODES = ("PAPER", "LIVE")  # a backtest never moves the live cooldown


# --- metrics ---------------------------------------------------------------------------------------------


def _count_strategy_error(name: str, exc: BaseException) -> None:
    from trading import metrics

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


def _clean_field(name: str, value: Any) -> Any:
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
    lo, hi = _BOUNDS[name]
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
    ``StrategyConfigAudit`` row (who, when, old -> new). Returns the saved config.
    """
    unknown = sorted(set(changes) - set(CONFIG_FIELDS))
    if unknown:
        raise ParamError(unknown[0], f"not a configuration field (known: {', '.join(CONFIG_FIELDS)})")
    clean: dict[str, Any] = {}
    for name, value in changes.items():
        if name == "parameters":
            if not isinstance(value, Mapping):
                raise ParamError("parameters", f"{value!r} is not a mapping of parameter -> value")
            params = validate_params(registry.get(config.name), value)
            # store what was given, in the types of the dataclass (JSON-safe)
            full = params_dict(params)
            clean[name] = {k: full[k] for k in value}
        else:
            clean[name] = _clean_field(name, value)
    audit_user = user if getattr(user, "is_authenticated", False) else None
    with transaction.atomic():
        # the row is locked so that two editors cannot both read the same old values
        locked = StrategyConfig.objects.select_for_update().get(pk=config.pk)
        audits: list[StrategyConfigAudit] = []
        for name, new in clean.items():
            old = getattr(locked, name)
            if name == "parameters":
                old = old or {}
                for key in sorted(set(old) | set(new)):
                    if old.get(key) != new.get(key):
                        audits.append(
                            StrategyConfigAudit(
                                config=locked,
                                user=audit_user,
                                field=f"parameters.{key}",
                                old_value="" if key not in old else _text(old[key]),
                                new_value="" if key not in new else _text(new[key]),
                            )
                        )
            elif old != new:
                audits.append(
                    StrategyConfigAudit(
                        config=locked, user=audit_user, field=name, old_value=_text(old), new_value=_text(new)
                    )
                )
            setattr(locked, name, new)
        if audits:
            locked.save()
            StrategyConfigAudit.objects.bulk_create(audits)
    for name in CONFIG_FIELDS + ("updated_at", "last_signal_at"):
        setattr(config, name, getattr(locked, name))
    return config


# --- cooldown and duplicates ------------------------------------------------------------------------


def cooldown_check(config: StrategyConfig, bar_time: datetime) -> str | None:
    """None when the strategy's cooldown allows a signal at ``bar_time``; else why not (text).

    Reads ``last_signal_at`` from the database, so the cooldown holds across restarts and across
    workers.
    """
    last = StrategyConfig.objects.filter(pk=config.pk).values_list("last_signal_at", flat=True).first()
    left = cooldown_remaining(last, bar_time, config.cooldown_minutes)
    if not left:
        return None
    return (
        f"cooldown {config.cooldown_minutes} min: last signal at {last:%Y-%m-%d %H:%M} UTC, "
        f"{left.total_seconds() / 60:.0f} min left"
    )


def strategy_signal_gate(
    *, config: StrategyConfig, bar_time: datetime, direction: str, mode: str = "PAPER"
) -> tuple[str, str] | None:
    """The strategy's own gates for one signal: None to pass, else (reason, detail).

    In order: ``disabled``; ``cooldown`` (since the last accepted signal, persisted); ``duplicate``
    (an open position of this strategy and mode in that direction, unless ``allow_pyramiding``).
    """
    if not config.enabled:
        return DISABLED, "strategy is disabled"
    try:
        params = strategy_params(config)
    except (ParamError, KeyError) as e:
        return DISABLED, f"invalid configuration: {e}"
    last = StrategyConfig.objects.filter(pk=config.pk).values_list("last_signal_at", flat=True).first()
    open_directions = set(
        Position.objects.filter(strategy_name=config.name, mode=mode, status=PositionStatus.OPEN).values_list(
            "instrument_type", flat=True
        )
    )
    return signal_gate(
        bar_time=bar_time,
        direction=direction,
        last_signal_at=last,
        cooldown_minutes=config.cooldown_minutes,
        open_directions=open_directions,
        allow_pyramiding=params.allow_pyramiding,
    )


# --- signals -------------------------------------------------------------------------------------------


def _json_value(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)


def features_json(features: Mapping[str, Any] | pd.Series | None) -> dict[str, Any]:
    """A feature row as JSON-safe values: numpy scalars unwrapped, NaN -> null, dates ISO."""
    if features is None:
        return {}
    items = features.items()
    return {str(k): _json_value(v) for k, v in items}


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
    """Store one signal the engine saw - accepted, or rejected with ``reject_reason`` (one of
    ``REJECT_REASONS`` or the risk gate's own word) - with the feature values of its bar.

    Idempotent: a signal is unique per (strategy, index, bar, direction, mode); recording it again
    returns the stored one unchanged. An accepted PAPER/LIVE signal moves the strategy's
    ``last_signal_at`` forward (the cooldown's clock, persisted across restarts).
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
            signal, created = Signal.objects.get_or_create(
                **key,
                defaults=dict(
                    strength=float(strength),
                    reason=reason,
                    status=status,
                    reject_reason=reject_reason if status == SignalStatus.REJECTED else "",
                    reject_detail=reject_detail if status == SignalStatus.REJECTED else "",
                    features=features_json(features),
                ),
            )
            if created and status == SignalStatus.ACCEPTED and mode in _LIVE_MODES:
                StrategyConfig.objects.filter(name=strategy_name).filter(
                    Q(last_signal_at__isnull=True) | Q(last_signal_at__lt=bar_time)
                ).update(last_signal_at=bar_time)
    except IntegrityError:  # recorded by a concurrent worker between our read and our insert
        signal = Signal.objects.get(**key)
    return signal


def signal_process(
    *,
    config: StrategyConfig,
    signal: SignalRow,
    features: Mapping[str, Any] | pd.Series | None = None,
    index: str | None = None,
    mode: str = "PAPER",
    rejection: tuple[str, str] | None = None,
) -> Signal:
    """Gate one evaluated signal and record it: ``rejection`` (reason, detail) from the engine's own
    gates (session time, risk gate) wins; otherwise the strategy's gates (disabled, cooldown,
    duplicate) decide. Returns the stored ``Signal``; its ``status`` tells the engine whether to
    trade."""
    verdict = rejection or strategy_signal_gate(
        config=config, bar_time=signal.time, direction=signal.direction, mode=mode
    )
    return signal_record(
        strategy_name=signal.strategy,
        bar_time=signal.time,
        direction=signal.direction,
        strength=signal.strength,
        reason=signal.reason,
        features=features,
        status=SignalStatus.REJECTED if verdict else SignalStatus.ACCEPTED,
        reject_reason=verdict[0] if verdict else "",
        reject_detail=verdict[1] if verdict else "",
        index=index or config.index,
        mode=mode,
    )


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
