"""Max-pain magnet in expiry week."""

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
    scale_by_vix,
    strength_from_excess,
)


@dataclass(frozen=True)
class MaxPainParams(BaseParams):
    """How far from max pain (x expected move), in which part of the expiry week and session."""

    max_days: float = param(4.0, min=0.0, max=7.0, help="days to expiry at most (expiry week)")
    distance_em: float = param(0.6, min=0.05, max=3.0, help="|close - max pain| before expiry day, x EM")
    expiry_day_distance_em: float = param(0.35, min=0.05, max=3.0, help="the same on expiry day, x EM")
    first_minute: int = param(60, min=0, max=374, help="not before this minute of the session")
    expiry_day_bonus: float = param(0.3, min=0.0, max=1.0, help="strength added on expiry day")
    regimes: dict = param({"high": {"distance_em": 0.9, "expiry_day_distance_em": 0.5}})


class MaxPainStrategy(Strategy):
    """Max-pain magnet: in expiry week, spot far from max pain drifts back toward it.

    Rules, on the nearest expiry:

    * Only in expiry week (``days_to_expiry`` <= ``max_days``, 4) and from ``first_minute`` (60,
      10:15 IST) on.
    * PUT when the close is above max pain by more than the threshold and below EMA9 (turning down
      toward it); CALL when below max pain by more than the threshold and above EMA9.
    * Threshold: ``distance_em`` (0.6) x expected move, and only ``expiry_day_distance_em`` (0.35) x
      expected move on expiry day, when option writers defend max pain hardest.
    * Strongest on expiry day: strength from the distance against its threshold (0.4 at it, full at
      2x), plus ``expiry_day_bonus`` (0.3) on expiry day.
    * An event, re-armed after ``quiet_bars`` bars without the condition.
    * High VIX regime: thresholds 0.9 / 0.5 x expected move.
    """

    name = "MaxPainStrategy"
    Params = MaxPainParams
    lookback = QUIET_MAX + 2
    columns = (
        "close",
        "vix",
        "expected_move",
        "ema_9",
        "max_pain",
        "max_pain_distance",
        "days_to_expiry",
        "is_expiry_day",
        "minute",
    )
    cooldown_minutes = 45

    def signals(self, cols: Mapping[str, np.ndarray], rp: RegimeParams) -> SignalArrays:
        p = rp.params
        close, ema9, dist = cols["close"], cols["ema_9"], cols["max_pain_distance"]
        expiry_day = cols["is_expiry_day"].astype(bool)
        need = scale_by_vix(cols, np.where(expiry_day, rp.expiry_day_distance_em, rp.distance_em))
        window = (cols["days_to_expiry"] <= rp.max_days) & (cols["minute"] >= p.first_minute)
        put = event(window & (dist > need) & (close < ema9), p.quiet_bars)
        call = event(window & (dist < -need) & (close > ema9), p.quiet_bars)
        strength = strength_from_excess(np.abs(dist), need, base=0.4) * 0.7 + np.where(
            expiry_day, rp.expiry_day_bonus, 0.0
        )
        when = np.where(expiry_day, "expiry day", "expiry week")
        return self.emit(
            cols,
            rp,
            call,
            put,
            strength,
            "close {close:.0f} is {d:.0f} below max pain {mp:.0f} (> {need:.0f}, {when}), above EMA9 {ema:.0f}",
            "close {close:.0f} is {d:.0f} above max pain {mp:.0f} (> {need:.0f}, {when}), below EMA9 {ema:.0f}",
            close=close,
            d=np.abs(dist),
            mp=cols["max_pain"],
            need=need,
            when=when,
            ema=ema9,
        )
