"""The first-order linear recursion behind the EMAs, Wilder's averages and the simulator's AR(1). Pure.

``recursive(b0, a1, x, z0)`` is ``y[n] = b0 * x[n] + z``, ``z = -(a1 * y[n])``, starting from
``z = z0`` - what ``scipy.signal.lfilter([b0], [1, a1], x, zi=[z0])`` computes, operation for
operation, so its results are the same to the last bit (``tests/core/test_filters.py``). It is here
so that a backtest does not import ``scipy.signal`` (about a second of start-up) for one loop.

The loop runs in numba (``cache=True``, as ``core.options``; compiled on first use, ``core.jit``) when
numba is installed, else - and in a process that ``jit.prefer_python()`` - in Python on floats: the
same operations in the same order, so the same numbers.
"""

from __future__ import annotations

import numpy as np

from trading.core import jit

__all__ = ["recursive"]


def _loop(b0: float, a1: float, x: np.ndarray, z: float, out: np.ndarray) -> float:
    for n in range(len(x)):
        y = b0 * x[n] + z
        out[n] = y
        z = -(a1 * y)
    return z


def _list_loop(b0: float, a1: float, x: list[float], z: float) -> list[float]:
    """``_loop`` on Python floats (the same operations): faster than indexing numpy arrays in Python."""
    out = []
    append = out.append
    for v in x:
        y = b0 * v + z
        append(y)
        z = -(a1 * y)
    return out


_compiled = None  # _loop compiled by numba, on first use


def recursive(b0: float, a1: float, x: np.ndarray, z0: float = 0.0) -> np.ndarray:
    """``y[n] = b0 x[n] - a1 y[n-1]`` with ``-a1 y[-1] = z0``, as float64 (see the module docstring)."""
    xs = np.ascontiguousarray(x, dtype=np.float64)
    out = np.empty(xs.shape[0])
    if not xs.shape[0]:
        return out
    if not jit.compiled(xs.shape[0]):
        out[:] = _list_loop(float(b0), float(a1), xs.tolist(), float(z0))
        return out
    global _compiled
    if _compiled is None:
        _compiled = jit.njit(_loop)
    _compiled(float(b0), float(a1), xs, float(z0), out)
    return out
