"""Evaluate many strategies at once, always through the guard.

* ``evaluate_all(strategies_with_params, features_window)`` - live: the signals of the window's
  latest row. Each strategy sees only its last ``lookback`` rows, as numpy arrays taken from the
  window once, so a cycle costs the same however long the history is.
* ``signal_frame_all(strategies_with_params, features)`` - backtest: every signal of a whole history
  in one vectorised pass per strategy.

The two agree: the signal ``evaluate_all`` gives on the window ending at bar t is the row t of
``signal_frame_all`` over the whole history (the strategies are causal and declare their lookback).
A strategy that raises is logged and counted by the guard and left out; the others still run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from trading.core.strategies import registry
from trading.core.strategies.base import (
    BaseParams,
    Strategy,
    columns_of,
    compute_guarded,
    record_failure,
    validate_params,
)

__all__ = [
    "FeatureWindow",
    "SignalRow",
    "StrategiesWithParams",
    "evaluate_all",
    "signal_frame_all",
    "strategy_pairs",
]

ParamsLike = BaseParams | Mapping[str, Any] | None
StrategiesWithParams = (
    Mapping[str | Strategy, ParamsLike] | Iterable[Strategy | str | tuple[Strategy | str, ParamsLike]] | None
)


@dataclass(frozen=True)
class SignalRow:
    """One signal of one strategy on one bar: ``time`` is the bar's start (UTC), ``direction`` "CALL"
    or "PUT", ``strength`` 0..1, ``reason`` the values that triggered it."""

    strategy: str
    time: datetime
    direction: str
    strength: float
    reason: str


class FeatureWindow:
    """The latest feature rows as numpy arrays, for the live loop: append each new feature row (a
    dict, as ``FeatureBuilder.append`` returns it) and hand the window to ``evaluate_all``, which then
    reads the arrays without going through pandas.

    Keeps the numeric ``columns`` (default: every column a registered strategy reads) of the last
    ``capacity`` rows (default: the largest registered ``lookback``), in buffers of twice that size,
    so an append is O(1) amortised.
    """

    def __init__(self, capacity: int | None = None, columns: Iterable[str] | None = None) -> None:
        strategies = registry.all_strategies()
        self.capacity = int(capacity or max(s.lookback for s in strategies))
        self.columns = tuple(columns or dict.fromkeys(c for s in strategies for c in s.columns))
        self._size = 2 * self.capacity
        self._buf = {c: np.full(self._size, np.nan) for c in self.columns}
        self._times: list[Any] = [None] * self._size
        self._end = 0  # rows written in the buffers
        self._count = 0  # rows ever appended (capped by capacity for the view)

    def __len__(self) -> int:
        return min(self._count, self.capacity)

    @property
    def last_time(self) -> datetime | None:
        """Bar start of the latest row, None when empty."""
        return self._times[self._end - 1] if self._end else None

    def append(self, row: Mapping[str, Any], time: datetime | None = None) -> None:
        """Add one feature row; ``time`` defaults to ``row["time"]`` (the bar start)."""
        if self._end == self._size:  # keep the last capacity - 1 rows, make room
            keep = self.capacity - 1
            for arr in self._buf.values():
                arr[:keep] = arr[self._size - keep :]
            self._times[:keep] = self._times[self._size - keep :]
            self._end = keep
        i = self._end
        for c in self.columns:
            v = row.get(c)
            self._buf[c][i] = np.nan if v is None else float(v)
        self._times[i] = time if time is not None else row.get("time")
        self._end += 1
        self._count += 1

    def extend_frame(self, frame: pd.DataFrame) -> None:
        """Add the (last ``capacity``) rows of a feature frame, e.g. the warm-up history."""
        tail = frame.iloc[-self.capacity :]
        cols = columns_of(tail, self.columns)
        times = [t.to_pydatetime() for t in tail.index]
        for k in range(len(tail)):
            self.append({c: cols[c][k] for c in self.columns}, time=times[k])

    def arrays(self) -> dict[str, np.ndarray]:
        """The window's columns, oldest row first (views: do not write to them)."""
        start = self._end - len(self)
        return {c: arr[start : self._end] for c, arr in self._buf.items()}


def strategy_pairs(strategies_with_params: StrategiesWithParams) -> list[tuple[Strategy, BaseParams | None]]:
    """Normalise the ways of naming strategies and their parameters to (strategy, params) pairs.

    Accepts a mapping {strategy or name: params}, or an iterable of strategies, names, or
    (strategy or name, params) pairs; None means every registered strategy with its defaults. A
    params dict is validated; an unknown name or invalid params is counted by the guard and skipped.
    """
    if strategies_with_params is None:
        items: list[Any] = [(s, None) for s in registry.all_strategies()]
    elif isinstance(strategies_with_params, Mapping):
        items = list(strategies_with_params.items())
    else:
        items = [x if isinstance(x, tuple) else (x, None) for x in strategies_with_params]
    pairs: list[tuple[Strategy, BaseParams | None]] = []
    for strategy, params in items:
        try:
            strat = registry.get(strategy) if isinstance(strategy, str) else strategy
            if params is not None and not isinstance(params, BaseParams):
                params = validate_params(strat, params)
        except Exception as exc:  # a bad configuration stops this strategy only
            record_failure(strategy if isinstance(strategy, str) else getattr(strategy, "name", "?"), exc)
            continue
        pairs.append((strat, params))
    return pairs


def evaluate_all(
    strategies_with_params: StrategiesWithParams,
    features_window: pd.DataFrame | FeatureWindow | Mapping[str, np.ndarray],
) -> list[SignalRow]:
    """The signals of the latest row of ``features_window`` (live), one per strategy that fires.

    ``features_window``: a feature frame, a ``FeatureWindow`` (the fast path), or a mapping of column
    arrays with a ``time`` array. It needs at least the largest ``lookback`` of the strategies for the
    result to equal the backtest's; extra rows are ignored. Strategies run in the order given.
    """
    pairs = strategy_pairs(strategies_with_params)
    if not pairs:
        return []
    longest = max(s.lookback for s, _ in pairs)
    if isinstance(features_window, pd.DataFrame):
        window = features_window.iloc[-longest:]
        needed = tuple(dict.fromkeys(c for s, _ in pairs for c in s.columns))
        cols = columns_of(window, needed)
        time = window.index[-1]
    elif isinstance(features_window, FeatureWindow):
        cols = features_window.arrays()
        time = features_window.last_time
    else:
        cols = {k: np.asarray(v) for k, v in features_window.items()}
        time = cols["time"][-1] if "time" in cols else None
    if not cols or len(next(iter(cols.values()))) == 0:
        return []
    time = time.to_pydatetime() if isinstance(time, pd.Timestamp) else time
    out: list[SignalRow] = []
    for strategy, params in pairs:
        k = strategy.lookback
        arrays = compute_guarded(strategy, {c: cols[c][-k:] for c in strategy.columns}, params)
        if arrays is None:
            continue
        d = int(arrays.direction[-1])
        if d:
            last = len(arrays.direction) - 1
            out.append(
                SignalRow(
                    strategy=strategy.name,
                    time=time,
                    direction="CALL" if d > 0 else "PUT",
                    strength=float(arrays.strength[-1]),
                    reason=arrays.reasons.get(last, ""),
                )
            )
    return out


def signal_frame_all(strategies_with_params: StrategiesWithParams, features: pd.DataFrame) -> pd.DataFrame:
    """Every signal over a whole history (backtest), one row per (bar, strategy) that fires.

    Index ``time`` (the features' index: bar starts); columns ``strategy``, ``direction`` ("CALL"/
    "PUT"), ``strength`` (0..1), ``reason``; ordered by time, then by the order of the strategies.
    """
    pairs = strategy_pairs(strategies_with_params)
    needed = tuple(dict.fromkeys(c for s, _ in pairs for c in s.columns))
    cols = columns_of(features, needed)
    parts = []
    for order, (strategy, params) in enumerate(pairs):
        arrays = compute_guarded(strategy, {c: cols[c] for c in strategy.columns}, params)
        if arrays is None:
            continue
        rows = np.flatnonzero(arrays.direction)
        if rows.size == 0:
            continue
        parts.append(
            pd.DataFrame(
                {
                    "_row": rows,
                    "_order": order,
                    "strategy": strategy.name,
                    "direction": np.where(arrays.direction[rows] > 0, "CALL", "PUT"),
                    "strength": arrays.strength[rows].astype(float),
                    "reason": [arrays.reasons.get(int(i), "") for i in rows],
                }
            )
        )
    if not parts:
        empty = pd.DataFrame(
            {
                "strategy": pd.Series(dtype=object),
                "direction": pd.Series(dtype=object),
                "strength": pd.Series(dtype=float),
                "reason": pd.Series(dtype=object),
            },
            index=features.index[:0],
        )
        return empty
    frame = pd.concat(parts, ignore_index=True).sort_values(["_row", "_order"], kind="stable")
    frame.index = features.index[frame["_row"].to_numpy()]
    frame.index.name = features.index.name or "time"
    return frame.drop(columns=["_row", "_order"])
