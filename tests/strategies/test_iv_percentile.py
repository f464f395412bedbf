"""IVPercentileBreakoutStrategy: a consolidation breakout taken only while IV percentile is low."""

from __future__ import annotations

import numpy as np

from tests.strategies.frames import make_frame, signals_at
from trading.core.strategies.iv_percentile import IVPercentileBreakoutStrategy

S = IVPercentileBreakoutStrategy()
N = 60


def _breakout(level: float = 24030.0, width: float = 10.0) -> np.ndarray:
    """A range of +-width/2 around 24000 for 40 bars, then the close at ``level``."""
    close = 24000.0 + width / 2 * np.where(np.arange(N) % 2 == 0, 1.0, -1.0)
    close[40:] = level
    return close


def test_breakout_of_a_tight_range_while_iv_is_cheap_fires():
    out = S.generate(make_frame(N, close=_breakout(), iv_percentile=20.0))
    assert signals_at(out) == {40: "CALL"}
    assert "IV percentile 20 < 35" in out["reason"].iloc[40]
    assert (
        S.generate(make_frame(N, close=_breakout(23970.0), iv_percentile=20.0))["direction"].iloc[40] == "PUT"
    )


def test_cheaper_iv_is_a_stronger_signal():
    strong = S.generate(make_frame(N, close=_breakout(), iv_percentile=5.0))["strength"].iloc[40]
    weak = S.generate(make_frame(N, close=_breakout(), iv_percentile=30.0))["strength"].iloc[40]
    assert strong > weak >= 0.5


def test_silent_when_iv_is_not_cheap_the_range_is_wide_or_the_break_small():
    assert signals_at(S.generate(make_frame(N, close=_breakout(), iv_percentile=60.0))) == {}
    wide = _breakout(24100.0, width=80.0)  # 84 points of range > 0.3 x 212 = 63.5
    assert signals_at(S.generate(make_frame(N, close=wide, iv_percentile=20.0))) == {}
    assert (
        signals_at(S.generate(make_frame(N, close=_breakout(24010.0), iv_percentile=20.0))) == {}
    )  # < buffer


def test_off_in_the_high_vix_regime():
    frame = make_frame(N, close=_breakout(24060.0), iv_percentile=20.0, vix=25.0)
    assert signals_at(S.generate(frame)) == {}
    assert signals_at(S.generate(frame, {"regimes": {}})) == {40: "CALL"}  # only the regime switch held it
