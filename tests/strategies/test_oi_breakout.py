"""OIBreakoutStrategy: the close breaks the OI resistance (CALL) or support (PUT)."""

from __future__ import annotations

import numpy as np

from tests.strategies.frames import em, make_frame, ramp, signals_at
from trading.core.strategies.oi_breakout import OIBreakoutStrategy

S = OIBreakoutStrategy()
N = 60


def test_break_above_resistance_plus_buffer_fires_call():
    close = ramp(N, 24000.0, at=10, slope=5.0)
    out = S.generate(make_frame(N, close=close, resistance=24100.0, support=23700.0))
    want = int(np.flatnonzero(close > 24100.0 + 0.1 * em(close, 14.0))[0])  # buffer 0.1 x EM
    assert signals_at(out) == {want: "CALL"}
    assert "broke resistance 24100" in out["reason"].iloc[want]


def test_break_below_support_fires_put():
    close = ramp(N, 24000.0, at=10, slope=-5.0)
    out = S.generate(make_frame(N, close=close, resistance=24300.0, support=23900.0))
    assert list(signals_at(out).values()) == ["PUT"]


def test_silent_inside_the_buffer():
    close = np.minimum(ramp(N, 24000.0, at=10, slope=5.0), 24115.0)  # 15 points past, buffer 21
    assert signals_at(S.generate(make_frame(N, close=close, resistance=24100.0))) == {}


def test_uses_the_level_that_stood_before_the_bar():
    # the call-OI wall moves up on the breakout bar itself; the break of the old wall still counts
    close = np.where(np.arange(N) >= 30, 24150.0, 24050.0)
    resistance = np.where(np.arange(N) >= 30, 24200.0, 24100.0)
    assert signals_at(S.generate(make_frame(N, close=close, resistance=resistance))) == {30: "CALL"}


def test_high_vix_regime_widens_the_buffer():
    close = np.where(np.arange(N) >= 30, 24140.0, 24050.0)  # 40 points past the wall
    assert 0.1 * em(24140, 14) < 40 < 0.15 * em(24140, 25)
    assert signals_at(S.generate(make_frame(N, close=close, resistance=24100.0))) == {30: "CALL"}
    assert signals_at(S.generate(make_frame(N, close=close, resistance=24100.0, vix=25.0))) == {}
