"""Expiry-day gamma: late-session bursts on cheap near-ATM options."""

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
    shift,
    strength_from_excess,
)

WINDOW_MAX = 60


@dataclass(frozen=True)
class ExpiryGammaParams(BaseParams):
    """Session window on expiry day, cheapness of the straddle and size of the burst (x expected move)."""

    first_minute: int = param(255, min=0, max=374, help="from this minute of expiry day (13:30)")
    last_minute: int = param(345, min=0, max=374, help="until this minute (15:00)")
    max_straddle_em: float = param(0.5, min=0.01, max=3.0, help="ATM straddle at most this x expected move")
    window: int = param(10, min=2, max=WINDOW_MAX, help="bars of the burst")
    move_em: float = param(0.1, min=0.01, max=2.0, help="spot move over the window, x expected move")
    max_strength: float = param(0.4, min=0.05, max=1.0, help="cap on strength: the size stays tiny")
    regimes: dict = param({"high": {"move_em": 0.15}})


class ExpiryGammaStrategy(Strategy):
    """Expiry-day gamma: a late burst on expiry day, bought through cheap near-ATM options.

    Rules:

    * Only on the nearest expiry's expiry day, between ``first_minute`` (255, 13:30 IST) and
      ``last_minute`` (345, 15:00 IST).
    * The ATM straddle must be cheap: at most ``max_straddle_em`` (0.5) x expected move - the options
      are mostly gamma now.
    * CALL when spot rose by at least ``move_em`` (0.1) x expected move over the last ``window`` (10)
      bars; PUT when it fell as much. An event, re-armed after ``quiet_bars`` bars.
    * Tiny size: strength from the burst against its threshold, capped at ``max_strength`` (0.4).
    * High VIX regime: the burst must be 0.15 x expected move.
    """

    name = "ExpiryGammaStrategy"
    Params = ExpiryGammaParams
    lookback = WINDOW_MAX + QUIET_MAX + 2
    columns = ("close", "vix", "expected_move", "straddle_premium", "is_expiry_day", "minute")
    cooldown_minutes = 20

    def signals(self, cols: Mapping[str, np.ndarray], rp: RegimeParams) -> SignalArrays:
        p = rp.params
        close, minute = cols["close"], cols["minute"]
        d_close = close - shift(close, p.window)
        need = scale_by_vix(cols, rp.move_em)
        cheap_max = scale_by_vix(cols, rp.max_straddle_em)
        live = (
            cols["is_expiry_day"].astype(bool)
            & (minute >= p.first_minute)
            & (minute <= p.last_minute)
            & (cols["straddle_premium"] <= cheap_max)
        )
        call = event(live & (d_close >= need), p.quiet_bars)
        put = event(live & (d_close <= -need), p.quiet_bars)
        strength = np.minimum(strength_from_excess(np.abs(d_close), need), rp.max_strength)
        return self.emit(
            cols,
            rp,
            call,
            put,
            strength,
            "expiry day: spot +{dc:.0f} (>= {need:.0f}) in {n} bars, ATM straddle {st:.1f} <= {cheap:.0f}",
            "expiry day: spot {dc:.0f} (<= -{need:.0f}) in {n} bars, ATM straddle {st:.1f} <= {cheap:.0f}",
            dc=d_close,
            need=need,
            n=p.window,
            st=cols["straddle_premium"],
            cheap=cheap_max,
        )
