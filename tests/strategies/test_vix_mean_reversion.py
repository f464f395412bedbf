"""VIXMeanReversionStrategy: a fading VIX spike -> CALL, a VIX crush turning up -> PUT."""

from __future__ import annotations

import numpy as np

from tests.strategies.frames import make_frame, signals_at
from trading.core.strategies.vix_mean_reversion import VIXMeanReversionStrategy

S = VIXMeanReversionStrategy()
N = 420
AT = 390


def _frame(base: float, peak: float, after: float, close_step: float):
    """VIX at ``base`` for 380 bars, ``peak`` for 10, then ``after``; the close steps at AT."""
    vix = np.full(N, base)
    vix[380:AT] = peak
    vix[AT:] = after
    close = np.where(np.arange(N) >= AT, 24000.0 + close_step, 24000.0)
    return make_frame(N, vix=vix, close=close)


def test_fading_spike_with_price_turning_up_fires_call():
    out = S.generate(_frame(14.0, 15.5, 15.2, +10.0))
    assert signals_at(out) == {AT: "CALL"}
    dev = (15.2 / ((364 * 14.0 + 10 * 15.5 + 15.2) / 375) - 1) * 100  # rows 16..390: the 375-bar mean
    assert f"VIX spike +{dev:.1f}%" in out["reason"].iloc[AT]


def test_crush_turning_up_with_price_falling_fires_put():
    assert signals_at(S.generate(_frame(14.0, 12.9, 13.1, -10.0))) == {AT: "PUT"}


def test_silent_while_the_spike_has_not_turned_or_price_disagrees():
    assert signals_at(S.generate(_frame(14.0, 15.5, 15.5, +10.0))) == {}  # VIX has not come off its high
    assert signals_at(S.generate(_frame(14.0, 15.5, 15.2, -10.0))) == {}  # price still falling
    assert signals_at(S.generate(_frame(14.0, 14.6, 14.4, +10.0))) == {}  # +2.6%: no spike


def test_high_vix_regime_needs_a_bigger_spike():
    frame = _frame(21.0, 23.25, 22.8, +10.0)  # about +8% over the mean: a spike at 6%, not at 9%
    assert signals_at(S.generate(frame)) == {}
    assert signals_at(S.generate(frame, {"regimes": {}})) == {AT: "CALL"}
