"""The research figures (analytics/research.py) against the paper's worked example, a synthetic
walk-forward whose answer is known, and a naive Monte Carlo loop with the same seed."""

from __future__ import annotations

import math
from datetime import date
from statistics import NormalDist

import numpy as np
import pytest
from scipy import stats as scipy_stats

from analytics import research

# --- the deflated Sharpe ratio ----------------------------------------------------------------------------


def test_deflated_sharpe_on_the_papers_example():
    # Bailey & Lopez de Prado (2014): annual SR 2.5 over 250 periods a year, T = 1,250 periods,
    # N = 100 trials with V = 0.5 (annualised), skewness -3, kurtosis 10 -> SR0 = 0.1132, DSR = 0.9004.
    per_year = 250
    result = research.deflated_sharpe(
        2.5 / math.sqrt(per_year),
        periods=1250,
        trials=100,
        trials_variance=0.5 / per_year,
        skew=-3.0,
        kurtosis=10.0,
    )
    assert result.sharpe_zero == pytest.approx(0.1132, abs=5e-5)
    assert result.dsr == pytest.approx(0.9004, abs=5e-5)


def test_expected_max_sharpe_by_hand():
    # sqrt(0.002) x (0.42278 x 2.32635 + 0.57722 x 2.68021) = 0.044721 x 2.53062 = 0.113172; the normal
    # quantiles from the standard library's NormalDist (a second implementation of Phi^-1).
    sr0 = research.expected_max_sharpe(100, 0.002)
    z1, z2 = NormalDist().inv_cdf(0.99), NormalDist().inv_cdf(1 - 1 / (100 * math.e))
    assert sr0 == pytest.approx(math.sqrt(0.002) * ((1 - 0.5772157) * z1 + 0.5772157 * z2), rel=1e-6)
    assert research.expected_max_sharpe(1, 0.5) == 0.0


def test_deflated_sharpe_of_trials_uses_pandas_moments():
    rng = np.random.default_rng(3)
    chosen = rng.standard_t(5, size=300) * 0.01 + 0.002
    trial_srs = [0.05, 0.12, -0.02, 0.08, 0.2]
    got = research.deflated_sharpe_of_trials(chosen, trial_srs)
    sr = chosen.mean() / chosen.std(ddof=1)
    g3 = scipy_stats.skew(chosen, bias=False)
    g4 = scipy_stats.kurtosis(chosen, fisher=False, bias=False)  # raw: pandas' kurtosis + 3
    v = np.var(trial_srs, ddof=1)
    sr0 = math.sqrt(v) * (
        (1 - np.euler_gamma) * scipy_stats.norm.ppf(1 - 1 / 5)
        + np.euler_gamma * scipy_stats.norm.ppf(1 - 1 / (5 * math.e))
    )
    z = (sr - sr0) * math.sqrt(300 - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2)
    assert got.sharpe == pytest.approx(sr, rel=1e-9)
    assert got.kurtosis == pytest.approx(g4, rel=1e-9) and got.skew == pytest.approx(g3, rel=1e-9)
    assert got.trials == 5 and got.periods == 300
    assert got.dsr == pytest.approx(scipy_stats.norm.cdf(z), rel=1e-9)


def test_more_trials_deflate_more():
    low = research.deflated_sharpe(0.1, periods=500, trials=10, trials_variance=0.001, skew=0, kurtosis=3)
    high = research.deflated_sharpe(0.1, periods=500, trials=1000, trials_variance=0.001, skew=0, kurtosis=3)
    assert high.dsr < low.dsr


# --- walk-forward -----------------------------------------------------------------------------------------


def test_windows_tile_the_history_without_overlap():
    ws = research.walk_forward_windows(60, in_sample=10, out_of_sample=10)
    assert [(w.is_start, w.is_end, w.oos_start, w.oos_end) for w in ws] == [
        (0, 10, 10, 20),
        (10, 20, 20, 30),
        (20, 30, 30, 40),
        (30, 40, 40, 50),
        (40, 50, 50, 60),
    ]
    anchored = research.walk_forward_windows(25, in_sample=10, out_of_sample=10, anchored=True)
    assert [(w.is_start, w.is_end, w.oos_start, w.oos_end) for w in anchored] == [
        (0, 10, 10, 20),
        (0, 20, 20, 25),
    ]
    with pytest.raises(ValueError):
        research.walk_forward_windows(10, in_sample=0, out_of_sample=5)
    with pytest.raises(ValueError, match="step"):  # overlapping out-of-sample windows
        research.walk_forward_windows(30, in_sample=10, out_of_sample=5, step=3)
    stepped = research.walk_forward_windows(30, in_sample=10, out_of_sample=5, step=8)
    assert [(w.is_start, w.oos_start, w.oos_end) for w in stepped] == [(0, 10, 15), (8, 18, 23), (16, 26, 30)]


def _regimes(seed: int = 11) -> np.ndarray:
    """3 candidates x 60 sessions: candidate k earns +100 a session (noise 10) in regime k (sessions
    20k..20k+19) and loses 50 elsewhere."""
    rng = np.random.default_rng(seed)
    pnl = np.full((3, 60), -50.0) + rng.normal(0, 10, size=(3, 60))
    for k in range(3):
        pnl[k, 20 * k : 20 * k + 20] += 150.0
    return pnl


def test_walk_forward_chooses_the_known_best_and_stitches_its_out_of_sample():
    pnl = _regimes()
    windows = research.walk_forward_windows(60, in_sample=10, out_of_sample=10)
    candidates = [{"length": 10}, {"length": 20}, {"length": 30}]
    result = research.walk_forward(pnl, windows, candidates=candidates)
    # In-sample windows [0,10) and [10,20) lie in regime 0, [20,30) [30,40) in regime 1, [40,50) in 2.
    assert [s.chosen for s in result.steps] == [0, 0, 1, 1, 2]
    expected = np.concatenate([pnl[0, 10:20], pnl[0, 20:30], pnl[1, 30:40], pnl[1, 40:50], pnl[2, 50:60]])
    assert result.oos_periods == list(range(10, 60))
    np.testing.assert_allclose(result.oos_pnl, expected)
    np.testing.assert_allclose(result.oos_equity, np.cumsum(expected))
    assert result.stability["changes"] == 2
    assert result.stability["modal_share"] == 40.0
    length = result.stability["parameters"]["length"]
    assert length["values"] == [10, 10, 20, 20, 30]
    assert length["mean"] == 18.0
    assert length["cv"] == pytest.approx(np.std([10, 10, 20, 20, 30]) / 18.0)


def test_out_of_sample_data_never_sways_the_choice():
    pnl = _regimes()
    windows = research.walk_forward_windows(60, in_sample=10, out_of_sample=10)
    seen: list[np.ndarray] = []

    def spy(row: np.ndarray) -> float:
        seen.append(row.copy())
        return float(row.sum())

    research.walk_forward(pnl, windows, score=spy)
    # The chooser saw exactly the in-sample columns of each window, row by row, nothing else.
    expected = [pnl[k, w.is_start : w.is_end] for w in windows for k in range(3)]
    assert len(seen) == len(expected)
    for got, want in zip(seen, expected):
        np.testing.assert_array_equal(got, want)

    # For each window, poison everything from its out-of-sample start on (a fortune for another
    # candidate): that window's choice does not move.
    before = [s.chosen for s in research.walk_forward(pnl, windows).steps]
    assert before == [0, 0, 1, 1, 2]
    for n, w in enumerate(windows):
        poisoned = pnl.copy()
        poisoned[(before[n] + 1) % 3, w.oos_start :] = 1e9
        assert research.walk_forward(poisoned, windows).steps[n].chosen == before[n]


# --- Monte Carlo ------------------------------------------------------------------------------------------


def _percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), by hand."""
    s = sorted(values)
    pos = (len(s) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def _naive(pnl: list[float], method: str, runs: int, seed: int, capital: float, floor: float) -> dict:
    rng = np.random.default_rng(seed)
    n = len(pnl)
    if method == "shuffle":  # one Fisher-Yates shuffle of 0..n-1 per path, path after path
        orders = [rng.permuted(np.arange(n)).tolist() for _ in range(runs)]
    else:
        orders = rng.integers(0, n, size=(runs, n)).tolist()
    paths, finals, dds, below = [], [], [], 0
    for order in orders:
        equity, peak, worst, touched, curve = 0.0, 0.0, 0.0, capital <= floor, [0.0]
        for i in order:
            equity += pnl[i]
            curve.append(equity)
            peak = max(peak, equity)
            worst = max(worst, peak - equity)
            touched = touched or capital + equity <= floor
        paths.append(curve)
        finals.append(equity)
        dds.append(worst)
        below += touched
    bands = {f"p{int(q)}": [_percentile([p[t] for p in paths], q) for t in range(n + 1)] for q in (5, 50, 95)}
    return {
        "bands": bands,
        "final": {f"p{int(q)}": _percentile(finals, q) for q in (5, 50, 95)},
        "dd": {f"p{int(q)}": _percentile(dds, q) for q in (5, 50, 95)},
        "below": below / runs,
    }


@pytest.mark.parametrize("method", ["shuffle", "resample", "bootstrap"])
def test_monte_carlo_equals_a_naive_loop_with_the_same_seed(method):
    rng = np.random.default_rng(5)
    pnl = [round(float(x), 2) for x in rng.normal(300, 2500, size=40)]
    got = research.monte_carlo(pnl, method=method, runs=300, seed=42, capital=20000, floor=12000)
    want = _naive(pnl, method, 300, 42, 20000, 12000)
    for key in ("p5", "p50", "p95"):
        np.testing.assert_allclose(got.bands[key], want["bands"][key], rtol=1e-9, atol=1e-6)
        assert got.final_pnl[key] == pytest.approx(want["final"][key], abs=1e-6)
        assert got.max_drawdown[key] == pytest.approx(want["dd"][key], abs=1e-6)
    assert got.below_floor == want["below"]
    assert got.observed["final_pnl"] == pytest.approx(sum(pnl))


def test_monte_carlo_is_reproducible_and_shuffling_keeps_the_total():
    pnl = [1000.0, -400.0, 250.0, -900.0, 1200.0, -100.0]
    a = research.monte_carlo(pnl, runs=200, seed=9)
    b = research.monte_carlo(pnl, runs=200, seed=9)
    assert a.as_dict() == b.as_dict()
    assert a.final_pnl["p5"] == a.final_pnl["p95"] == pytest.approx(1050.0)
    # The observed order's drawdown: peak 1000 -> 1000 - 400 = 600 ... 850 - 900 = -50: 1050.
    assert a.observed["max_drawdown"] == pytest.approx(1050.0)
    c = research.monte_carlo(pnl, runs=200, seed=10)
    assert c.max_drawdown != a.max_drawdown or c.bands != a.bands
    empty = research.monte_carlo([], runs=10, seed=1, capital=100, floor=50)
    assert empty.steps == 0 and empty.below_floor == 0.0


@pytest.mark.parametrize("method", ["shuffle", "resample"])
def test_monte_carlo_in_chunks_draws_the_same_paths(monkeypatch, method):
    pnl = np.random.default_rng(8).normal(100, 900, size=30)
    whole = research.monte_carlo(pnl, method=method, runs=97, seed=4, capital=5000, floor=3000)
    monkeypatch.setattr(research, "CHUNK_CELLS", 30 * 10)  # 10 paths a chunk
    chunked = research.monte_carlo(pnl, method=method, runs=97, seed=4, capital=5000, floor=3000)
    assert chunked.as_dict() == whole.as_dict()


def test_a_long_sequence_has_its_bands_at_evenly_spaced_steps():
    pnl = np.random.default_rng(2).normal(0, 100, size=1000)
    got = research.monte_carlo(pnl, runs=50, seed=1, max_points=100)
    assert got.marks[0] == 0 and got.marks[-1] == 1000 and len(got.marks) == 101
    assert np.all(np.diff(got.marks) == 10)
    full = research.monte_carlo(pnl, runs=50, seed=1, max_points=1000)
    np.testing.assert_allclose(got.bands["p50"], np.asarray(full.bands["p50"])[got.marks])


def test_daily_pnl_from_an_equity_curve_by_hand():
    d = [date(2026, 5, n) for n in (4, 5, 6, 7)]
    # Trades: two on the 4th (cumulative 100, 250), none on the 5th, one on the 6th (cumulative 50).
    points = [(d[0], 100.0), (d[0], 250.0), (d[2], 50.0)]
    np.testing.assert_allclose(research.daily_from_equity(points, d), [250.0, 0.0, -200.0, 0.0])


def test_the_best_trial_is_deflated_among_all():
    daily = np.array([[10.0, -5, 7, 3, -2, 8], [1.0, 1, 1, 2, 1, 1.5], [-3.0, 4, -6, 2, 0, 1]])
    best, dsr = research.best_deflated(daily)
    srs = [row.mean() / row.std(ddof=1) for row in daily]
    assert best == int(np.argmax(srs)) == 1
    want = research.deflated_sharpe_of_trials(daily[1], srs)
    assert dsr == want and dsr.trials == 3
