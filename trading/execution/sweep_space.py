"""The parameter space of a sweep: a strategy's numeric parameters and their declared bounds, axes
parsed from ``name=from:to:steps`` or ``name=a,b,c``, and the combinations of a grid or a seeded
random sample, each value checked by the strategy's own rules."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from django.core.exceptions import ValidationError

from trading.core.strategies import registry as strategy_registry
from trading.core.strategies.base import ParamError, param_bounds, validate_params
from trading.execution.models import (
    SweepSample,
)

MAX_COMBINATIONS = 1000
_NOT_SWEPT = frozenset({"regimes", "active"})  # parameters a sweep never varies


def numeric_parameters(strategy: str) -> dict[str, dict[str, Any]]:
    """The parameters of ``strategy`` a sweep can vary (numbers), with their declared bounds."""
    return {
        b["name"]: b
        for b in param_bounds(strategy_registry.get(strategy).Params)
        if b["name"] not in _NOT_SWEPT and b["type"] in ("int", "float")
    }


def parse_axes(lines: Sequence[str] | str) -> dict[str, str]:
    """``["gap_em=0.02:0.10:5", "memory=30,60"]`` (or the same one per line) -> {name: spec}."""
    if isinstance(lines, str):
        lines = lines.splitlines()
    out: dict[str, str] = {}
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        name, _, spec = line.partition("=")
        name = name.strip()
        if not name:
            raise ValidationError({"space": f"{line!r}: expected name=low:high:steps or name=v1,v2"})
        if name in out:
            raise ValidationError({"space": f"{name}: given twice"})
        out[name] = spec.strip()
    if not out:
        raise ValidationError({"space": "name at least one parameter to sweep"})
    return out


def _number(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValidationError({"space": f"{name}: {text!r} is not a number"}) from None
    if not math.isfinite(value):
        raise ValidationError({"space": f"{name}: {text!r} is not a finite number"})
    return value


def _check_value(strategy: str, base: Mapping[str, Any], name: str, value: Any) -> None:
    try:
        validate_params(strategy_registry.get(strategy), {**base, name: value})
    except ParamError as exc:
        raise ValidationError({"space": f"{exc.field}: {exc.message}"}) from None


def _axis_values(strategy: str, base: Mapping, name: str, spec: str, bound: Mapping) -> list:
    """A grid axis: ``low:high:steps`` (evenly spaced, both ends) or ``v1,v2,...``."""
    integer = bound["type"] == "int"
    if ":" in spec:
        parts = spec.split(":")
        if len(parts) != 3:
            raise ValidationError({"space": f"{name}: a grid axis is low:high:steps or v1,v2,..."})
        lo, hi = _number(name, parts[0]), _number(name, parts[1])
        steps = _number(name, parts[2])
        if steps != int(steps) or not 1 <= steps <= MAX_COMBINATIONS:
            raise ValidationError({"space": f"{name}: steps must be a whole number 1..{MAX_COMBINATIONS}"})
        raw = np.linspace(lo, hi, int(steps)).tolist()
    elif spec:
        raw = [_number(name, part) for part in spec.split(",") if part.strip()]
    else:
        raise ValidationError({"space": f"{name}: a grid axis needs low:high:steps or values"})
    values: list = []
    for v in raw:
        v = int(round(v)) if integer else round(float(v), 10)
        if v not in values:
            values.append(v)
    for v in values:
        _check_value(strategy, base, name, v)
    return values


def _axis_range(strategy: str, base: Mapping, name: str, spec: str, bound: Mapping) -> list:
    """A random axis: ``low:high``, or nothing for the declared bounds."""
    if spec:
        parts = spec.split(":")
        if len(parts) != 2:
            raise ValidationError({"space": f"{name}: a random axis is low:high (or nothing: its bounds)"})
        lo, hi = _number(name, parts[0]), _number(name, parts[1])
    else:
        if bound["min"] is None or bound["max"] is None:
            raise ValidationError({"space": f"{name}: declares no bounds, give low:high"})
        lo, hi = float(bound["min"]), float(bound["max"])
    if hi < lo:
        raise ValidationError({"space": f"{name}: {hi} is below {lo}"})
    if bound["type"] == "int":
        lo, hi = math.ceil(lo), math.floor(hi)
    for v in (lo, hi):
        _check_value(strategy, base, name, v)
    return [lo, hi]


def sweep_space(
    *,
    strategy: str,
    sample: str,
    axes: Mapping[str, str],
    base: Mapping[str, Any],
    count: int | None = None,
    sample_seed: int | None = None,
) -> tuple[dict[str, list], list[dict[str, Any]]]:
    """The stored space ({name: values} for a grid, {name: [low, high]} for a random sample) and the
    points, in a fixed order (the grid's product; the sample's draws from ``sample_seed``). Every
    point is checked whole against the strategy's ``Params`` (e.g. ``vix_low`` < ``vix_high``)."""
    known = numeric_parameters(strategy)
    for name in axes:
        if name not in known:
            raise ValidationError(
                {"space": f"{name}: not a numeric parameter of {strategy} (known: {', '.join(known)})"}
            )
    if sample == SweepSample.GRID:
        space = {n: _axis_values(strategy, base, n, spec, known[n]) for n, spec in axes.items()}
        size = math.prod(len(v) for v in space.values())
        if size > MAX_COMBINATIONS:
            raise ValidationError({"space": f"{size} combinations: at most {MAX_COMBINATIONS}"})
        points = [dict(zip(space, values, strict=True)) for values in itertools.product(*space.values())]
    elif sample == SweepSample.RANDOM:
        if count is None or not 1 <= count <= MAX_COMBINATIONS:
            raise ValidationError({"count": f"a random sample needs 1..{MAX_COMBINATIONS} combinations"})
        if sample_seed is None:
            raise ValidationError({"sample_seed": "a random sample needs its seed (to reproduce)"})
        space = {n: _axis_range(strategy, base, n, spec, known[n]) for n, spec in axes.items()}
        rng = np.random.default_rng(sample_seed)
        points = []
        for _ in range(count):
            point: dict[str, Any] = {}
            for name, (lo, hi) in space.items():
                if known[name]["type"] == "int":
                    point[name] = int(rng.integers(lo, hi + 1))
                else:
                    point[name] = round(float(rng.uniform(lo, hi)), 6)
            points.append(point)
    else:
        raise ValidationError({"sample": f"{sample!r}: expected GRID or RANDOM"})
    for point in points:
        try:
            validate_params(strategy_registry.get(strategy), {**base, **point})
        except ParamError as exc:
            raise ValidationError({"space": f"{point}: {exc.field}: {exc.message}"}) from None
    return space, points
