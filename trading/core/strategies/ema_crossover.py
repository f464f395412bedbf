"""EMA 9/21 crossover."""

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
    shift,
    strength_from_excess,
)

MEMORY_MAX = 240


@dataclass(frozen=True)
class EMACrossoverParams(BaseParams):
    """Spread band (x expected move) a cross must travel across, and how long it may take."""

    gap_em: float = param(0.06, min=0.0, max=1.0, help="EMA9 - EMA21 beyond +-this x expected move")
    memory: int = param(60, min=5, max=MEMORY_MAX, help="bars in which the spread crossed the band")
    regimes: dict = param({"high": {"gap_em": 0.08}})


class EMACrossoverStrategy(Strategy):
    """EMA 9/21 crossover, confirmed across a band.

    Rules, on the spread EMA9 - EMA21:

    * CALL on the bar the spread rises above +``gap_em`` (0.06) x expected move, having been below
      -``gap_em`` x expected move within the last ``memory`` (60) bars: a real cross from below, not
      a wiggle around zero.
    * PUT on the bar the spread falls below -``gap_em`` x expected move, having been above
      +``gap_em`` x expected move within ``memory`` bars.
    * Strength from the spread against the band (full at 2x).
    * A cross is an event by itself (``quiet_bars`` does not apply).
    * High VIX regime: the band is 0.08 x expected move.
    """

    name = "EMACrossoverStrategy"
    Params = EMACrossoverParams
    lookback = MEMORY_MAX + 3
    columns = ("close", "vix", "expected_move", "ema_9", "ema_21")
    cooldown_minutes = 30

    def signals(self, cols: Mapping[str, np.ndarray], rp: RegimeParams) -> SignalArrays:
        p = rp.params
        spread = cols["ema_9"] - cols["ema_21"]
        band = scale_by_vix(cols, rp.gap_em)
        z = spread / np.maximum(band, 1e-9)  # the spread in band widths: both sides compare to +-1
        was_below = rolling_min(shift(z, 1), p.memory) < -1.0
        was_above = rolling_max(shift(z, 1), p.memory) > 1.0
        call = crossed_above(z, 1.0) & was_below
        put = crossed_below(z, -1.0) & was_above
        strength = strength_from_excess(np.abs(spread), np.maximum(band, 1e-9))
        return self.emit(
            cols,
            rp,
            call,
            put,
            strength,
            "EMA9 {e9:.0f} crossed above EMA21 {e21:.0f}: spread {sp:+.1f} > {band:.1f}",
            "EMA9 {e9:.0f} crossed below EMA21 {e21:.0f}: spread {sp:+.1f} < -{band:.1f}",
            e9=cols["ema_9"],
            e21=cols["ema_21"],
            sp=spread,
            band=band,
        )
