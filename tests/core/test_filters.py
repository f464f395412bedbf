"""core.filters.recursive is scipy's lfilter for a first-order filter, to the last bit (the EMAs,
Wilder's averages and the simulator's AR(1) ran on lfilter before)."""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

from trading.core import filters, jit


def test_the_same_bits_as_lfilter() -> None:
    rng = np.random.default_rng(5)
    x = 24000 * np.exp(np.cumsum(rng.normal(0, 1e-3, 5000)))
    for n in (9, 14, 21, 50):
        a = 2.0 / (n + 1.0)
        want, _ = lfilter([a], [1.0, -(1.0 - a)], x, zi=[(1.0 - a) * x[0]])
        assert np.array_equal(filters.recursive(a, -(1.0 - a), x, (1.0 - a) * x[0]), want)
    e = rng.normal(0, 1, 5000)
    assert np.array_equal(filters.recursive(1.0, -0.97, e), lfilter([1.0], [1.0, -0.97], e))


def test_the_python_loop_gives_the_same_bits(monkeypatch) -> None:
    monkeypatch.setattr(jit, "_prefer_python", True)  # a short call then runs in Python
    assert not jit.compiled(300)
    x = np.linspace(1.0, 2.0, 300) ** 3
    want, _ = lfilter([0.1], [1.0, -0.9], x, zi=[0.9 * 1.5])
    assert np.array_equal(filters.recursive(0.1, -0.9, x, 0.9 * 1.5), want)
    assert filters.recursive(0.1, -0.9, np.empty(0)).shape == (0,)
