"""PCRStrategy: contrarian PCR extremes with price confirmation."""

from __future__ import annotations

import numpy as np

from tests.strategies.frames import em, make_frame, signals_at, steps
from trading.core.strategies.pcr import PCRStrategy

S = PCRStrategy()
N = 40


def _frame(pcr_after: float, close_after: float, *, vix: float = 14.0, at: int = 30):
    return make_frame(
        N,
        close=steps(N, (0, 24000.0), (at, close_after)),
        pcr_oi=steps(N, (0, 1.0), (at, pcr_after)),
        vix=vix,
    )


def test_high_pcr_with_price_below_ema_fires_put_once():
    f = _frame(1.45, 23900.0)
    out = S.generate(f)
    assert signals_at(out) == {30: "PUT"}  # the condition holds for 10 bars: one event
    reason = out["reason"].iloc[30]
    assert "PCR 1.45 > 1.30" in reason and "close 23900" in reason and "VIX 14.0" in reason
    assert 0.5 <= out["strength"].iloc[30] <= 1.0


def test_low_pcr_with_price_above_ema_fires_call():
    out = S.generate(_frame(0.6, 24100.0))
    assert signals_at(out) == {30: "CALL"}
    assert "PCR 0.60 < 0.70" in out["reason"].iloc[30]


def test_silent_without_price_confirmation_or_extreme():
    assert signals_at(S.generate(_frame(1.45, 24000.0))) == {}  # extreme PCR, price flat on EMA20
    assert signals_at(S.generate(_frame(1.45, 24100.0))) == {}  # extreme PCR, price rising: no PUT
    assert signals_at(S.generate(_frame(1.25, 23900.0))) == {}  # falling price, PCR not extreme


def test_confirmation_is_scaled_by_vix():
    # close 12 points under EMA20: enough at VIX 14 (0.05 x 212 = 10.6), not at VIX 19 (0.05 x 287 = 14.4)
    assert 0.05 * em(23988, 14) < 12.0 < 0.05 * em(23988, 19)
    for vix, fires in ((14.0, True), (19.0, False)):
        f = make_frame(N, close=steps(N, (0, 24000.0), (30, 23988.0)), pcr_oi=steps(N, (0, 1.0), (30, 1.45)),
                       ema_20=24000.0, vix=vix)  # fmt: skip
        assert bool(signals_at(S.generate(f))) is fires


def test_high_vix_regime_moves_the_extremes_out():
    # VIX 25 is the high regime: PCR must pass 1.5, not 1.3
    assert signals_at(S.generate(_frame(1.45, 23800.0, vix=25.0))) == {}
    assert signals_at(S.generate(_frame(1.55, 23800.0, vix=25.0))) == {30: "PUT"}
    assert "high" in S.generate(_frame(1.55, 23800.0, vix=25.0))["reason"].iloc[30]
    # the regime table is a parameter: without it, 1.45 is an extreme at VIX 25 too
    assert signals_at(S.generate(_frame(1.45, 23800.0, vix=25.0), {"regimes": {}})) == {30: "PUT"}


def test_re_arms_only_after_quiet_bars():
    n = 80
    pcr = np.full(n, 1.45)
    pcr[:20] = 1.0
    pcr[30:35] = 1.0  # off for 5 bars: too short, no new event at 35
    pcr[50:70] = 1.2  # off for 20 bars (> quiet_bars 15): a new event at 70
    f = make_frame(n, close=steps(n, (0, 24000.0), (20, 23900.0)), pcr_oi=pcr, ema_20=24000.0)
    assert signals_at(S.generate(f)) == {20: "PUT", 70: "PUT"}
