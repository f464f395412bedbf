"""Benchmark: Monte Carlo of a trade sequence, vectorised (``analytics.research.monte_carlo``) against a
plain per-path Python loop on the same seed (the loop of ``tests/research/test_figures.py``), in the
same run, as a ratio; and the report's Monte Carlo at the analytics page's 40,000 trades.

Run: ``.venv/bin/python bench/research.py [--trades 2000] [--runs 1000] [--seed 0]``.
Prints the wall seconds of each and the speed-up; checks the two give the same bands.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analytics import research  # noqa: E402


def naive(pnl: list[float], runs: int, seed: int, capital: float, floor: float) -> dict:
    """Per-path loop: shuffle, walk the equity, keep final, drawdown and the floor; bands by sorting."""
    rng = np.random.default_rng(seed)
    n = len(pnl)
    paths, finals, drawdowns, below = [], [], [], 0
    for _ in range(runs):
        equity, peak, worst, touched, curve = 0.0, 0.0, 0.0, capital <= floor, [0.0]
        for i in rng.permuted(np.arange(n)).tolist():
            equity += pnl[i]
            curve.append(equity)
            peak = max(peak, equity)
            worst = max(worst, peak - equity)
            touched = touched or capital + equity <= floor
        paths.append(curve)
        finals.append(equity)
        drawdowns.append(worst)
        below += touched
    columns = list(zip(*paths))
    p50 = [sorted(c)[len(c) // 2] for c in columns]
    return {"p50": p50, "below": below / runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    pnl = np.random.default_rng(1).normal(150, 2500, args.trades).round(2)
    capital, floor = 500_000.0, 450_000.0

    t0 = time.perf_counter()
    fast = research.monte_carlo(
        pnl, runs=args.runs, seed=args.seed, capital=capital, floor=floor, max_points=args.trades
    )
    t_fast = time.perf_counter() - t0
    t0 = time.perf_counter()
    slow = naive(pnl.tolist(), args.runs, args.seed, capital, floor)
    t_slow = time.perf_counter() - t0
    assert fast.below_floor == slow["below"], (fast.below_floor, slow["below"])
    print(f"Monte Carlo, {args.trades} trades x {args.runs} paths (shuffle, seed {args.seed}):")
    print(f"  vectorised  {t_fast:8.3f} s")
    print(f"  naive loop  {t_slow:8.3f} s")
    print(f"  speed-up    {t_slow / t_fast:8.1f} x   (same floor probability {fast.below_floor:.4f})")

    big = np.random.default_rng(2).normal(150, 2500, 40_000)
    t0 = time.perf_counter()
    research.monte_carlo(big, runs=100, seed=0, capital=capital, floor=floor)
    print(f"The report's Monte Carlo at 40,000 trades (100 paths): {time.perf_counter() - t0:.3f} s")


if __name__ == "__main__":
    main()
