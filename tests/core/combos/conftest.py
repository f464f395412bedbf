"""Hand-made NIFTY chains for the combo tests (spot 24,000 on Monday 2026-05-04, lot 65).

Only the quoted strikes matter to the hand-worked figures; the others are filled in linearly so
that the chain looks like one (prices fall away from the money on each side).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from trading.core.combos.resolve import ChainSnapshot

ON = date(2026, 5, 4)
NEAR = date(2026, 5, 5)  # CURRENT_WEEK on ON
FAR = date(2026, 5, 12)  # NEXT_WEEK on ON
SPOT = 24000.0
LOT = 65

NEAR_CE = {23600: 460.0, 23800: 290.0, 24000: 150.0, 24200: 70.0, 24400: 25.0}
NEAR_PE = {23600: 20.0, 23800: 60.0, 24000: 140.0, 24200: 260.0, 24400: 420.0}
FAR_CE = {23600: 560.0, 23800: 400.0, 24000: 260.0, 24200: 160.0, 24400: 90.0}
FAR_PE = {23600: 90.0, 23800: 150.0, 24000: 240.0, 24200: 370.0, 24400: 520.0}
STRIKES = np.arange(23500.0, 24501.0, 50.0)


def _fill(quotes: dict[int, float]) -> np.ndarray:
    k = np.array(sorted(quotes), dtype=float)
    return np.interp(STRIKES, k, [quotes[int(x)] for x in k])


def snapshot(ce: dict[int, float], pe: dict[int, float], spot: float = SPOT) -> ChainSnapshot:
    return ChainSnapshot(spot=spot, step=50, strikes=STRIKES, call_ltp=_fill(ce), put_ltp=_fill(pe))


@pytest.fixture
def chains() -> dict[date, ChainSnapshot]:
    far = snapshot(FAR_CE, FAR_PE)
    far = ChainSnapshot(
        spot=far.spot,
        step=far.step,
        strikes=far.strikes,
        call_ltp=far.call_ltp,
        put_ltp=far.put_ltp,
        call_iv=np.full(STRIKES.shape, 0.14),
        put_iv=np.full(STRIKES.shape, 0.15),
    )
    return {NEAR: snapshot(NEAR_CE, NEAR_PE), FAR: far}
