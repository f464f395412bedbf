"""Range breakout taken only while implied volatility is cheap."""

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

RANGE_MAX = 120


@dataclass(frozen=True)
class IVPercentileBreakoutParams(BaseParams):
    """IV percentile ceiling, consolidation length and width, breakout buffer (x expected move)."""

    max_iv_percentile: float = param(35.0, min=0.0, max=100.0, help="trade only below this IV percentile")
    range_bars: int = param(30, min=5, max=RANGE_MAX, help="bars of the consolidation range")
    max_width_em: float = param(0.3, min=0.02, max=3.0, help="range no wider than this x expected move")
    buffer_em: float = param(0.03, min=0.0, max=1.0, help="close beyond the range by this x expected move")
    regimes: dict = param({"high": {"active": False}})


class IVPercentileBreakoutStrategy(Strategy):
    """IV-percentile breakout: buy a range breakout while options are cheap.

    Rules:

    * Only while ATM IV percentile (against the last 252 sessions) is below ``max_iv_percentile``
      (35): a breakout then pays twice, by the move and by IV waking up.
    * The range is the high and low of the ``range_bars`` (30) bars before this one, and must be a
      consolidation: no wider than ``max_width_em`` (0.3) x expected move.
    * CALL when the close breaks above the range high + ``buffer_em`` (0.03) x expected move; PUT
      when it breaks below the range low - buffer. An event, re-armed after ``quiet_bars`` bars.
    * Strength from how cheap IV is: 0.5 at the ceiling, 1 at percentile 0.
    * High VIX regime: off - IV is not cheap when VIX is high, whatever its percentile says.
    """

    name = "IVPercentileBreakoutStrategy"
    Params = IVPercentileBreakoutParams
    lookback = RANGE_MAX + QUIET_MAX + 2
    columns = ("close", "high", "low", "vix", "expected_move", "iv_percentile")
    cooldown_minutes = 45

    def signals(self, cols: Mapping[str, np.ndarray], rp: RegimeParams) -> SignalArrays:
        p = rp.params
        close, ivp = cols["close"], cols["iv_percentile"]
        hi = shift(rolling_max(cols["high"], p.range_bars), 1)
        lo = shift(rolling_min(cols["low"], p.range_bars), 1)
        buf = scale_by_vix(cols, rp.buffer_em)
        ok = (ivp < rp.max_iv_percentile) & (hi - lo <= scale_by_vix(cols, rp.max_width_em))
        call = event(ok & (close > hi + buf), p.quiet_bars)
        put = event(ok & (close < lo - buf), p.quiet_bars)
        strength = strength_from_excess(
            rp.max_iv_percentile - ivp + 1.0, 1.0, full_at=1.0 + rp.max_iv_percentile
        )
        return self.emit(
            cols,
            rp,
            call,
            put,
            strength,
            "IV percentile {ivp:.0f} < {cap:.0f}; close {close:.0f} broke the {n}-bar range high {hi:.0f} + {buf:.0f}",
            "IV percentile {ivp:.0f} < {cap:.0f}; close {close:.0f} broke the {n}-bar range low {lo:.0f} - {buf:.0f}",
            ivp=ivp,
            cap=rp.max_iv_percentile,
            close=close,
            n=p.range_bars,
            hi=hi,
            lo=lo,
            buf=buf,
        )
