"""Every registered strategy keeps the contract: registry, parameters with bounds, output shape,
no lookahead, a sufficient ``lookback``, events rather than states, live == backtest."""

from __future__ import annotations

import dataclasses
import typing

import numpy as np
import pandas as pd
import pytest

from tests.strategies.frames import COLUMNS, make_frame
from trading.core.strategies import registry
from trading.core.strategies.base import BaseParams, Strategy, validate_params
from trading.core.strategies.evaluate import evaluate_all, signal_frame_all

NAMES = [
    "PCRStrategy", "PCRTrendStrategy", "MaxPainStrategy", "OIBuildupStrategy", "OIBreakoutStrategy",
    "OpeningRangeBreakoutStrategy", "VWAPEMAStrategy", "SupertrendStrategy", "EMACrossoverStrategy",
    "RSIPullbackStrategy", "IVPercentileBreakoutStrategy", "StraddleExpansionStrategy", "ExpiryGammaStrategy",
    "VIXMeanReversionStrategy",
]  # fmt: skip


def _walk(rng: np.random.Generator, n: int, start: float, sd: float, lo: float, hi: float) -> np.ndarray:
    return np.clip(start + np.cumsum(rng.normal(0, sd, n)), lo, hi)


@pytest.fixture(scope="module")
def noisy() -> pd.DataFrame:
    """Three sessions and a bit of a restless random market: spot, VIX across all regimes, PCR,
    OI, straddle, IV percentile and the Supertrend direction all wander."""
    n = 1300
    rng = np.random.default_rng(42)
    close = 24000 + np.cumsum(rng.normal(0, 12, n))
    rsi = _walk(rng, n, 50, 4, 5, 95)
    st_dir = np.where(pd.Series(close).diff(10).fillna(0).to_numpy() >= 0, 1.0, -1.0)
    minute = np.arange(n) % 375
    block = close[(np.arange(n) // 60) * 60]
    expiry_day = (np.arange(n) // 375) == 1
    return make_frame(
        n,
        close=close,
        vix=_walk(rng, n, 15, 0.25, 9, 30),
        pcr_oi=_walk(rng, n, 1.0, 0.02, 0.4, 1.8),
        call_oi=_walk(rng, n, 1e7, 4e4, 5e6, 2e7),
        put_oi=_walk(rng, n, 1e7, 4e4, 5e6, 2e7),
        straddle_premium=_walk(rng, n, 200, 3, 20, 400) * np.where(expiry_day, 0.3, 1.0),
        iv_percentile=_walk(rng, n, 30, 3, 0, 100),
        rsi_14=rsi,
        supertrend_dir=st_dir,
        max_pain=np.round(close / 50) * 50 + rng.choice([-300, -150, 0, 150, 300], n),
        resistance=np.round(block / 100) * 100 + 100,  # OI walls that stand for an hour
        support=np.round(block / 100) * 100 - 100,
        days_to_expiry=np.where(minute < 400, 0.5, 3.0),
        is_expiry_day=expiry_day,
    )


def test_registry_has_all_fourteen_by_class_name():
    assert registry.names() == NAMES
    for name in NAMES:
        s = registry.get(name)
        assert type(s).__name__ == name == s.name
    with pytest.raises(KeyError, match="PCRStrategy"):
        registry.get("NoSuchStrategy")


@pytest.mark.parametrize("name", NAMES)
def test_declares_rules_params_lookback_and_columns(name):
    s = registry.get(name)
    assert isinstance(s, Strategy) and issubclass(s.Params, BaseParams)
    assert "Rules" in s.description and len(s.description.splitlines()) >= 5
    assert isinstance(s.lookback, int) and s.lookback >= 2
    assert set(s.columns) <= set(COLUMNS) and "vix" in s.columns
    hints = typing.get_type_hints(s.Params)
    for f in dataclasses.fields(s.Params):
        if hints[f.name] in (int, float):
            lo, hi = f.metadata["min"], f.metadata["max"]
            assert lo is not None and hi is not None, f"{name}.{f.name} has no bounds"
            assert lo <= getattr(s.default_params(), f.name) <= hi
    defaults = s.default_params()
    assert validate_params(s, dataclasses.asdict(defaults)) == defaults
    assert defaults.regimes, f"{name} declares no VIX regime"


@pytest.mark.parametrize("name", NAMES)
def test_output_shape_and_events(name, noisy):
    s = registry.get(name)
    out = s.generate(noisy)
    assert list(out.columns) == ["direction", "strength", "reason"] and out.index.equals(noisy.index)
    d = out["direction"].to_numpy()
    fired = d != ""
    assert set(d) <= {"CALL", "PUT", ""}
    assert fired.sum() >= 1, f"{name} never fired on a restless market"
    assert fired.mean() < 0.05
    strength = out["strength"].to_numpy()
    assert (
        ((strength >= 0) & (strength <= 1)).all()
        and (strength[~fired] == 0).all()
        and (strength[fired] > 0).all()
    )
    reasons = out["reason"].to_numpy()
    assert all(("VIX" in r) for r in reasons[fired]) and all(r == "" for r in reasons[~fired])
    # an event fires on the bar its condition becomes true: never twice in a row the same way
    assert not ((d[1:] == d[:-1]) & fired[1:]).any()


@pytest.mark.parametrize("name", NAMES)
def test_no_lookahead(name, noisy):
    """Rows up to t are the same whether the frame ends at t or goes on."""
    s = registry.get(name)
    full = s.generate(noisy)
    for t in (400, 700, 1000):
        pd.testing.assert_frame_equal(s.generate(noisy.iloc[: t + 1]), full.iloc[: t + 1])
    changed = noisy.copy()
    changed.iloc[900:, changed.columns.get_loc("close")] += 500.0  # a different future
    pd.testing.assert_frame_equal(s.generate(changed).iloc[:900], full.iloc[:900])


@pytest.mark.parametrize("name", NAMES)
def test_lookback_rows_are_enough(name, noisy):
    """The last row of any window of ``lookback`` rows equals that row over the whole history."""
    s = registry.get(name)
    full = s.generate(noisy)
    fired = np.flatnonzero(full["direction"].to_numpy() != "")
    rows = sorted(set(fired.tolist()) | set(range(s.lookback, len(noisy), 97)))
    for t in (r for r in rows if r >= s.lookback):
        last = s.generate(noisy.iloc[t - s.lookback + 1 : t + 1]).iloc[-1]
        assert tuple(last) == tuple(full.iloc[t]), (name, t)


def test_live_evaluation_equals_the_backtest(noisy):
    frame = signal_frame_all(None, noisy)
    assert set(frame["strategy"]) == set(NAMES)
    longest = max(s.lookback for s in registry.all_strategies())
    times = set(frame.index[frame.index >= noisy.index[longest]][:40]) | {noisy.index[-1]}
    for time in sorted(times):
        t = noisy.index.get_loc(time)
        live = evaluate_all(None, noisy.iloc[: t + 1])
        want = frame.loc[[time]] if time in frame.index else frame.iloc[:0]
        assert [(r.strategy, r.direction, r.strength, r.reason) for r in live] == list(
            want[["strategy", "direction", "strength", "reason"]].itertuples(index=False, name=None)
        )
