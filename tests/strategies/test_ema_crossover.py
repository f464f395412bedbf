"""EMACrossoverStrategy: EMA9 crosses EMA21 through a band of +-gap_em x expected move."""

from __future__ import annotations

import numpy as np

from tests.strategies.frames import em, make_frame, signals_at
from trading.core.strategies.ema_crossover import EMACrossoverStrategy

S = EMACrossoverStrategy()
N = 140  # the band memory (60 bars) must be full before a cross counts
AT = 80


def _frame(spread: np.ndarray, vix: float = 14.0):
    return make_frame(N, ema_21=24000.0, ema_9=24000.0 + spread, vix=vix)


def _cross(start: float, end: float) -> np.ndarray:
    """``start`` until row AT, then 2 points a bar toward ``end``."""
    spread = np.full(N, start)
    step = 2.0 * np.arange(1, N - AT + 1)
    spread[AT:] = np.minimum(start + step, end) if end > start else np.maximum(start - step, end)
    return spread


def test_cross_up_through_the_band_fires_call():
    spread = _cross(-20.0, 30.0)
    band = 0.06 * em(24000, 14)  # 12.7 points
    want = int(np.flatnonzero(spread > band)[0])
    out = S.generate(_frame(spread))
    assert signals_at(out) == {want: "CALL"}
    assert "crossed above EMA21" in out["reason"].iloc[want]


def test_cross_down_fires_put():
    assert list(signals_at(S.generate(_frame(_cross(20.0, -30.0)))).values()) == ["PUT"]


def test_a_wiggle_that_never_left_the_band_is_not_a_cross():
    assert signals_at(S.generate(_frame(_cross(-5.0, 30.0)))) == {}  # never below -12.7
    assert signals_at(S.generate(_frame(_cross(-20.0, 10.0)))) == {}  # never above +12.7


def test_high_vix_regime_widens_the_band():
    # VIX 25: band 0.08 x 378 = 30.2; a swing from -20 to +25 crosses nothing
    assert signals_at(S.generate(_frame(_cross(-20.0, 25.0), vix=25.0))) == {}
    assert signals_at(S.generate(_frame(_cross(-40.0, 40.0), vix=25.0)))
