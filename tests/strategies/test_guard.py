"""The guard: a strategy that raises (or returns garbage) is logged and counted and stops no other."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from tests.strategies.frames import make_frame, steps
from trading.core.strategies import guard
from trading.core.strategies.base import Strategy
from trading.core.strategies.evaluate import evaluate_all, signal_frame_all, strategy_pairs
from trading.core.strategies.guard import GUARD_ERRORS, register_guard_hook, run_guarded
from trading.core.strategies.pcr import PCRStrategy


class BoomStrategy(Strategy):
    """Raises on every call."""

    name = "BoomStrategy"
    columns = ("close", "vix")

    def signals(self, cols, rp):
        raise RuntimeError("boom")


class WrongIndexStrategy(PCRStrategy):
    """Returns a frame that is not aligned with its input."""

    name = "WrongIndexStrategy"

    def generate(self, features, params=None):
        return super().generate(features, params).iloc[1:]


@pytest.fixture
def hooks():
    seen: list[tuple[str, str]] = []

    def broken(name, exc):
        raise ValueError("the metrics backend is down")

    def recorder(name, exc):
        seen.append((name, str(exc)))

    register_guard_hook(broken)
    register_guard_hook(recorder)
    register_guard_hook(recorder)  # registering twice is harmless
    yield seen
    guard.GUARD_HOOKS.remove(broken)
    guard.GUARD_HOOKS.remove(recorder)


def _pcr_fires_last() -> pd.DataFrame:
    """A frame on whose last row PCRStrategy fires a PUT."""
    n = 40
    return make_frame(
        n, close=steps(n, (0, 24000.0), (n - 1, 23900.0)), pcr_oi=steps(n, (0, 1.0), (n - 1, 1.45))
    )


def test_exception_is_logged_counted_and_hooked(hooks, caplog):
    before = GUARD_ERRORS.get("BoomStrategy", 0)
    with caplog.at_level(logging.ERROR, logger="trading.core.strategies.guard"):
        assert run_guarded(BoomStrategy(), make_frame(10)) is None
    assert GUARD_ERRORS["BoomStrategy"] == before + 1
    assert hooks == [("BoomStrategy", "boom")]  # the broken hook before it did not stop it
    assert any("BoomStrategy" in r.getMessage() and "boom" in r.getMessage() for r in caplog.records)


def test_a_raising_strategy_stops_no_other(hooks):
    frame = _pcr_fires_last()
    live = evaluate_all([BoomStrategy(), PCRStrategy()], frame)
    assert [(r.strategy, r.direction) for r in live] == [("PCRStrategy", "PUT")]
    history = signal_frame_all([(BoomStrategy(), None), (PCRStrategy(), None)], frame)
    assert list(history["strategy"]) == ["PCRStrategy"] and history.index[0] == frame.index[-1]
    assert [name for name, _ in hooks] == ["BoomStrategy", "BoomStrategy"]


def test_malformed_output_and_bad_params_are_failures_too(hooks):
    frame = _pcr_fires_last()
    assert run_guarded(WrongIndexStrategy(), frame) is None
    assert run_guarded(PCRStrategy(), frame, {"pcr_high": 99}) is None
    assert run_guarded(PCRStrategy(), frame.drop(columns=["pcr_oi"])) is None  # a missing feature column
    assert [name for name, _ in hooks] == ["WrongIndexStrategy", "PCRStrategy", "PCRStrategy"]
    assert "pcr_high" in hooks[1][1]
    # unknown names and invalid parameters are skipped by the evaluation, the rest still runs
    pairs = strategy_pairs(
        [("NoSuchStrategy", None), ("PCRStrategy", {"pcr_high": 99}), ("PCRStrategy", None)]
    )
    assert [(s.name, p) for s, p in pairs] == [("PCRStrategy", None)]


def test_guarded_result_is_the_strategy_result():
    frame = _pcr_fires_last()
    pd.testing.assert_frame_equal(run_guarded(PCRStrategy(), frame), PCRStrategy().generate(frame))
    assert np.flatnonzero(run_guarded(PCRStrategy(), frame)["direction"].to_numpy() != "").tolist() == [39]


def test_guard_failures_reach_the_prometheus_counter(monkeypatch):
    """Django's start-up registers the hook that counts them in trading_strategy_errors_total."""
    from trading import metrics

    seen: list[str] = []
    monkeypatch.setattr(metrics, "strategy_error", seen.append)
    assert run_guarded(BoomStrategy(), make_frame(10)) is None
    assert seen == ["BoomStrategy"]


def test_shift_of_a_window_shorter_than_the_delay_is_all_nan():
    # A cold start: the first session gives fewer rows than some strategies' delays.
    import numpy as np

    from trading.core.strategies.base import shift

    assert np.isnan(shift(np.arange(3.0), 5)).all()
    assert np.isnan(shift(np.arange(3.0), 3)).all()
    assert shift(np.arange(4.0), 1).tolist()[1:] == [0.0, 1.0, 2.0]
