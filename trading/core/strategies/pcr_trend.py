"""PCR trend: PCR moving with spot."""

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
class PCRTrendParams(BaseParams):
    """Window, PCR change and spot move (x expected move) that make a trend."""

    window: int = param(30, min=5, max=WINDOW_MAX, help="bars over which PCR and spot change")
    pcr_change: float = param(0.03, min=0.01, max=1.0, help="PCR (OI) change over the window")
    move_em: float = param(0.1, min=0.02, max=2.0, help="spot move over the window, x expected move")
    regimes: dict = param({"high": {"move_em": 0.15}})


class PCRTrendStrategy(Strategy):
    """PCR trend: PCR rising with spot -> CALL, falling with spot -> PUT.

    Rules, over the last ``window`` bars of the session (30):

    * CALL when the OI PCR rose by at least ``pcr_change`` (0.03) - puts being written under a
      rising market, support building - and spot rose by at least ``move_em`` (0.1) x expected move.
    * PUT when PCR fell by ``pcr_change`` (calls written, resistance building) and spot fell by
      ``move_em`` x expected move.
    * Only once the window lies inside the session (minute >= window); an event, re-armed after
      ``quiet_bars`` bars without the condition.
    * Strength from the spot move against its threshold (full at 2x).
    * High VIX regime: the spot move must be 0.15 x expected move.
    """

    name = "PCRTrendStrategy"
    Params = PCRTrendParams
    lookback = WINDOW_MAX + QUIET_MAX + 2
    columns = ("close", "vix", "expected_move", "pcr_oi", "minute")
    cooldown_minutes = 30

    def signals(self, cols: Mapping[str, np.ndarray], rp: RegimeParams) -> SignalArrays:
        p = rp.params
        close, pcr = cols["close"], cols["pcr_oi"]
        d_pcr = pcr - shift(pcr, p.window)
        d_close = close - shift(close, p.window)
        need = scale_by_vix(cols, rp.move_em)
        inside = cols["minute"] >= p.window
        call = event(inside & (d_pcr >= rp.pcr_change) & (d_close >= need), p.quiet_bars)
        put = event(inside & (d_pcr <= -rp.pcr_change) & (d_close <= -need), p.quiet_bars)
        strength = strength_from_excess(np.abs(d_close), need)
        return self.emit(
            cols,
            rp,
            call,
            put,
            strength,
            "PCR {pcr0:.2f} -> {pcr:.2f} (+{dp:.2f}) with spot +{dc:.0f} >= {need:.0f} over {n} bars",
            "PCR {pcr0:.2f} -> {pcr:.2f} ({dp:.2f}) with spot {dc:.0f} <= -{need:.0f} over {n} bars",
            pcr0=shift(pcr, p.window),
            pcr=pcr,
            dp=d_pcr,
            dc=d_close,
            need=need,
            n=p.window,
        )
