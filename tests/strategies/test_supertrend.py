"""SupertrendStrategy: Supertrend(10, 3) flips after a real swing, on the right side of VWAP."""

from __future__ import annotations

import numpy as np

from tests.strategies.frames import make_frame, signals_at
from trading.core.strategies.supertrend import SupertrendStrategy

S = SupertrendStrategy()
N = 60


def _swing(size: float, sign: int = 1) -> np.ndarray:
    """Down (for an up-flip) by ``size`` over rows 0..39, then back up."""
    close = 24000.0 - sign * size * np.linspace(0, 1, 40)
    return np.concatenate([close, close[-1] + sign * 5.0 * np.arange(1, N - 39)])


def _dir(sign: int = 1) -> np.ndarray:
    return np.where(np.arange(N) >= 40, sign, -sign).astype(float)


def test_up_flip_after_a_swing_above_vwap_fires_call():
    out = S.generate(make_frame(N, close=_swing(100.0), supertrend_dir=_dir(), vwap=23850.0))
    assert signals_at(out) == {40: "CALL"}
    assert out["reason"].iloc[40].startswith("Supertrend flipped up")


def test_down_flip_fires_put():
    out = S.generate(make_frame(N, close=_swing(100.0, -1), supertrend_dir=_dir(-1), vwap=24150.0))
    assert signals_at(out) == {40: "PUT"}


def test_silent_on_a_flat_market_or_the_wrong_side_of_vwap():
    flat = make_frame(N, close=_swing(20.0), supertrend_dir=_dir(), vwap=23850.0)  # 0.3 x 212 = 64 > 24
    assert signals_at(S.generate(flat)) == {}
    below_vwap = make_frame(N, close=_swing(100.0), supertrend_dir=_dir(), vwap=24100.0)
    assert signals_at(S.generate(below_vwap)) == {}
    assert signals_at(S.generate(below_vwap, {"vwap_filter": False})) == {40: "CALL"}


def test_no_signal_while_the_direction_holds():
    f = make_frame(N, close=_swing(100.0), supertrend_dir=1.0, vwap=23850.0)
    assert signals_at(S.generate(f)) == {}


def test_high_vix_regime_needs_a_bigger_swing():
    f = make_frame(N, close=_swing(100.0), supertrend_dir=_dir(), vwap=23850.0, vix=25.0)  # 0.4 x 378 = 151
    assert signals_at(S.generate(f)) == {}
    big = make_frame(N, close=_swing(250.0), supertrend_dir=_dir(), vwap=23700.0, vix=25.0)  # 190 in 30 bars
    assert signals_at(S.generate(big)) == {40: "CALL"}
