"""ATM straddle-premium expansion."""

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

WINDOW_MAX = 120


@dataclass(frozen=True)
class StraddleExpansionParams(BaseParams):
    """Window, straddle expansion (%) and spot move (x expected move)."""

    window: int = param(15, min=3, max=WINDOW_MAX, help="bars over which the straddle expands")
    expansion_pct: float = param(4.0, min=0.5, max=100.0, help="rise of the ATM straddle premium, %")
    move_em: float = param(0.15, min=0.0, max=2.0, help="spot move over the window, x expected move")
    regimes: dict = param({"high": {"expansion_pct": 6.0}})


class StraddleExpansionStrategy(Strategy):
    """ATM straddle-premium expansion: the options market starts paying for a move.

    Rules, over the last ``window`` (15) bars of the session:

    * The ATM straddle premium (call + put mid) rose by at least ``expansion_pct`` (4%) - against
      its time decay, so the market is buying volatility.
    * The direction comes from spot: CALL when spot rose by at least ``move_em`` (0.15) x expected
      move, PUT when it fell as much.
    * Only once the window lies inside the session (no overnight decay in the comparison); an
      event, re-armed after ``quiet_bars`` bars.
    * Strength from the expansion against its threshold (full at 2x).
    * High VIX regime: the straddle must expand by 6%.
    """

    name = "StraddleExpansionStrategy"
    Params = StraddleExpansionParams
    lookback = WINDOW_MAX + QUIET_MAX + 2
    columns = ("close", "vix", "expected_move", "straddle_premium", "minute")
    cooldown_minutes = 30

    def signals(self, cols: Mapping[str, np.ndarray], rp: RegimeParams) -> SignalArrays:
        p = rp.params
        close, straddle = cols["close"], cols["straddle_premium"]
        expansion = (straddle / shift(straddle, p.window) - 1.0) * 100.0
        d_close = close - shift(close, p.window)
        need = scale_by_vix(cols, rp.move_em)
        expanding = (cols["minute"] >= p.window) & (expansion >= rp.expansion_pct)
        call = event(expanding & (d_close >= need), p.quiet_bars)
        put = event(expanding & (d_close <= -need), p.quiet_bars)
        strength = strength_from_excess(expansion, rp.expansion_pct)
        return self.emit(
            cols,
            rp,
            call,
            put,
            strength,
            "ATM straddle {st:.1f} +{ex:.1f}% (>= {thr:.1f}%) with spot +{dc:.0f} (>= {need:.0f}) over {n} bars",
            "ATM straddle {st:.1f} +{ex:.1f}% (>= {thr:.1f}%) with spot {dc:.0f} (<= -{need:.0f}) over {n} bars",
            st=straddle,
            ex=expansion,
            thr=rp.expansion_pct,
            dc=d_close,
            need=need,
            n=p.window,
        )
