"""VWAP + EMA20 trend entries."""

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
    rolling_min,
    scale_by_vix,
    shift,
    strength_from_excess,
)

SLOPE_MAX = 60


@dataclass(frozen=True)
class VWAPEMAParams(BaseParams):
    """Distance from VWAP and EMA20 slope (x expected move) that make a trend entry."""

    buffer_em: float = param(0.15, min=0.0, max=2.0, help="close beyond VWAP by this x expected move")
    slope_bars: int = param(10, min=1, max=SLOPE_MAX, help="bars over which EMA20's slope is measured")
    slope_em: float = param(0.03, min=0.0, max=1.0, help="EMA20 change over slope_bars, x expected move")
    reclaim_bars: int = param(
        15, min=2, max=SLOPE_MAX, help="the close was on VWAP's other side within these bars"
    )
    first_minute: int = param(15, min=0, max=374, help="not before this minute (VWAP needs some bars)")
    quiet_bars: int = param(30, min=1, max=QUIET_MAX)
    regimes: dict = param({"high": {"buffer_em": 0.2}})


class VWAPEMAStrategy(Strategy):
    """VWAP + EMA20: trade with the session's volume-weighted trend.

    Rules:

    * CALL when the close reclaims VWAP - it was below VWAP within the last ``reclaim_bars`` (15)
      bars and is now above it by ``buffer_em`` (0.15) x expected move - above EMA20, with EMA20
      risen by at least ``slope_em`` (0.03) x expected move over ``slope_bars`` (10) bars.
    * PUT when the close loses VWAP the same way (was above within ``reclaim_bars``, now below by
      the buffer), below EMA20, with EMA20 fallen as much.
    * Not before ``first_minute`` (15, 09:30 IST): VWAP of a few bars means nothing.
    * An event, re-armed after ``quiet_bars`` (30) bars without the condition.
    * Strength from the distance to VWAP against the buffer (full at 2x).
    * High VIX regime: buffer 0.2 x expected move.
    """

    name = "VWAPEMAStrategy"
    Params = VWAPEMAParams
    lookback = SLOPE_MAX + QUIET_MAX + 2  # slope_bars and reclaim_bars share SLOPE_MAX
    columns = ("close", "vix", "expected_move", "vwap", "ema_20", "minute")
    cooldown_minutes = 30

    def signals(self, cols: Mapping[str, np.ndarray], rp: RegimeParams) -> SignalArrays:
        p = rp.params
        close, vwap, ema = cols["close"], cols["vwap"], cols["ema_20"]
        buf = scale_by_vix(cols, rp.buffer_em)
        slope = ema - shift(ema, p.slope_bars)
        min_slope = scale_by_vix(cols, rp.slope_em)
        late = cols["minute"] >= p.first_minute
        side = close - vwap
        was_below = rolling_min(side, p.reclaim_bars) < 0
        was_above = rolling_max(side, p.reclaim_bars) > 0
        call = event(late & was_below & (side > buf) & (close > ema) & (slope >= min_slope), p.quiet_bars)
        put = event(late & was_above & (side < -buf) & (close < ema) & (slope <= -min_slope), p.quiet_bars)
        strength = strength_from_excess(np.abs(close - vwap), np.maximum(buf, 1e-9))
        return self.emit(
            cols,
            rp,
            call,
            put,
            strength,
            "close {close:.0f} > VWAP {vwap:.0f} + {buf:.0f} and > EMA20 {ema:.0f} rising {slope:+.0f}",
            "close {close:.0f} < VWAP {vwap:.0f} - {buf:.0f} and < EMA20 {ema:.0f} falling {slope:+.0f}",
            close=close,
            vwap=vwap,
            buf=buf,
            ema=ema,
            slope=slope,
        )
