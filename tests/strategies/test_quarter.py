"""Over a simulated quarter (with the simulator's warm-up history for IV percentile), every strategy
fires at least once and none fires on more than 2% of the bars; the live evaluation of a window
equals the backtest's row."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from trading.core.features import feature_frame
from trading.core.simulator import MarketSimulator
from trading.core.strategies import registry
from trading.core.strategies.evaluate import FeatureWindow, evaluate_all, signal_frame_all

pytestmark = pytest.mark.slow

MAX_SHARE = 0.02


@pytest.fixture(scope="module")
def quarter() -> pd.DataFrame:
    sim = MarketSimulator(seed=1, start=date(2025, 1, 1))
    return feature_frame(sim.days(date(2025, 1, 1), date(2025, 3, 31)), sim.warmup_history())


@pytest.fixture(scope="module")
def signals(quarter) -> pd.DataFrame:
    return signal_frame_all(None, quarter)


def test_every_strategy_fires_and_none_too_often(quarter, signals):
    # 61 weekdays and the Saturday budget session of 2025-02-01
    assert len(quarter) == 62 * 375 and quarter["iv_percentile"].notna().all()
    counts = signals.groupby("strategy").size().reindex(registry.names(), fill_value=0)
    share = counts / len(quarter)
    assert (counts >= 1).all(), counts[counts < 1]
    assert (share <= MAX_SHARE).all(), share[share > MAX_SHARE]
    assert signals["strength"].between(0, 1, inclusive="right").all()
    assert signals["reason"].str.contains("VIX").all()
    # an event per bar at most, per strategy
    assert not signals.reset_index().duplicated(["time", "strategy"]).any()


def test_live_window_equals_the_backtest(quarter, signals):
    window = FeatureWindow()
    start = len(quarter) - 2 * 375  # the last two sessions, bar by bar
    window.extend_frame(quarter.iloc[:start])
    by_time = {t: g for t, g in signals.groupby(level=0)}
    columns = window.columns
    values = {c: quarter[c].to_numpy() for c in columns}
    for i in range(start, len(quarter)):
        time = quarter.index[i].to_pydatetime()
        window.append({c: values[c][i] for c in columns}, time=time)
        live = [(r.strategy, r.direction, r.strength, r.reason) for r in evaluate_all(None, window)]
        want = by_time.get(quarter.index[i])
        want = (
            []
            if want is None
            else list(
                want[["strategy", "direction", "strength", "reason"]].itertuples(index=False, name=None)
            )
        )
        assert live == want, time
    assert np.isfinite(window.arrays()["close"]).all()
