"""Break of the OI support or resistance."""

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


@dataclass(frozen=True)
class OIBreakoutParams(BaseParams):
    """Breakout buffer beyond the OI level, x expected move."""

    buffer_em: float = param(0.1, min=0.0, max=2.0, help="close beyond the level by this x expected move")
    regimes: dict = param({"high": {"buffer_em": 0.15}})


class OIBreakoutStrategy(Strategy):
    """OI support/resistance break: the wall gives way.

    Rules, on the nearest expiry (resistance = strike with the most call OI, support = strike with
    the most put OI, as they stood on the previous bar):

    * CALL when the close breaks above resistance + ``buffer_em`` (0.1) x expected move: call writers
      are overrun and must cover.
    * PUT when the close breaks below support - ``buffer_em`` x expected move.
    * An event, re-armed after ``quiet_bars`` bars without the break.
    * Strength from the distance past the level against the buffer (0.4 at it, full at 3x).
    * High VIX regime: the buffer is 0.15 x expected move.
    """

    name = "OIBreakoutStrategy"
    Params = OIBreakoutParams
    lookback = QUIET_MAX + 2
    columns = ("close", "vix", "expected_move", "support", "resistance")
    cooldown_minutes = 30

    def signals(self, cols: Mapping[str, np.ndarray], rp: RegimeParams) -> SignalArrays:
        close = cols["close"]
        res, sup = shift(cols["resistance"], 1), shift(cols["support"], 1)
        buf = scale_by_vix(cols, rp.buffer_em)
        call = event(close > res + buf, rp.params.quiet_bars)
        put = event(close < sup - buf, rp.params.quiet_bars)
        past = np.where(call, close - res, sup - close)
        strength = strength_from_excess(past, np.maximum(buf, 1e-9), base=0.4, full_at=3.0)
        return self.emit(
            cols,
            rp,
            call,
            put,
            strength,
            "close {close:.0f} broke resistance {res:.0f} + {buf:.0f} (call-OI wall)",
            "close {close:.0f} broke support {sup:.0f} - {buf:.0f} (put-OI wall)",
            close=close,
            res=res,
            sup=sup,
            buf=buf,
        )
