"""VWAPEMAStrategy: the close reclaims (or loses) VWAP by a buffer, with EMA20 agreeing."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tests.strategies.frames import make_frame, signals_at
from trading.core.strategies.vwap_ema import VWAPEMAStrategy

S = VWAPEMAStrategy()
N = 120


def _reference(f: pd.DataFrame, buffer_em: float = 0.15, sign: int = 1) -> int | None:
    """Independent: first row of the rule written with pandas rolling windows."""
    side = sign * (f["close"] - f["vwap"])
    ok = (f["minute"] >= 15) & (side.rolling(15).min() < 0) & (side > buffer_em * f["expected_move"])
    ok &= sign * (f["close"] - f["ema_20"]) > 0
    ok &= sign * f["ema_20"].diff(10) >= 0.03 * f["expected_move"]
    rows = np.flatnonzero(ok.to_numpy())
    return int(rows[0]) if rows.size else None


def _dip_then_rally(rally: float, sign: int = 1) -> np.ndarray:
    close = np.full(N, 24000.0)
    close[30:50] = 24000.0 - sign * np.linspace(2, 20, 20)  # under VWAP
    close[50:] = close[49] + sign * rally * np.arange(1, N - 49)  # the rally
    return close


def test_reclaiming_vwap_with_a_rising_ema_fires_call():
    f = make_frame(N, close=_dip_then_rally(4.0))
    want = _reference(f)
    out = S.generate(f)
    assert want is not None and signals_at(out) == {want: "CALL"}
    assert "> VWAP" in out["reason"].iloc[want] and "EMA20" in out["reason"].iloc[want]


def test_losing_vwap_with_a_falling_ema_fires_put():
    f = make_frame(N, close=_dip_then_rally(4.0, sign=-1))
    assert signals_at(S.generate(f)) == {_reference(f, sign=-1): "PUT"}


def test_silent_without_a_reclaim():
    # a market that has been above VWAP all along is a continuation, not a reclaim
    close = 24000.0 + 2.0 * np.arange(N)
    assert signals_at(S.generate(make_frame(N, close=close))) == {}
    # a reclaim without EMA20 rising (VWAP and EMA20 given flat)
    f = make_frame(N, close=_dip_then_rally(4.0), ema_20=23990.0)
    assert signals_at(S.generate(f)) == {}


def test_high_vix_regime_widens_the_buffer():
    close = _dip_then_rally(4.0)
    f14, f25 = make_frame(N, close=close), make_frame(N, close=close, vix=25.0)
    # within 15 bars of the reclaim the close gets > 0.15 x 212 = 32 over VWAP, never 0.2 x 378 = 76
    assert _reference(f14) is not None and _reference(f25, buffer_em=0.2) is None
    assert signals_at(S.generate(f14)) == {_reference(f14): "CALL"}
    assert signals_at(S.generate(f25)) == {}
