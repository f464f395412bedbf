"""OIBuildupStrategy: long build-up -> CALL, short build-up -> PUT."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tests.strategies.frames import em, make_frame, ramp, signals_at
from trading.core.strategies.oi_buildup import OIBuildupStrategy

S = OIBuildupStrategy()
N = 80


def _reference(f: pd.DataFrame, move_em: float = 0.2) -> int | None:
    """Independent: first row where the 20-bar move passes move_em x EM and total OI grew >= 1%."""
    oi = f["call_oi"] + f["put_oi"]
    ok = (f["close"].diff(20).abs() >= move_em * f["expected_move"]) & (oi.pct_change(20) * 100 >= 1.0)
    ok &= f["minute"] >= 20
    rows = np.flatnonzero(ok.to_numpy())
    return int(rows[0]) if rows.size else None


def test_price_up_with_oi_up_is_a_long_build_up():
    f = make_frame(N, close=ramp(N, 24000.0, at=30, slope=3.0), call_oi=ramp(N, 1e7, at=30, slope=2e4))
    out = S.generate(f)
    want = _reference(f)
    assert want == 44 and signals_at(out) == {want: "CALL"}  # the 15th bar up: +45 >= 0.2 x 212
    assert out["reason"].iloc[want].startswith("long build-up: spot +45")


def test_price_down_with_oi_up_is_a_short_build_up():
    f = make_frame(N, close=ramp(N, 24000.0, at=30, slope=-3.0), put_oi=ramp(N, 1e7, at=30, slope=2e4))
    assert signals_at(S.generate(f)) == {_reference(f): "PUT"}


def test_short_covering_and_long_unwinding_are_not_traded():
    covering = make_frame(
        N, close=ramp(N, 24000.0, at=30, slope=3.0), call_oi=ramp(N, 1e7, at=30, slope=-2e4)
    )
    unwinding = make_frame(
        N, close=ramp(N, 24000.0, at=30, slope=-3.0), put_oi=ramp(N, 1e7, at=30, slope=-2e4)
    )
    assert signals_at(S.generate(covering)) == {} and signals_at(S.generate(unwinding)) == {}


def test_high_vix_regime_needs_a_bigger_move():
    f = make_frame(
        N, close=ramp(N, 24000.0, at=30, slope=4.0), call_oi=ramp(N, 1e7, at=30, slope=2e4), vix=25.0
    )
    assert 0.2 * em(24080, 25) < 80 < 0.3 * em(24000, 25)  # a 20-bar move of 80 points
    assert signals_at(S.generate(f)) == {}
    assert signals_at(S.generate(f, {"regimes": {}})) == {_reference(f): "CALL"}
