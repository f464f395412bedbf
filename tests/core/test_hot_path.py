"""The engine's hot-path shortcuts give what the plain definitions give (issue 18's speed work).

Each shortcut is checked against a second, naive implementation written here: the order ids' base32
digits, the one-option Greeks against the array path and Black-Scholes by hand, the cheap copy of a
broker order against ``deepcopy``, a chain's cached quote against reading the arrays, and a quiet
stretch's marks against rounding every bar's mark.
"""

from __future__ import annotations

import hashlib
import math
import random
from copy import deepcopy
from datetime import UTC, date, datetime
from decimal import Decimal

import numpy as np
import pytest

from trading.core import jit, options, orders, risk
from trading.core.bars import OptionChain
from trading.core.order_types import BrokerOrder
from trading.core.serialize import json_value


def _naive_b32(data: bytes, length: int) -> str:
    n = int.from_bytes(data, "big")
    out = []
    for _ in range(length):
        n, r = divmod(n, 32)
        out.append(orders._ALPHABET[r])
    return "".join(out)


def test_order_id_digits_equal_the_full_number_read_in_base32():
    rng = random.Random(7)
    for _ in range(2000):
        data = hashlib.sha256(rng.randbytes(16)).digest()
        for length in (1, 8, 19, 51):
            assert orders._b32(data, length) == _naive_b32(data, length)


def _bs_by_hand(vol, spot, strike, t, r, is_call):
    """Black-Scholes Greeks (q = 0) from the textbook formulas, in options.greeks' units."""
    d1 = (math.log(spot / strike) + (r + 0.5 * vol * vol) * t) / (vol * math.sqrt(t))
    d2 = d1 - vol * math.sqrt(t)
    pdf = math.exp(-0.5 * d1 * d1) / math.sqrt(2 * math.pi)
    cdf = lambda x: 0.5 * math.erfc(-x / math.sqrt(2))  # noqa: E731
    delta = cdf(d1) if is_call else cdf(d1) - 1
    gamma = pdf / (spot * vol * math.sqrt(t))
    vega = spot * pdf * math.sqrt(t) / 100
    if is_call:
        theta = (-spot * pdf * vol / (2 * math.sqrt(t)) - r * strike * math.exp(-r * t) * cdf(d2)) / 365
    else:
        theta = (-spot * pdf * vol / (2 * math.sqrt(t)) + r * strike * math.exp(-r * t) * cdf(-d2)) / 365
    return {"delta": delta, "gamma": gamma, "vega": vega, "theta": theta}


@pytest.mark.parametrize("is_call", [True, False])
def test_one_option_greeks_equal_the_array_path_and_the_formulas(is_call):
    cases = [(0.14, 24000.0, 24100.0, 3 / 365, 0.065), (0.3, 22000.0, 21500, 0.05, 0.07)]
    for vol, spot, strike, t, r in cases:
        one = options.greeks(vol, spot, strike, t, r, is_call)
        arrays = options.greeks(np.array([vol, vol]), spot, strike, t, r, is_call)
        by_hand = _bs_by_hand(vol, spot, strike, t, r, is_call)
        for name in ("delta", "gamma", "vega", "theta", "rho"):
            assert isinstance(one[name], float)
            assert one[name] == arrays[name][0]
        for name, value in by_hand.items():
            assert one[name] == pytest.approx(value, rel=1e-9, abs=1e-12)
    assert math.isnan(options.greeks(0.0, 24000.0, 24000.0, 0.01, 0.07, is_call)["delta"])


@pytest.mark.parametrize("is_call", [True, False])
def test_one_option_greeks_in_python_equal_the_compiled_kernel_bit_for_bit(is_call, monkeypatch):
    """A one-shot command (``jit.prefer_python()``) prices one option's Greeks on plain floats; a worker
    runs the compiled kernel: the same numbers, including the edges (an invalid input, a vol * sqrt(t)
    that underflows to 0 - numpy's IEEE division there, not Python's ZeroDivisionError)."""
    cases = [
        (0.14, 24000.0, 24100.0, 3 / 365, 0.065),
        (0.3, 22000, 21500, 0.05, 0.07),
        (0.2, 24000.0, 24000.0, 0.0, 0.07),
        (1e-200, 24000.0, 24000.0, 1e-300, 0.07),
        (0.2, 24000.0, math.inf, 0.1, 0.07),
        (0.2, 24000.0, 24000.0, 0.1, math.nan),
    ]
    names = ("delta", "gamma", "vega", "theta", "rho")
    for vol, spot, strike, t, r in cases:
        monkeypatch.setattr(jit, "_prefer_python", False)
        compiled = options.greeks(vol, spot, strike, t, r, is_call)
        monkeypatch.setattr(jit, "_prefer_python", True)
        python = options.greeks(vol, spot, strike, t, r, is_call)
        for name in names:
            assert isinstance(python[name], float)
            same = python[name] == compiled[name] or (math.isnan(python[name]) and math.isnan(compiled[name]))
            assert same, (vol, spot, strike, t, r, name, python[name], compiled[name])


def test_a_broker_order_copy_is_a_deep_copy():
    at = datetime(2026, 5, 4, 4, 0, tzinfo=UTC)
    child = BrokerOrder("C1", "B1", "FILLED", 75, Decimal("101.5"), [(75, Decimal("101.5"), at)], quantity=75)
    order = BrokerOrder("P1", fills=[(75, Decimal("101.5"), at)], children=[child], quantity=75)
    copied = order.copy()
    assert copied == deepcopy(order)
    copied.fills.append((1, Decimal("1"), at))
    copied.children[0].fills.clear()
    copied.children[0].status = "CANCELLED"
    assert order.fills == [(75, Decimal("101.5"), at)] and child.fills and child.status == "FILLED"


def _chain() -> OptionChain:
    strikes = np.array([23900.0, 24000.0, 24100.0])
    side = {f"{s}_{n}": np.array([1.0, 2.0, 3.0]) * (10 if s == "call" else 20) + k for k, n in enumerate(
        ("ltp", "bid", "ask", "oi", "volume", "iv")) for s in ("call", "put")}  # fmt: skip
    return OptionChain(expiry=date(2026, 5, 7), strikes=strikes, **side)


def test_a_cached_quote_reads_the_arrays_and_hands_out_copies():
    chain = _chain()
    for strike in (23900.0, 24000.0, 24100.0):
        for kind, side in (("CE", "call"), ("PE", "put"), ("CALL", "call")):
            i = int(np.flatnonzero(chain.strikes == strike)[0])
            expected = {
                n: float(getattr(chain, f"{side}_{n}")[i])
                for n in ("ltp", "bid", "ask", "oi", "volume", "iv")
            }
            first = chain.quote(strike, kind)
            assert first == expected
            first["ltp"] = -1.0  # the caller's copy
            assert chain.quote(strike, kind) == expected
    assert chain.quote(25000.0, "CE") is None and chain.quote(25000.0, "CE") is None


def test_json_value_fast_path_answers_as_the_general_rules():
    for value, expected in [(1.5, 1.5), (math.nan, None), (math.inf, None), (3, 3), ("a", "a"), (True, True),
                            (None, None), (np.float64(2.5), 2.5), (np.float64("nan"), None), (Decimal("1.2"), "1.2")]:  # fmt: skip
        got = json_value(value)
        assert got == expected and type(got) is type(expected)


def test_a_quiet_stretch_marks_as_every_bar_rounded():
    """``_mark_stretch`` takes the tick of the highest, lowest and last float: the same as rounding
    every bar's mark and taking the max, min and last (the rounding is monotonic)."""
    from trading.core.backtest import _mark_stretch
    from trading.core.state import OpenPosition

    rng = np.random.default_rng(3)
    for _ in range(200):
        v = np.round(rng.uniform(50, 150, size=rng.integers(1, 40)), rng.integers(1, 4))
        v[rng.random(v.size) < 0.2] = np.nan
        ticks = [risk.to_tick(float(x)) for x in v if not math.isnan(x)]
        position = OpenPosition.__new__(OpenPosition)
        position.last_price = position.high_water = position.low_water = position.trail = None
        position.trail_fraction, position.trail_activation = 0.2, Decimal("1000")
        _mark_stretch(position, v)
        if not ticks:
            assert position.last_price is None
            continue
        assert (position.high_water, position.low_water, position.last_price) == (
            max(ticks),
            min(ticks),
            ticks[-1],
        )
