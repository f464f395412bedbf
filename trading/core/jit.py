"""Numba, imported on first need and not at import time. Pure.

Importing numba and loading a kernel's cached machine code costs about 0.8 s and 110-160 MB of
memory (llvmlite, numba's typing tables): a long-lived process (a worker, the live engine, an
in-process benchmark) earns it back, a one-shot command (``manage.py backtest``, whose kernels see
a few hundred numbers per call) does not. The kernels here (``core.options``, ``core.filters``) are
plain Python that numba compiles as it is, so either way runs the same IEEE double operations in the
same order (no fast-math) and gives the same numbers - ``tests/core/test_jit.py`` holds them equal.

* ``compiled(size)``: whether a kernel call over ``size`` numbers runs compiled - always when numba
  is installed and the process has not asked for ``prefer_python()``; after ``prefer_python()`` only
  calls over ``LARGE`` numbers or more (a whole chain's Greeks), which then import numba.
* ``njit(fn)``: ``numba.njit(cache=True, nogil=True, **options)(fn)``, importing numba then.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

__all__ = ["AVAILABLE", "LARGE", "compiled", "njit", "prefer_python", "python_preferred"]

AVAILABLE = importlib.util.find_spec("numba") is not None
# A call over this many numbers runs compiled even after ``prefer_python()``.
LARGE = 4096

_prefer_python = False


def prefer_python(flag: bool = True) -> None:
    """Run small kernel calls in Python in this process (a one-shot command); ``False`` undoes it."""
    global _prefer_python
    _prefer_python = bool(flag)


def python_preferred() -> bool:
    return _prefer_python


def compiled(size: int) -> bool:
    """True when a kernel call over ``size`` numbers should run compiled (see the module doc)."""
    return AVAILABLE and (not _prefer_python or size >= LARGE)


def njit(fn: Callable, **options: Any) -> Callable:
    """``fn`` compiled by numba (its on-disk cache: ``cache=True``), numba imported here."""
    import numba  # noqa: PLC0415 - the point of this module

    return numba.njit(cache=True, nogil=True, **options)(fn)
