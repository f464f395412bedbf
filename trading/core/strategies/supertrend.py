"""Supertrend(10, 3) flips."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from trading.core.strategies.base import (
    BaseParams,
    RegimeParams,
    SignalArrays,
    Strategy,
    param,
    rolling_max,
    rolling_min,
    scale_by_vix,
    shift,
    strength_from_excess,
)

SWING_MAX = 120


@dataclass(frozen=True)
class SupertrendParams(BaseParams):
    """How big the swing before a flip must be (x expected move), and the VWAP filter."""

    swing_bars: int = param(30, min=5, max=SWING_MAX, help="bars in which the swing is measured")
    swing_em: float = param(0.3, min=0.0, max=3.0, help="high - low of those bars, x expected move")
    vwap_filter: bool = param(True, help="take flips only on the side of VWAP they point to")
    regimes: dict = param({"high": {"swing_em": 0.4}})


class SupertrendStrategy(Strategy):
    """Supertrend(10, 3) flip.

    Rules:

    * CALL on the bar Supertrend flips from down to up; PUT on the bar it flips from up to down.
    * Whipsaw filter: the range (high - low) of the last ``swing_bars`` (30) bars must be at least
      ``swing_em`` (0.3) x expected move - a flip inside a flat market is noise.
    * With ``vwap_filter`` (on), an up-flip counts only with the close above VWAP, a down-flip only
      below it.
    * Strength from the swing against its threshold (full at 2x).
    * A flip is an event by itself (``quiet_bars`` does not apply).
    * High VIX regime: the swing must be 0.4 x expected move.
    """

    name = "SupertrendStrategy"
    Params = SupertrendParams
    lookback = SWING_MAX + 2
    columns = ("close", "high", "low", "vix", "expected_move", "supertrend", "supertrend_dir", "vwap")
    cooldown_minutes = 30

    def signals(self, cols: Mapping[str, np.ndarray], rp: RegimeParams) -> SignalArrays:
        p = rp.params
        close, st_dir = cols["close"], cols["supertrend_dir"]
        prev = shift(st_dir, 1)
        swing = rolling_max(cols["high"], p.swing_bars) - rolling_min(cols["low"], p.swing_bars)
        need = scale_by_vix(cols, rp.swing_em)
        big = swing >= need
        up_ok = close > cols["vwap"] if p.vwap_filter else True
        down_ok = close < cols["vwap"] if p.vwap_filter else True
        call = (st_dir > 0) & (prev < 0) & big & up_ok
        put = (st_dir < 0) & (prev > 0) & big & down_ok
        strength = strength_from_excess(swing, np.maximum(need, 1e-9))
        return self.emit(
            cols,
            rp,
            call,
            put,
            strength,
            "Supertrend flipped up at {st:.0f}, close {close:.0f} > VWAP {vwap:.0f}, swing {sw:.0f} >= {need:.0f}",
            "Supertrend flipped down at {st:.0f}, close {close:.0f} < VWAP {vwap:.0f}, swing {sw:.0f} >= {need:.0f}",
            st=cols["supertrend"],
            close=close,
            vwap=cols["vwap"],
            sw=swing,
            need=need,
        )
