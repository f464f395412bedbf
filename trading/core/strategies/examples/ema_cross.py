"""``ema_cross``: an EMA crossover, long or flat - the "write your own strategy" example.

Written from the core helpers only: ``features.ema`` (the one EMA function; here seeded with the
mean of the first n closes) and ``base.crossover`` (a sign change against the last non-zero
difference). Walked through in ``docs/plain-bars.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from trading.core.features import ema
from trading.core.strategies.base import BaseParams, RegimeParams, SignalArrays, Strategy, crossover, param


@dataclass(frozen=True)
class EmaCrossParams(BaseParams):
    """The two EMA lengths, in bars."""

    fast: int = param(9, min=2, max=500, help="bars of the fast EMA")
    slow: int = param(21, min=3, max=1000, help="bars of the slow EMA")


class EmaCross(Strategy):
    """EMA(fast) / EMA(slow) crossover on the close, long or flat.

    Rules:

    * EMA(n) starts from the average of the first n closes, then ``alpha = 2/(n+1)`` (``ema`` with
      ``seed="sma"``): NaN before the n-th close.
    * CALL (buy) on the bar EMA(fast) - EMA(slow) turns positive after its last non-zero value was
      negative; PUT (close the long) on the bar it turns negative after a positive one
      (``crossover``). The two alternate.
    * Strength 1. Signals are known at the bar's close; the research mode fills at the next bar's open.
    * It reads the close only (``vix`` is NaN on plain bars: the normal regime).

    Research only: its EMAs start where the series it is given starts, so it is not one of the desk's
    strategies (their signals must not depend on where the history begins).
    """

    name = "ema_cross"
    Params = EmaCrossParams
    lookback = 2
    columns = ("close", "vix")

    def signals(self, cols: Mapping[str, np.ndarray], rp: RegimeParams) -> SignalArrays:
        p = rp.params
        direction = crossover(ema(cols["close"], p.fast, seed="sma"), ema(cols["close"], p.slow, seed="sma"))
        rows = np.flatnonzero(direction)
        up, down = f"EMA{p.fast} crossed above EMA{p.slow}", f"EMA{p.fast} crossed below EMA{p.slow}"
        reasons = dict(
            zip(rows.tolist(), [up if d > 0 else down for d in direction[rows].tolist()], strict=True)
        )
        return SignalArrays(direction=direction, strength=(direction != 0).astype(float), reasons=reasons)
