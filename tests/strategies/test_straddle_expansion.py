"""StraddleExpansionStrategy: the ATM straddle expands against its decay; spot gives the side."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tests.strategies.frames import make_frame, ramp, signals_at
from trading.core.strategies.straddle_expansion import StraddleExpansionStrategy

S = StraddleExpansionStrategy()
N = 70


def _reference(f: pd.DataFrame, pct: float = 4.0, move_em: float = 0.15) -> int | None:
    ok = (f["straddle_premium"].pct_change(15) * 100 >= pct) & (f["minute"] >= 15)
    ok &= f["close"].diff(15).abs() >= move_em * f["expected_move"]
    rows = np.flatnonzero(ok.to_numpy())
    return int(rows[0]) if rows.size else None


def test_expansion_with_spot_falling_fires_put():
    f = make_frame(
        N, close=ramp(N, 24000.0, at=30, slope=-3.0), straddle_premium=ramp(N, 240.0, at=30, slope=1.0)
    )
    out = S.generate(f)
    assert _reference(f) == 40 and signals_at(out) == {40: "PUT"}  # 11 bars: +4.6%, -33 points
    assert "ATM straddle 251.0 +4.6%" in out["reason"].iloc[40]


def test_expansion_with_spot_rising_fires_call():
    f = make_frame(
        N, close=ramp(N, 24000.0, at=30, slope=3.0), straddle_premium=ramp(N, 240.0, at=30, slope=1.0)
    )
    assert signals_at(S.generate(f)) == {40: "CALL"}


def test_silent_without_expansion_or_without_a_move():
    decaying = make_frame(
        N, close=ramp(N, 24000.0, at=30, slope=-3.0), straddle_premium=ramp(N, 240.0, at=0, slope=-0.2)
    )
    assert signals_at(S.generate(decaying)) == {}
    no_move = make_frame(N, close=24000.0, straddle_premium=ramp(N, 240.0, at=30, slope=1.0))
    assert signals_at(S.generate(no_move)) == {}


def test_high_vix_regime_needs_more_expansion_and_a_bigger_move():
    f = make_frame(
        N,
        close=ramp(N, 24000.0, at=30, slope=-3.0),
        straddle_premium=ramp(N, 240.0, at=30, slope=1.0),
        vix=25.0,
    )
    assert signals_at(S.generate(f)) == {}  # 6% and 0.15 x 378 = 57 points: 45 points at most
    assert _reference(f, pct=6.0) is None
