"""The strategy contract, its parameters, VIX regimes and threshold scaling.

A strategy is a class with

* ``name`` - its registry name (the class name),
* ``Params`` - a frozen dataclass of its parameters: defaults and bounds (``param(default, min=, max=)``),
  and per-VIX-regime overrides in ``regimes`` (``{"high": {"pcr_high": 1.7}}``),
* ``lookback`` - how many feature rows it needs: its signal on the last row of any window of at least
  ``lookback`` rows equals its signal on that row computed over the whole history,
* ``columns`` - the feature columns it reads (``docs/contracts.md``),
* ``compute(columns, params) -> SignalArrays`` - the vectorised rule, numpy in and numpy out, and
  ``generate(features, params) -> DataFrame`` (``direction`` "CALL"/"PUT"/"", ``strength`` 0..1,
  ``reason``), indexed like ``features``.

Rules every strategy keeps: row t uses rows <= t only (rolling windows and backward shifts); a signal is
an *event*, fired on the bar its condition becomes true; every price distance or move size is a
multiple of the one-day expected move ``spot x VIX/100/sqrt(252)`` (points), so thresholds widen with
India VIX; no broker, no database, no clock. Strategy code is always called through the guard
(``strategies.guard.run_guarded``/``compute_guarded``, or ``evaluate``), which logs and counts an
exception and returns None instead of raising.

Pure: numpy and pandas only, no Django.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

__all__ = [
    "BaseParams",
    "REGIMES",
    "ParamError",
    "RegimeParams",
    "SignalArrays",
    "Strategy",
    "columns_of",
    "crossed_above",
    "crossed_below",
    "crossover",
    "edge",
    "event",
    "first_in_session",
    "session_starts",
    "expected_move",
    "param",
    "param_bounds",
    "params_dict",
    "reasons_for",
    "regime_codes",
    "rolling_max",
    "rolling_mean",
    "rolling_min",
    "scale_by_vix",
    "shift",
    "strength_from_excess",
    "validate_params",
]

SESSIONS_PER_YEAR = 252
REGIMES: tuple[str, ...] = ("low", "normal", "high")
LOW, NORMAL, HIGH = 0, 1, 2
_REGIME_CODE = {"low": LOW, "normal": NORMAL, "high": HIGH}
_REGIME_NAMES = np.array(REGIMES, dtype=object)
DIRECTION_LABELS = {1: "CALL", -1: "PUT", 0: ""}
_MICRO = 1_000_000.0
QUIET_MAX = 120  # the bound of ``quiet_bars``; every ``lookback`` includes it


# --- parameters ----------------------------------------------------------------------------------------


class ParamError(ValueError):
    """A parameter value refused: ``field`` names the parameter, ``message`` says which bound it broke."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def param(default: Any, *, min: float | None = None, max: float | None = None, help: str = "") -> Any:
    """A dataclass field with bounds (inclusive) kept in its metadata, for ``validate_params``."""
    meta = {"min": min, "max": max, "help": help}
    if isinstance(default, dict | list):
        return field(default_factory=lambda: copy.deepcopy(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class BaseParams:
    """Parameters every strategy has.

    ``vix_low``/``vix_high`` split India VIX into the regimes low (VIX < vix_low), normal and high
    (VIX > vix_high); ``regimes`` maps a regime to threshold values (float fields) used while VIX
    is in it, and ``active: False`` there silences the strategy in that regime. ``quiet_bars``: a
    condition fires again only after that many bars without it (so a flickering condition is one
    event). How many positions a strategy may hold at once is its configuration's
    ``max_open_positions``, enforced by the engine's risk gate.
    """

    vix_low: float = param(12.0, min=5.0, max=40.0, help="VIX below this is the low regime")
    vix_high: float = param(20.0, min=8.0, max=90.0, help="VIX above this is the high regime")
    active: bool = param(True, help="trade in this regime (override per regime)")
    quiet_bars: int = param(15, min=1, max=QUIET_MAX, help="bars without the condition before it fires again")
    regimes: dict = param({}, help="per-regime overrides: {'high': {'field': value}}")


def param_bounds(params_cls: type[BaseParams]) -> list[dict[str, Any]]:
    """One dict per field: name, type name, default, min, max, help (for pages and the API)."""
    hints = typing.get_type_hints(params_cls)
    out = []
    for f in dataclasses.fields(params_cls):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        out.append(
            {
                "name": f.name,
                "type": getattr(hints[f.name], "__name__", str(hints[f.name])),
                "default": default,
                "min": f.metadata.get("min"),
                "max": f.metadata.get("max"),
                "help": f.metadata.get("help", ""),
            }
        )
    return out


def _coerce(name: str, kind: Any, meta: Mapping[str, Any], value: Any) -> Any:
    """Check one scalar value against its field's type and bounds; return it in the field's type."""
    if kind is bool:
        if not isinstance(value, bool | np.bool_):
            raise ParamError(name, f"{value!r} is not true/false")
        return bool(value)
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.integer | np.floating):
        raise ParamError(name, f"{value!r} is not a number")
    if not math.isfinite(float(value)):
        raise ParamError(name, f"{value!r} is not a finite number")
    if kind is int:
        if float(value) != int(value):
            raise ParamError(name, f"{value!r} is not a whole number")
        value = int(value)
    else:
        value = float(value)
    lo, hi = meta.get("min"), meta.get("max")
    if lo is not None and value < lo:
        raise ParamError(name, f"{value} is below the minimum {lo}")
    if hi is not None and value > hi:
        raise ParamError(name, f"{value} is above the maximum {hi}")
    return value


def validate_params(
    strategy: Strategy | type[Strategy] | type[BaseParams], data: Mapping[str, Any] | None
) -> Any:
    """Validate ``data`` (a partial dict of parameter values) against the strategy's Params dataclass.

    Missing fields take their defaults; returns the Params instance. Raises ``ParamError(field,
    message)`` naming the field and the bound it broke, for an unknown field, a wrong type, a value
    out of bounds, an unknown regime or a bad regime override (field ``regimes.<regime>.<name>``).
    """
    params_cls = (
        strategy if isinstance(strategy, type) and issubclass(strategy, BaseParams) else strategy.Params
    )
    data = dict(data or {})
    hints = typing.get_type_hints(params_cls)
    by_name = {f.name: f for f in dataclasses.fields(params_cls)}
    values: dict[str, Any] = {}
    for name, value in data.items():
        f = by_name.get(name)
        if f is None:
            raise ParamError(name, f"unknown parameter (known: {', '.join(sorted(by_name))})")
        if name == "regimes":
            values[name] = _validate_regimes(value, by_name, hints)
        else:
            values[name] = _coerce(name, hints[name], f.metadata, value)
    params = params_cls(**values)
    if params.vix_low >= params.vix_high:
        raise ParamError("vix_high", f"{params.vix_high} must be above vix_low {params.vix_low}")
    return params


def _validate_regimes(value: Any, by_name: Mapping[str, dataclasses.Field], hints: Mapping[str, Any]) -> dict:
    if not isinstance(value, Mapping):
        raise ParamError("regimes", f"{value!r} is not a mapping of regime -> overrides")
    out: dict[str, dict[str, Any]] = {}
    for regime, overrides in value.items():
        if regime not in _REGIME_CODE:
            raise ParamError(f"regimes.{regime}", f"unknown regime (known: {', '.join(REGIMES)})")
        if not isinstance(overrides, Mapping):
            raise ParamError(f"regimes.{regime}", f"{overrides!r} is not a mapping of field -> value")
        out[regime] = {}
        for name, v in overrides.items():
            key = f"regimes.{regime}.{name}"
            # thresholds (floats) and the switch vary per row; windows and minutes (ints) shape the
            # arrays and stay one value
            if (
                name not in by_name
                or name in ("vix_low", "vix_high")
                or (hints[name] is not float and name != "active")
            ):
                raise ParamError(
                    key, "not a parameter that can change with the regime (thresholds and active only)"
                )
            try:
                out[regime][name] = _coerce(name, hints[name], by_name[name].metadata, v)
            except ParamError as e:
                raise ParamError(key, e.message) from None
    return out


def params_dict(params: BaseParams) -> dict[str, Any]:
    """Params as a JSON-friendly dict (what ``StrategyConfig.parameters`` stores)."""
    return dataclasses.asdict(params)


# --- VIX regimes and scaling ------------------------------------------------------------------------------


def expected_move(spot: np.ndarray | float, vix: np.ndarray | float) -> np.ndarray:
    """One-day expected move in index points: spot x VIX/100/sqrt(252)."""
    return np.asarray(spot, dtype=float) * np.asarray(vix, dtype=float) / 100.0 / math.sqrt(SESSIONS_PER_YEAR)


def scale_by_vix(cols: Mapping[str, np.ndarray], multiple: np.ndarray | float) -> np.ndarray:
    """A price-distance threshold in points: ``multiple`` x the row's one-day expected move.

    Uses the ``expected_move`` column, falling back to ``close`` and ``vix`` where it is missing.
    """
    em = cols.get("expected_move")
    if em is None:
        em = expected_move(cols["close"], cols["vix"])
    return np.asarray(multiple, dtype=float) * em


def regime_codes(vix: np.ndarray, params: BaseParams) -> np.ndarray:
    """Per row: 0 low (VIX < vix_low), 1 normal, 2 high (VIX > vix_high). NaN VIX counts as normal."""
    vix = np.asarray(vix, dtype=float)
    codes = np.full(vix.shape, NORMAL, dtype=np.int8)
    codes[vix < params.vix_low] = LOW
    codes[vix > params.vix_high] = HIGH
    return codes


class RegimeParams:
    """Parameters resolved per row: ``rp.name`` is the scalar value, or an array (one value per row)
    where a VIX regime overrides that field."""

    def __init__(self, params: BaseParams, codes: np.ndarray) -> None:
        self._params = params
        self.codes = codes
        self._cache: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        cache = self._cache
        if name in cache:
            return cache[name]
        base = getattr(self._params, name)
        overrides = [(r, ov[name]) for r, ov in self._params.regimes.items() if name in ov]
        if not overrides:
            value = base
        else:
            value = np.full(self.codes.shape, base, dtype=bool if isinstance(base, bool) else float)
            for regime, v in overrides:
                value[self.codes == _REGIME_CODE[regime]] = v
        cache[name] = value
        return value

    @property
    def params(self) -> BaseParams:
        return self._params


# --- vectorised building blocks (all causal) --------------------------------------------------------------


def shift(x: np.ndarray, k: int = 1) -> np.ndarray:
    """``x`` delayed by ``k`` >= 1 rows (NaN for the first k): row t holds row t - k."""
    out = np.full(len(x), np.nan)
    if k < len(x):  # a window shorter than the delay (a cold start) is all NaN
        out[k:] = x[: len(x) - k]
    return out


def _rolling_extreme(x: np.ndarray, n: int, ufunc: np.ufunc) -> np.ndarray:
    """Running max/min over windows of ``n`` rows in O(len) (van Herk / Gil-Werman): the window
    [t-n+1, t] is the suffix of one block of n rows joined with the prefix of the next."""
    x = np.asarray(x, dtype=float)
    size = len(x)
    out = np.full(size, np.nan)
    if size < n or n < 1:
        return out
    blocks = -(-size // n)
    padded = np.empty(blocks * n)
    padded[:size] = x
    padded[size:] = x[-1]  # never inside a window that ends at or before the last row
    grid = padded.reshape(blocks, n)
    prefix = ufunc.accumulate(grid, axis=1).ravel()
    suffix = ufunc.accumulate(grid[:, ::-1], axis=1)[:, ::-1].ravel()
    out[n - 1 :] = ufunc(suffix[: size - n + 1], prefix[n - 1 : size])
    return out


def rolling_max(x: np.ndarray, n: int) -> np.ndarray:
    """Max of rows t-n+1..t (NaN until n rows, or where the window holds a NaN)."""
    return _rolling_extreme(x, n, np.maximum)


def rolling_min(x: np.ndarray, n: int) -> np.ndarray:
    """Min of rows t-n+1..t (NaN until n rows, or where the window holds a NaN)."""
    return _rolling_extreme(x, n, np.minimum)


def rolling_mean(x: np.ndarray, n: int) -> np.ndarray:
    """Mean of rows t-n+1..t (NaN until n rows, or where the window holds a NaN).

    Summed as integers of 1e-6 of the unit, so a window gives the same bits wherever the array
    starts: the live window and the whole history agree exactly (a float running sum would not).
    """
    x = np.asarray(x, dtype=float)
    out = np.full(len(x), np.nan)
    if len(x) < n:
        return out
    bad = np.isnan(x)
    micro = np.zeros(len(x) + 1, dtype=np.int64)
    np.cumsum(np.where(bad, 0.0, np.round(x * _MICRO)).astype(np.int64), out=micro[1:])
    nans = np.zeros(len(x) + 1, dtype=np.int64)
    np.cumsum(bad, out=nans[1:])
    out[n - 1 :] = (micro[n:] - micro[:-n]) / (_MICRO * n)
    out[n - 1 :][(nans[n:] - nans[:-n]) > 0] = np.nan
    return out


def edge(cond: np.ndarray) -> np.ndarray:
    """True on the rows where ``cond`` becomes true (false on the row before). The first row is never
    an edge: what came before it is unknown."""
    cond = np.asarray(cond, dtype=bool)
    out = np.zeros(len(cond), dtype=bool)
    out[1:] = cond[1:] & ~cond[:-1]
    return out


def event(cond: np.ndarray, quiet: int = 1) -> np.ndarray:
    """True where ``cond`` holds now and held on none of the ``quiet`` previous rows (``quiet=1`` is
    ``edge``): a condition that flickers re-arms only after ``quiet`` rows without it. False on the
    first ``quiet`` rows, whose past is unknown."""
    cond = np.asarray(cond, dtype=bool)
    n = len(cond)
    out = np.zeros(n, dtype=bool)
    if n <= quiet:
        return out
    c = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(cond, out=c[1:])  # c[i] = trues in rows < i
    out[quiet:] = cond[quiet:] & (c[quiet:n] == c[: n - quiet])
    return out


def session_starts(minute: np.ndarray) -> np.ndarray:
    """Per row, the position of the first row of its session (within the given rows): a session
    starts where ``minute`` goes down (or at row 0)."""
    minute = np.asarray(minute, dtype=float)
    start = np.zeros(len(minute), dtype=bool)
    if len(minute):
        start[0] = True
        start[1:] = minute[1:] < minute[:-1]
    return np.maximum.accumulate(np.where(start, np.arange(len(minute)), 0))


def first_in_session(cond: np.ndarray, minute: np.ndarray) -> np.ndarray:
    """True where ``cond`` holds for the first time in its session."""
    cond = np.asarray(cond, dtype=bool)
    c = np.concatenate(([0], np.cumsum(cond, dtype=np.int64)))
    starts = session_starts(minute)
    before = c[np.arange(len(cond))] - c[starts]
    return cond & (before == 0)


def crossed_above(a: np.ndarray, b: np.ndarray | float) -> np.ndarray:
    """``a`` is above ``b`` now and was not on the previous row."""
    return edge(np.asarray(a) > b)


def crossed_below(a: np.ndarray, b: np.ndarray | float) -> np.ndarray:
    """``a`` is below ``b`` now and was not on the previous row."""
    return edge(np.asarray(a) < b)


def crossover(a: np.ndarray, b: np.ndarray | float) -> np.ndarray:
    """+1 on the rows where ``a`` crosses above ``b``, -1 where it crosses below, else 0 (int8).

    A cross is a sign change of ``a - b`` against its last non-zero value (backtrader's
    ``CrossOver``): touching (a difference of exactly 0) and moving back is no cross, touching and
    going through is one, on the row it goes through. Rows before ``a - b`` is first known
    (NaN) and that first row never cross.
    """
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    out = np.zeros(d.shape[0], dtype=np.int8)
    known = ~np.isnan(d)
    if not known.any():
        return out
    keep = known & (d != 0)
    keep[int(np.argmax(known))] = True  # the first known difference counts even when it is 0
    last = np.where(keep, np.arange(d.shape[0]), -1)
    np.maximum.accumulate(last, out=last)
    nonzero = np.where(last >= 0, d[last.clip(0)], np.nan)
    before = np.concatenate(([np.nan], nonzero[:-1]))
    out[(before < 0) & (d > 0)] = 1
    out[(before > 0) & (d < 0)] = -1
    return out


def strength_from_excess(
    value: np.ndarray, threshold: np.ndarray | float, *, base: float = 0.5, full_at: float = 2.0
) -> np.ndarray:
    """Strength 0..1 from how far ``value`` passes ``threshold`` (both positive): ``base`` at the
    threshold rising linearly to 1 at ``full_at`` x the threshold."""
    ratio = np.asarray(value, dtype=float) / np.asarray(threshold, dtype=float)
    s = base + (1.0 - base) * (ratio - 1.0) / (full_at - 1.0)
    return np.clip(s, 0.0, 1.0)  # NaN stays NaN: ``emit`` makes it 0 on the fired rows


def reasons_for(rows: np.ndarray, template: str, **values: Any) -> list[str]:
    """``template`` formatted with each value (an array: its item on the row; a scalar: itself) for
    each fired row. Loops over the fired rows only, which are a small share of all rows."""
    arrays = {k: v for k, v in values.items() if isinstance(v, np.ndarray) and v.ndim == 1}
    scalars = {k: v for k, v in values.items() if k not in arrays}
    return [template.format(**scalars, **{k: v[i] for k, v in arrays.items()}) for i in rows]


# --- the contract --------------------------------------------------------------------------------------


@dataclass
class SignalArrays:
    """A strategy's output as arrays aligned with its input rows: direction +1 CALL / -1 PUT / 0,
    strength 0..1, and the reason of each fired row (row position -> text)."""

    direction: np.ndarray
    strength: np.ndarray
    reasons: dict[int, str]

    def frame(self, index: pd.Index) -> pd.DataFrame:
        """As the contract's DataFrame: direction "CALL"/"PUT"/"", strength, reason."""
        labels = np.array(["PUT", "", "CALL"], dtype=object)[self.direction.astype(np.int64) + 1]
        reason = np.full(len(labels), "", dtype=object)
        for i, text in self.reasons.items():
            reason[i] = text
        return pd.DataFrame(
            {"direction": labels, "strength": self.strength.astype(float), "reason": reason}, index=index
        )


def columns_of(
    features: pd.DataFrame | Mapping[str, np.ndarray], names: tuple[str, ...]
) -> dict[str, np.ndarray]:
    """The named feature columns as numpy arrays (float where numeric)."""
    out: dict[str, np.ndarray] = {}
    for name in names:
        col = features[name]
        arr = col.to_numpy() if isinstance(col, pd.Series) else np.asarray(col)
        if arr.dtype.kind in "biuf":
            arr = arr.astype(float, copy=False)
        out[name] = arr
    return out


class Strategy:
    """Base class: see the module docstring for the contract. Subclasses set ``name``, ``Params``,
    ``lookback``, ``columns`` and implement ``signals``; their docstring states their rules."""

    name: ClassVar[str] = ""
    Params: ClassVar[type[BaseParams]] = BaseParams
    lookback: ClassVar[int] = 2
    columns: ClassVar[tuple[str, ...]] = ()
    cooldown_minutes: ClassVar[int] = 15  # default of StrategyConfig.cooldown_minutes

    @property
    def description(self) -> str:
        """The strategy's rules: its docstring, dedented."""
        import inspect

        return inspect.cleandoc(type(self).__doc__ or "")

    def default_params(self) -> BaseParams:
        """The Params with every default (one shared, frozen instance)."""
        cached = self.__dict__.get("_default_params")
        if cached is None:
            cached = self.__dict__["_default_params"] = self.Params()
        return cached

    def signals(self, cols: Mapping[str, np.ndarray], rp: RegimeParams) -> SignalArrays:  # pragma: no cover
        """The rule: feature columns (numpy) and per-row parameters -> signal arrays."""
        raise NotImplementedError

    def compute(
        self, cols: Mapping[str, np.ndarray], params: BaseParams | Mapping[str, Any] | None = None
    ) -> SignalArrays:
        """Run the rule on column arrays; apply the regime switch ``active``."""
        params = self._params(params)
        codes = regime_codes(cols["vix"], params)
        rp = RegimeParams(params, codes)
        with np.errstate(divide="ignore", invalid="ignore"):  # NaN warm-up rows compare False
            out = self.signals(cols, rp)
        active = rp.active
        if active is not True:
            off = ~np.broadcast_to(np.asarray(active, dtype=bool), out.direction.shape)
            if off.any():
                out.direction = np.where(off, 0, out.direction).astype(np.int8)
                out.strength = np.where(off, 0.0, out.strength)
                out.reasons = {i: r for i, r in out.reasons.items() if not off[i]}
        return out

    def generate(
        self, features: pd.DataFrame, params: BaseParams | Mapping[str, Any] | None = None
    ) -> pd.DataFrame:
        """Feature frame -> signal frame (``direction``, ``strength``, ``reason``), indexed like it."""
        cols = columns_of(features, self.columns)
        return self.compute(cols, params).frame(features.index)

    def _params(self, params: BaseParams | Mapping[str, Any] | None) -> BaseParams:
        if params is None:
            return self.default_params()
        if isinstance(params, BaseParams):
            return params
        return validate_params(self, params)

    # helpers for subclasses ---------------------------------------------------------------------------

    def emit(
        self,
        cols: Mapping[str, np.ndarray],
        rp: RegimeParams,
        call: np.ndarray,
        put: np.ndarray,
        strength: np.ndarray,
        call_reason: str,
        put_reason: str,
        **values: Any,
    ) -> SignalArrays:
        """Build the output from the CALL and PUT event masks (a row firing both is dropped as
        ambiguous). Reasons are the templates formatted with ``values`` on each fired row, followed by
        the row's VIX and its regime."""
        call = np.asarray(call, dtype=bool)
        put = np.asarray(put, dtype=bool)
        direction = call.astype(np.int8) - put.astype(np.int8)  # a row firing both is 0: ambiguous
        fired = np.flatnonzero(direction)
        out = np.zeros(len(direction))
        reasons: dict[int, str] = {}
        if fired.size:  # the rest touches the fired rows only
            s = np.broadcast_to(np.asarray(strength, dtype=float), direction.shape)[fired]
            out[fired] = np.clip(np.where(np.isnan(s), 0.0, s), 0.0, 1.0)
            values = {**values, "_vix": cols["vix"], "_regime": _REGIME_NAMES[rp.codes]}
            suffix = " (VIX {_vix:.1f}, {_regime})"
            for sign, template in ((1, call_reason), (-1, put_reason)):
                rows = fired[direction[fired] == sign]
                if rows.size:
                    reasons.update(zip(rows.tolist(), reasons_for(rows, template + suffix, **values)))
        return SignalArrays(direction=direction, strength=out, reasons=reasons)
