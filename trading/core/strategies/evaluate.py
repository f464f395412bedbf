"""Evaluate many strategies at once, always through the guard.

* ``latest_signals(pairs, columns)`` - the one definition of "the latest signal of each strategy":
  each strategy reads only its last ``lookback`` rows of the column arrays, so a bar costs the same
  however long the history is. The live loop (``core.live.LiveSignals``) and ``evaluate_all`` both
  call it.
* ``evaluate_all(strategies_with_params, features_window)`` - the same for a feature frame, a
  ``FeatureWindow`` or a mapping of column arrays.
* ``signal_frame_all(strategies_with_params, features)`` - backtest: every signal of a whole history
  in one vectorised pass per strategy.

The two agree: the signal ``evaluate_all`` gives on the window ending at bar t is the row t of
``signal_frame_all`` over the whole history (the strategies are causal and declare their lookback).
A strategy that raises is logged and counted by the guard and left out; the others still run.
Signals are ``core.state.SignalInput`` (strategy, direction "CALL"/"PUT", strength 0..1, reason), the
type the engine takes in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from time import perf_counter
from typing import Any

import numpy as np
import pandas as pd

from trading.core.state import SignalInput
from trading.core.strategies import registry
from trading.core.strategies.base import BaseParams, Strategy, columns_of, validate_params
from trading.core.strategies.guard import compute_guarded, record_failure

__all__ = [
    "FeatureWindow",
    "StrategiesWithParams",
    "evaluate_all",
    "latest_signals",
    "signal_frame_all",
    "strategy_pairs",
]

ParamsLike = BaseParams | Mapping[str, Any] | None
StrategiesWithParams = (
    Mapping[str | Strategy, ParamsLike] | Iterable[Strategy | str | tuple[Strategy | str, ParamsLike]] | None
)


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
            resolved = registry.get(strategy) if isinstance(strategy, str) else strategy
            if params is not None and not isinstance(params, BaseParams):
                params = validate_params(resolved, params)
        except Exception as exc:  # a bad configuration stops this strategy only
            record_failure(strategy if isinstance(strategy, str) else getattr(strategy, "name", "?"), exc)
            continue
        pairs.append((resolved, params))
    return pairs


def latest_signals(
    pairs: Iterable[tuple[Strategy, BaseParams | None]],
    columns: Mapping[str, np.ndarray],
    timings: dict[str, float] | None = None,
) -> list[SignalInput]:
    """The signal of each strategy that fires on the last row of ``columns``, in the order of ``pairs``.

    ``columns``: feature column arrays, oldest row first, holding every column of the strategies and
    at least their ``lookback`` rows for the result to equal the backtest's (extra rows are not read).
    Each strategy runs through the guard (``compute_guarded``): one that raises is left out.
    ``timings``, when given, receives each strategy's wall seconds on this row (for the metrics).
    """
    out: list[SignalInput] = []
    for strategy, params in pairs:
        started = perf_counter()
        window = {name: columns[name][-strategy.lookback :] for name in strategy.columns}
        arrays = compute_guarded(strategy, window, params)
        if timings is not None:
            timings[strategy.name] = perf_counter() - started
        if arrays is None or len(arrays.direction) == 0:
            continue
        direction = int(arrays.direction[-1])
        if direction:
            last_row = len(arrays.direction) - 1
            out.append(
                SignalInput(
                    strategy=strategy.name,
                    direction="CALL" if direction > 0 else "PUT",
                    strength=float(arrays.strength[-1]),
                    reason=arrays.reasons.get(last_row, ""),
                )
            )
    return out


def evaluate_all(
    strategies_with_params: StrategiesWithParams,
    features_window: pd.DataFrame | FeatureWindow | Mapping[str, np.ndarray],
) -> list[SignalInput]:
    """``latest_signals`` of ``features_window``: the signals of its latest row, one per strategy that
    fires, in the order the strategies are given.

    ``features_window``: a feature frame, a ``FeatureWindow`` (the fast path), or a mapping of column
    arrays. It needs at least the largest ``lookback`` of the strategies for the result to equal the
    backtest's; extra rows are ignored.
    """
    pairs = strategy_pairs(strategies_with_params)
    if not pairs:
        return []
    if isinstance(features_window, pd.DataFrame):
        longest = max(strategy.lookback for strategy, _ in pairs)
        needed = tuple(dict.fromkeys(c for strategy, _ in pairs for c in strategy.columns))
        columns = columns_of(features_window.iloc[-longest:], needed)
    elif isinstance(features_window, FeatureWindow):
        columns = features_window.arrays()
    else:
        columns = {name: np.asarray(values) for name, values in features_window.items()}
    if not columns or len(next(iter(columns.values()))) == 0:
        return []
    return latest_signals(pairs, columns)


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
        return _no_signals(features.index)
    frame = pd.concat(parts, ignore_index=True).sort_values(["_row", "_order"], kind="stable")
    frame.index = features.index[frame["_row"].to_numpy()]
    frame.index.name = features.index.name or "time"
    return frame.drop(columns=["_row", "_order"])


def _no_signals(index: pd.Index) -> pd.DataFrame:
    """The empty signal frame: ``signal_frame_all``'s columns and dtypes, no rows."""
    return pd.DataFrame(
        {
            "strategy": pd.Series(dtype=object),
            "direction": pd.Series(dtype=object),
            "strength": pd.Series(dtype=float),
            "reason": pd.Series(dtype=object),
        },
        index=index[:0],
    )
