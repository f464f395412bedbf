"""core.jit: numba is imported on the first compiled call, not at import; a process that prefers
Python (manage.py backtest) runs the Greeks and the filter loop in Python with the same numbers."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from trading.core import filters, jit, options

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def prefer(monkeypatch):
    def set_to(flag: bool) -> None:
        monkeypatch.setattr(jit, "_prefer_python", flag)

    return set_to


def test_small_calls_run_in_python_only_when_preferred(prefer) -> None:
    prefer(False)
    assert jit.compiled(1) == jit.AVAILABLE
    prefer(True)
    assert not jit.compiled(1) and not jit.compiled(jit.LARGE - 1)
    assert jit.compiled(jit.LARGE) == jit.AVAILABLE


@pytest.mark.skipif(not jit.AVAILABLE, reason="numba is not installed")
def test_python_and_numba_give_the_same_bits(prefer) -> None:
    rng = np.random.default_rng(11)
    n = 400
    vol, spot = rng.uniform(0.01, 1.5, n), rng.uniform(15000, 30000, n)
    strike, t = spot * rng.uniform(0.7, 1.3, n), rng.uniform(1e-4, 1.0, n)
    vol[:5], t[5:10], vol[10:12] = 0.0, 0.0, np.nan  # the NaN rows too
    calls = rng.random(n) < 0.5
    x = 24000 * np.exp(np.cumsum(rng.normal(0, 1e-3, 375)))

    def run() -> tuple:
        one_by_one = [
            options.greeks(vol[i], spot[i], strike[i], t[i], 0.065, bool(calls[i])) for i in range(n)
        ]
        whole = options.greeks(vol, spot, strike, t, 0.065, calls)
        return one_by_one, whole, filters.recursive(0.1, -0.9, x, 0.9 * x[0])

    prefer(True)
    py_one, py_whole, py_filter = run()
    prefer(False)
    nb_one, nb_whole, nb_filter = run()
    for a, b in zip(py_one, nb_one, strict=True):
        for name in a:
            assert a[name] == b[name] or (math.isnan(a[name]) and math.isnan(b[name]))
    for name in py_whole:
        assert np.array_equal(py_whole[name], nb_whole[name], equal_nan=True)
    assert np.array_equal(py_filter, nb_filter)


def test_one_option_of_plain_floats_asks_for_no_kernel(prefer, monkeypatch) -> None:
    """One option of plain floats takes the kernel's body directly, not a kernel over arrays of one
    element, whatever the process prefers (a kernel asked for would fail here)."""

    def no_kernel():
        raise AssertionError("a kernel was asked for one option of plain floats")

    monkeypatch.setattr(options, "_numba_kernels", no_kernel)
    for flag in (False, True):
        prefer(flag)
        assert options.greeks(0.2, 24000.0, 24100.0, 0.02, 0.065, False)["delta"] < 0


def test_the_backtest_command_loads_no_numba_and_no_scipy_optimize() -> None:
    """In a fresh process: the app loaded, the command imported, small Greeks and a filter run the
    Python way - numba, scipy.optimize, kiteconnect and twisted are never imported."""
    code = """
import os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingsite.settings")
import django
django.setup()
import trading.management.commands.backtest
from trading.core import filters, jit, options
jit.prefer_python()
options.greeks(0.2, 24000.0, 24100.0, 0.02, 0.065, True)
filters.recursive(0.1, -0.9, [1.0, 2.0, 3.0])
print(sorted(m for m in ("numba", "llvmlite", "scipy.optimize", "kiteconnect", "twisted") if m in sys.modules))
"""
    env = {"DEBUG": "1", "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"
