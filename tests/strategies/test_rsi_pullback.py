"""RSIPullbackStrategy: RSI dips and recovers while Supertrend keeps pointing the same way."""

from __future__ import annotations

import numpy as np

from tests.strategies.frames import make_frame, signals_at
from trading.core.strategies.rsi_pullback import RSIPullbackStrategy

S = RSIPullbackStrategy()
N = 40


def _uptrend_dip(depth: float, rsi_low: float = 35.0) -> dict:
    close = np.concatenate(
        [np.linspace(24000, 24100, 19), np.full(6, 24100.0 - depth), np.full(N - 25, 24100.0 - depth + 10)]
    )
    rsi = np.full(N, 55.0)
    rsi[19:25] = rsi_low
    rsi[25:] = 45.0
    return dict(close=close, rsi_14=rsi)


def test_rsi_recovering_inside_an_uptrend_fires_call():
    out = S.generate(make_frame(N, supertrend_dir=1.0, **_uptrend_dip(40.0)))
    assert signals_at(out) == {25: "CALL"}
    assert "RSI 45.0 back above 40" in out["reason"].iloc[25]


def test_rsi_fading_inside_a_downtrend_fires_put():
    up = _uptrend_dip(40.0)
    close, rsi = 48200.0 - up["close"], 100.0 - up["rsi_14"]  # the mirror image
    out = S.generate(make_frame(N, supertrend_dir=-1.0, close=close, rsi_14=rsi))
    assert signals_at(out) == {25: "PUT"}


def test_silent_when_the_trend_broke_or_the_dip_is_shallow():
    broke = np.where(np.arange(N) == 22, -1.0, 1.0)  # Supertrend flipped during the pullback
    assert signals_at(S.generate(make_frame(N, supertrend_dir=broke, **_uptrend_dip(40.0)))) == {}
    assert signals_at(S.generate(make_frame(N, supertrend_dir=1.0, **_uptrend_dip(5.0)))) == {}  # < 21 points


def test_high_vix_regime_uses_deeper_levels():
    # at VIX 25 the levels are 35/65 and the depth 0.15 x 378 = 57: a dip to RSI 38 of 60 points is no pullback
    frame = make_frame(N, supertrend_dir=1.0, vix=25.0, **_uptrend_dip(60.0, rsi_low=38.0))
    assert signals_at(S.generate(frame)) == {}
    assert signals_at(S.generate(frame, {"regimes": {"high": {"depth_em": 0.15}}})) == {25: "CALL"}
