"""The first-order linear recursion behind the EMAs, Wilder's averages and the simulator's AR(1). Pure.

``recursive(b0, a1, x, z0)`` is ``y[n] = b0 * x[n] + z``, ``z = -(a1 * y[n])``, starting from
``z = z0`` - what ``scipy.signal.lfilter([b0], [1, a1], x, zi=[z0])`` computes, operation for
operation, so its results are the same to the last bit (``tests/core/test_filters.py``). It is here
so that a backtest does not import ``scipy.signal`` (about a second of start-up) for one loop.

The loop runs in numba (``cache=True``, as ``core.options``) when numba imports, else in Python.
"""

from __future__ import annotations

import numpy as np

try:
    import numba
except ImportError:  # pragma: no cover - the Python loop below is the fallback
    numba = None

__all__ = ["recursive"]


def _loop(b0: float, a1: float, x: np.ndarray, z: float, out: np.ndarray) -> float:
    for n in range(len(x)):
        y = b0 * x[n] + z
        out[n] = y
        z = -(a1 * y)
    return z


_compiled = numba.njit(cache=True, nogil=True)(_loop) if numba is not None else None


def recursive(b0: float, a1: float, x: np.ndarray, z0: float = 0.0) -> np.ndarray:
    """``y[n] = b0 x[n] - a1 y[n-1]`` with ``-a1 y[-1] = z0``, as float64 (see the module docstring)."""
    xs = np.ascontiguousarray(x, dtype=np.float64)
    out = np.empty(xs.shape[0])
    if xs.shape[0]:
        if _compiled is not None:
            _compiled(float(b0), float(a1), xs, float(z0), out)
        else:  # pragma: no cover
            _loop(float(b0), float(a1), xs.tolist(), float(z0), out)
    return out
