"""OI build-up: price and open interest moving together."""

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
class OIBuildupParams(BaseParams):
    """Window, spot move (x expected move) and OI growth that make a build-up."""

    window: int = param(20, min=3, max=WINDOW_MAX, help="bars over which price and OI change")
    move_em: float = param(0.2, min=0.02, max=2.0, help="spot move over the window, x expected move")
    oi_pct: float = param(1.0, min=0.05, max=50.0, help="growth of total OI over the window, %")
    regimes: dict = param({"high": {"move_em": 0.3}})


class OIBuildupStrategy(Strategy):
    """OI build-up: fresh positions behind a move.

    Rules, over the last ``window`` bars (20) of the session, on the nearest expiry's total OI
    (calls + puts):

    * Long build-up - spot up by at least ``move_em`` (0.2) x expected move and OI up by at least
      ``oi_pct`` (1%) -> CALL.
    * Short build-up - spot down by ``move_em`` x expected move and OI up by ``oi_pct`` -> PUT.
    * Short covering and long unwinding (the move with OI falling) are not traded: nobody new is
      behind them.
    * Only once the window lies inside the session; an event, re-armed after ``quiet_bars`` bars.
    * Strength from the spot move against its threshold (full at 2x).
    * High VIX regime: the move must be 0.3 x expected move.
    """

    name = "OIBuildupStrategy"
    Params = OIBuildupParams
    lookback = WINDOW_MAX + QUIET_MAX + 2
    columns = ("close", "vix", "expected_move", "call_oi", "put_oi", "minute")
    cooldown_minutes = 30

    def signals(self, cols: Mapping[str, np.ndarray], rp: RegimeParams) -> SignalArrays:
        p = rp.params
        close = cols["close"]
        oi = cols["call_oi"] + cols["put_oi"]
        d_close = close - shift(close, p.window)
        d_oi = (oi / shift(oi, p.window) - 1.0) * 100.0
        need = scale_by_vix(cols, rp.move_em)
        building = (cols["minute"] >= p.window) & (d_oi >= rp.oi_pct)
        call = event(building & (d_close >= need), p.quiet_bars)
        put = event(building & (d_close <= -need), p.quiet_bars)
        strength = strength_from_excess(np.abs(d_close), need)
        return self.emit(
            cols,
            rp,
            call,
            put,
            strength,
            "long build-up: spot +{dc:.0f} (>= {need:.0f}) and OI +{doi:.1f}% over {n} bars",
            "short build-up: spot {dc:.0f} (<= -{need:.0f}) and OI +{doi:.1f}% over {n} bars",
            dc=d_close,
            need=need,
            doi=d_oi,
            n=p.window,
        )
