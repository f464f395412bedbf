"""PCR extremes, read contrarian, with price confirmation."""

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
class PCRParams(BaseParams):
    """Thresholds of the PCR extremes and of the price confirmation (x expected move)."""

    pcr_high: float = param(1.3, min=1.0, max=3.0, help="PCR (OI) above this is an extreme: bearish")
    pcr_low: float = param(0.7, min=0.2, max=1.0, help="PCR (OI) below this is an extreme: bullish")
    confirm_em: float = param(0.05, min=0.0, max=1.0, help="close beyond EMA20 by this x expected move")
    regimes: dict = param({"high": {"pcr_high": 1.5, "pcr_low": 0.6}})


class PCRStrategy(Strategy):
    """PCR extreme (contrarian, price-confirmed).

    Rules, on the nearest expiry's open-interest PCR:

    * PUT when PCR > ``pcr_high`` (1.3): put writing this heavy is read as a crowded, overheated
      market - and the close confirms weakness: below EMA20 by at least ``confirm_em`` x the one-day
      expected move.
    * CALL when PCR < ``pcr_low`` (0.7): call writing this heavy marks a washed-out market - and the
      close is above EMA20 by ``confirm_em`` x expected move.
    * An event: fires on the bar the combined condition becomes true, again only after
      ``quiet_bars`` bars without it.
    * Strength grows with how far PCR is past its threshold (full at 1.3x the threshold's distance).
    * High VIX regime: the extremes move out to 1.5 / 0.6 (fear inflates put OI).
    """

    name = "PCRStrategy"
    Params = PCRParams
    lookback = QUIET_MAX + 2
    columns = ("close", "vix", "expected_move", "pcr_oi", "ema_20")
    cooldown_minutes = 30

    def signals(self, cols: Mapping[str, np.ndarray], rp: RegimeParams) -> SignalArrays:
        close, ema, pcr = cols["close"], cols["ema_20"], cols["pcr_oi"]
        buf = scale_by_vix(cols, rp.confirm_em)
        put = event((pcr > rp.pcr_high) & (close < ema - buf), rp.params.quiet_bars)
        call = event((pcr < rp.pcr_low) & (close > ema + buf), rp.params.quiet_bars)
        strength = np.where(
            put,
            strength_from_excess(pcr, rp.pcr_high, full_at=1.3),
            strength_from_excess(rp.pcr_low / pcr, 1.0, full_at=1.3),
        )
        return self.emit(
            cols,
            rp,
            call,
            put,
            strength,
            "PCR {pcr:.2f} < {lo:.2f} and close {close:.0f} > EMA20 {ema:.0f} + {buf:.0f}",
            "PCR {pcr:.2f} > {hi:.2f} and close {close:.0f} < EMA20 {ema:.0f} - {buf:.0f}",
            pcr=pcr,
            lo=rp.pcr_low,
            hi=rp.pcr_high,
            close=close,
            ema=ema,
            buf=buf,
        )
