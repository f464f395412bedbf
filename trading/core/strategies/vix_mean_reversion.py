"""India VIX mean reversion."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from trading.core.strategies.base import (
    QUIET_MAX,
    BaseParams,
    RegimeParams,
    SignalArrays,
    Strategy,
    event,
    param,
    rolling_max,
    rolling_mean,
    rolling_min,
    strength_from_excess,
)

MEAN_MAX = 750
TURN_MAX = 60


@dataclass(frozen=True)
class VIXMeanReversionParams(BaseParams):
    """VIX mean window, spike/crush sizes (%), and the turn that confirms reversion."""

    mean_bars: int = param(375, min=30, max=MEAN_MAX, help="bars of VIX's reference mean (375 = a session)")
    spike_pct: float = param(6.0, min=0.5, max=100.0, help="VIX above its mean by this % is a spike")
    crush_pct: float = param(5.0, min=0.5, max=90.0, help="VIX below its mean by this % is a crush")
    turn_bars: int = param(15, min=2, max=TURN_MAX, help="bars in which VIX must turn back")
    turn_pct: float = param(1.0, min=0.1, max=50.0, help="VIX off its extreme of turn_bars by this %")
    regimes: dict = param({"high": {"spike_pct": 9.0}, "low": {"crush_pct": 4.0}})


class VIXMeanReversionStrategy(Strategy):
    """India VIX mean reversion: fear spikes fade, complacency ends.

    Rules, with VIX's mean over the last ``mean_bars`` (375, about a session) as the reference:

    * CALL after a fear spike: VIX is at least ``spike_pct`` (6%) above its mean, has come off its
      high of the last ``turn_bars`` (15) bars by ``turn_pct`` (1%), and the close is above EMA9 -
      fear is fading and spot is turning up with it.
    * PUT after a crush: VIX at least ``crush_pct`` (5%) below its mean, up ``turn_pct`` from its low
      of the last ``turn_bars`` bars, and the close below EMA9.
    * An event, re-armed after ``quiet_bars`` bars.
    * Strength from the spike (or crush) against its threshold (full at 2x).
    * High VIX regime: a spike must be 9%; low VIX regime: a crush of 4% is enough.
    """

    name = "VIXMeanReversionStrategy"
    Params = VIXMeanReversionParams
    lookback = MEAN_MAX + TURN_MAX + QUIET_MAX + 2
    columns = ("close", "vix", "ema_9")
    cooldown_minutes = 60

    def signals(self, cols: Mapping[str, np.ndarray], rp: RegimeParams) -> SignalArrays:
        p = rp.params
        vix, close, ema9 = cols["vix"], cols["close"], cols["ema_9"]
        mean = rolling_mean(vix, p.mean_bars)
        dev = (vix / mean - 1.0) * 100.0
        off_high = (1.0 - vix / rolling_max(vix, p.turn_bars)) * 100.0
        off_low = (vix / rolling_min(vix, p.turn_bars) - 1.0) * 100.0
        call = event((dev >= rp.spike_pct) & (off_high >= rp.turn_pct) & (close > ema9), p.quiet_bars)
        put = event((dev <= -rp.crush_pct) & (off_low >= rp.turn_pct) & (close < ema9), p.quiet_bars)
        strength = np.where(
            call, strength_from_excess(dev, rp.spike_pct), strength_from_excess(-dev, rp.crush_pct)
        )
        return self.emit(
            cols,
            rp,
            call,
            put,
            strength,
            "VIX spike {dev:+.1f}% vs its {n}-bar mean {mean:.2f} fading ({off:.1f}% off the high), close {close:.0f} > EMA9 {ema:.0f}",
            "VIX crush {dev:+.1f}% vs its {n}-bar mean {mean:.2f} turning up ({offl:.1f}% off the low), close {close:.0f} < EMA9 {ema:.0f}",
            dev=dev,
            n=p.mean_bars,
            mean=mean,
            off=off_high,
            offl=off_low,
            close=close,
            ema=ema9,
        )
