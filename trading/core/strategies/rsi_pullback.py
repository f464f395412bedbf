"""RSI(14) pullback within a Supertrend."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from trading.core.strategies.base import (
    BaseParams,
    RegimeParams,
    SignalArrays,
    Strategy,
    crossed_above,
    crossed_below,
    param,
    rolling_max,
    rolling_min,
    scale_by_vix,
    strength_from_excess,
)

PULLBACK_MAX = 120
TROUGH_BARS = 5  # the pullback's extreme lies in the last few bars: RSI has only just turned


@dataclass(frozen=True)
class RSIPullbackParams(BaseParams):
    """RSI levels of a pullback, its depth (x expected move) and the bars it may span."""

    rsi_low: float = param(40.0, min=5.0, max=50.0, help="in an uptrend, RSI dips below this and recovers")
    rsi_high: float = param(60.0, min=50.0, max=95.0, help="in a downtrend, RSI rises above this and fades")
    pullback_bars: int = param(10, min=3, max=PULLBACK_MAX, help="bars the pullback may span")
    depth_em: float = param(0.1, min=0.0, max=2.0, help="pullback depth at least this x expected move")
    regimes: dict = param({"high": {"rsi_low": 35.0, "rsi_high": 65.0, "depth_em": 0.15}})


class RSIPullbackStrategy(Strategy):
    """RSI(14) pullback within a Supertrend: buy the dip of a trend, not the trend's end.

    Rules:

    * CALL when Supertrend has pointed up for all of the last ``pullback_bars`` (10) bars and RSI(14)
      crosses back above ``rsi_low`` (40) after dipping below it, the dip having taken at least
      ``depth_em`` (0.1) x expected move off the high of those bars (the low of the last 5 bars
      against it).
    * PUT mirror: Supertrend down throughout, RSI crosses back below ``rsi_high`` (60) after rising
      above it, the bounce at least ``depth_em`` x expected move off the low of those bars.
    * Strength from the depth against its threshold (full at 2x).
    * A cross of the RSI level is an event by itself (``quiet_bars`` does not apply).
    * High VIX regime: levels 35 / 65 and depth 0.15 x expected move.
    """

    name = "RSIPullbackStrategy"
    Params = RSIPullbackParams
    lookback = PULLBACK_MAX + 2
    columns = ("close", "high", "low", "vix", "expected_move", "rsi_14", "supertrend_dir")
    cooldown_minutes = 30

    def signals(self, cols: Mapping[str, np.ndarray], rp: RegimeParams) -> SignalArrays:
        p = rp.params
        rsi, st_dir = cols["rsi_14"], cols["supertrend_dir"]
        n = p.pullback_bars
        up_all = rolling_min(st_dir, n) > 0
        down_all = rolling_max(st_dir, n) < 0
        dip = np.abs(
            np.where(st_dir > 0, rolling_max(cols["high"], n), rolling_min(cols["low"], n))
            - np.where(
                st_dir > 0, rolling_min(cols["low"], TROUGH_BARS), rolling_max(cols["high"], TROUGH_BARS)
            )
        )
        need = scale_by_vix(cols, rp.depth_em)
        deep = dip >= need
        call = up_all & deep & crossed_above(rsi, rp.rsi_low)
        put = down_all & deep & crossed_below(rsi, rp.rsi_high)
        strength = strength_from_excess(dip, np.maximum(need, 1e-9))
        return self.emit(
            cols,
            rp,
            call,
            put,
            strength,
            "Supertrend up {n} bars, RSI {rsi:.1f} back above {lo:.0f} after a {dip:.0f}-point dip (>= {need:.0f})",
            "Supertrend down {n} bars, RSI {rsi:.1f} back below {hi:.0f} after a {dip:.0f}-point bounce (>= {need:.0f})",
            n=n,
            rsi=rsi,
            lo=rp.rsi_low,
            hi=rp.rsi_high,
            dip=dip,
            need=need,
        )
