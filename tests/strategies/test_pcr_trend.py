"""PCRTrendStrategy: PCR rising with spot -> CALL, falling with spot -> PUT."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tests.strategies.frames import em, make_frame, ramp, signals_at
from trading.core.strategies.pcr_trend import PCRTrendStrategy

S = PCRTrendStrategy()
N = 90


def _first_row(
    close: np.ndarray, pcr: np.ndarray, minute: np.ndarray, vix: float, move_em: float
) -> int | None:
    """Independent reference: the first row where both 30-bar changes pass their thresholds."""
    c, p = pd.Series(close), pd.Series(pcr)
    need = move_em * close * vix / 100 / np.sqrt(252)  # per-row expected move
    ok = (p.diff(30) >= 0.03 - 1e-12) & (c.diff(30).abs() >= need) & (minute >= 30)
    rows = np.flatnonzero(ok.to_numpy())
    return int(rows[0]) if rows.size else None


def test_pcr_rising_with_spot_fires_call_where_both_thresholds_are_met():
    close = ramp(N, 24000.0, at=40, slope=1.5)
    pcr = ramp(N, 1.0, at=40, slope=0.003)
    f = make_frame(N, close=close, pcr_oi=pcr)
    out = S.generate(f)
    want = _first_row(close, pcr, f["minute"].to_numpy(), 14.0, 0.1)
    assert want is not None and signals_at(out) == {want: "CALL"}
    assert "with spot +" in out["reason"].iloc[want]


def test_pcr_falling_with_spot_fires_put():
    out = S.generate(
        make_frame(N, close=ramp(N, 24000.0, at=40, slope=-1.5), pcr_oi=ramp(N, 1.0, at=40, slope=-0.003))
    )
    assert list(signals_at(out).values()) == ["PUT"]


def test_silent_when_pcr_and_spot_diverge():
    f = make_frame(N, close=ramp(N, 24000.0, at=40, slope=1.5), pcr_oi=ramp(N, 1.0, at=40, slope=-0.003))
    assert signals_at(S.generate(f)) == {}
    f = make_frame(N, close=ramp(N, 24000.0, at=40, slope=1.5), pcr_oi=1.0)  # spot alone
    assert signals_at(S.generate(f)) == {}


def test_window_must_lie_inside_the_session():
    # a move from the previous afternoon into the open: nothing before minute 30 of the new session
    f = make_frame(
        N, start_minute=360, close=ramp(N, 24000.0, at=0, slope=1.5), pcr_oi=ramp(N, 1.0, at=0, slope=0.003)
    )
    fired = signals_at(S.generate(f))
    assert fired and all(f["minute"].iloc[i] >= 30 for i in fired)


def test_high_vix_regime_needs_a_bigger_move():
    close = ramp(N, 24000.0, at=40, slope=1.5)  # at most 45 points over 30 bars
    pcr = ramp(N, 1.0, at=40, slope=0.003)
    assert 0.1 * em(24000, 25) < 45 < 0.15 * em(24000, 25)
    assert signals_at(S.generate(make_frame(N, close=close, pcr_oi=pcr, vix=25.0))) == {}
    assert signals_at(S.generate(make_frame(N, close=close, pcr_oi=pcr, vix=25.0), {"regimes": {}}))
