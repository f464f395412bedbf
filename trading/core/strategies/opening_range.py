"""Opening-range breakout."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from trading.core.strategies.base import (
    BaseParams,
    RegimeParams,
    SignalArrays,
    Strategy,
    first_in_session,
    param,
    scale_by_vix,
    strength_from_excess,
)

SESSION_BARS = 375


@dataclass(frozen=True)
class OpeningRangeParams(BaseParams):
    """Breakout buffer and opening-range width (x expected move), last minute to take a breakout."""

    buffer_em: float = param(0.05, min=0.0, max=1.0, help="close beyond the range by this x expected move")
    min_width_em: float = param(0.1, min=0.0, max=2.0, help="narrowest range worth trading, x EM")
    max_width_em: float = param(0.8, min=0.05, max=5.0, help="widest range worth trading, x EM")
    last_minute: int = param(225, min=15, max=374, help="no breakout taken after this minute (13:00)")
    regimes: dict = param({"high": {"buffer_em": 0.1, "max_width_em": 1.0}})


class OpeningRangeBreakoutStrategy(Strategy):
    """Opening-range breakout (ORB) of the 09:15-09:30 range.

    Rules:

    * The opening range is the high and low of the first 15 minutes; it is traded only if its width
      lies between ``min_width_em`` (0.1) and ``max_width_em`` (0.8) x expected move - a sliver is
      noise, a huge range has used up the day's move.
    * CALL the first time in the session the close is above the range high + ``buffer_em`` (0.05) x
      expected move; PUT the first time it is below the range low - buffer. One breakout per side
      per session (``quiet_bars`` does not apply), and none after ``last_minute`` (225, 13:00 IST).
    * Strength from the distance past the range against the range width (0.5 at a quarter of it,
      full at half of it).
    * High VIX regime: buffer 0.1 and widest range 1.0 x expected move.
    """

    name = "OpeningRangeBreakoutStrategy"
    Params = OpeningRangeParams
    lookback = SESSION_BARS + 2
    columns = ("close", "vix", "expected_move", "or_high", "or_low", "minute")
    cooldown_minutes = 60

    def signals(self, cols: Mapping[str, np.ndarray], rp: RegimeParams) -> SignalArrays:
        p = rp.params
        close, hi, lo, minute = cols["close"], cols["or_high"], cols["or_low"], cols["minute"]
        width = hi - lo
        buf = scale_by_vix(cols, rp.buffer_em)
        ok = (width >= scale_by_vix(cols, rp.min_width_em)) & (width <= scale_by_vix(cols, rp.max_width_em))
        ok &= minute <= p.last_minute
        call = first_in_session(ok & (close > hi + buf), minute)
        put = first_in_session(ok & (close < lo - buf), minute)
        past = np.where(call, close - hi, lo - close)
        strength = strength_from_excess(past, np.maximum(width / 4.0, 1e-9))
        return self.emit(
            cols,
            rp,
            call,
            put,
            strength,
            "close {close:.0f} > opening-range high {hi:.0f} + {buf:.0f} (range {w:.0f})",
            "close {close:.0f} < opening-range low {lo:.0f} - {buf:.0f} (range {w:.0f})",
            close=close,
            hi=hi,
            lo=lo,
            buf=buf,
            w=width,
        )
