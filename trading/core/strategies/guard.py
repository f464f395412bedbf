"""The guard: strategy code is always called through it. An exception (or a malformed result) is
logged, counted in ``GUARD_ERRORS`` and passed to every hook, and the call returns None: one broken
strategy stops no other, and never the engine.

Pure: numpy and pandas only, no Django.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from trading.core.strategies.base import BaseParams, SignalArrays, Strategy

__all__ = [
    "GUARD_ERRORS",
    "GUARD_HOOKS",
    "compute_guarded",
    "record_failure",
    "register_guard_hook",
    "run_guarded",
]

log = logging.getLogger(__name__)

GUARD_ERRORS: dict[str, int] = {}
"""Exceptions caught by the guard, per strategy name, since the process started."""

GUARD_HOOKS: list[Callable[[str, BaseException], None]] = []
"""Called with (strategy name, exception) for each caught exception - e.g. a Prometheus counter."""


def register_guard_hook(hook: Callable[[str, BaseException], None]) -> Callable[[str, BaseException], None]:
    """Add a hook called on each strategy exception (idempotent); returns it, so it can decorate."""
    if hook not in GUARD_HOOKS:
        GUARD_HOOKS.append(hook)
    return hook


def record_failure(name: str, exc: BaseException) -> None:
    """Log and count one strategy failure and tell the hooks; never raises."""
    GUARD_ERRORS[name] = GUARD_ERRORS.get(name, 0) + 1
    log.error("strategy %s failed: %s: %s", name, type(exc).__name__, exc, exc_info=exc)
    for hook in list(GUARD_HOOKS):
        try:
            hook(name, exc)
        except Exception:  # a broken metrics hook must not stop trading either
            log.exception("guard hook %r failed", hook)


def _check_output(out: Any, index: pd.Index) -> None:
    if not isinstance(out, pd.DataFrame):
        raise TypeError(f"generate returned {type(out).__name__}, not a DataFrame")
    missing = {"direction", "strength", "reason"} - set(out.columns)
    if missing:
        raise ValueError(f"signal frame lacks columns {sorted(missing)}")
    if not out.index.equals(index):
        raise ValueError("signal frame is not indexed like the features")


def compute_guarded(
    strategy: Strategy, cols: Mapping[str, np.ndarray], params: BaseParams | Mapping[str, Any] | None = None
) -> SignalArrays | None:
    """``strategy.compute(cols, params)`` through the guard: None (logged, counted, hooks told) when
    it raises or returns arrays of the wrong length. The lean path of the live evaluation."""
    name = getattr(strategy, "name", "") or type(strategy).__name__
    try:
        out = strategy.compute(cols, params)
        n = len(next(iter(cols.values()))) if cols else 0
        if len(out.direction) != n or len(out.strength) != n:
            raise ValueError(f"signal arrays have {len(out.direction)} rows for {n} feature rows")
        return out
    except Exception as exc:
        record_failure(name, exc)
        return None


def run_guarded(
    strategy: Strategy, features: pd.DataFrame, params: BaseParams | Mapping[str, Any] | None = None
) -> pd.DataFrame | None:
    """``strategy.generate(features, params)``, or None when it raises or returns a malformed frame.

    A failure is logged, counted in ``GUARD_ERRORS[name]`` and passed to every ``GUARD_HOOKS`` hook;
    it never propagates, so one broken strategy stops no other.
    """
    name = getattr(strategy, "name", "") or type(strategy).__name__
    try:
        out = strategy.generate(features, params)
        _check_output(out, features.index)
        return out
    except Exception as exc:
        record_failure(name, exc)
        return None
