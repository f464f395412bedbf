"""Benchmark: the feature frame of a year of simulated minute bars, and the cost of one live bar.

Run: ``.venv/bin/python bench/features.py [--days 250] [--seed 0] [--start 2025-01-01] [--append-days 20]``.
Prints the wall time of ``feature_frame`` over the year (the simulation itself is timed apart and
not counted), rows per second, and the p50/p99/max of ``FeatureBuilder.append`` per bar over the
last ``--append-days`` sessions, warmed with ``FeatureBuilder.from_history`` on the sessions before.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trading.core import calendar as market_calendar  # noqa: E402
from trading.core.features import FeatureBuilder, feature_frame  # noqa: E402
from trading.core.simulator import MarketSimulator  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=250, help="sessions in the frame")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2025, 1, 1))
    parser.add_argument("--append-days", type=int, default=20, help="sessions timed bar by bar")
    args = parser.parse_args(argv)

    sim = MarketSimulator(seed=args.seed, start=args.start)
    sessions = market_calendar.trading_days_from(sim.first_session, args.days)
    t0 = time.perf_counter()
    days = [sim.day(d) for d in sessions]
    simulate_s = time.perf_counter() - t0
    history = sim.warmup_history()

    t0 = time.perf_counter()
    frame = feature_frame(days, history)
    frame_s = time.perf_counter() - t0
    rows = len(frame)
    print(
        f"simulated {len(days)} sessions ({sessions[0]}..{sessions[-1]}) in {simulate_s:.2f} s (not counted)"
    )
    print(
        f"feature_frame: {rows} rows x {frame.shape[1]} columns in {frame_s:.3f} s ({rows / frame_s:,.0f} rows/s)"
    )

    split = max(len(days) - args.append_days, 0)
    t0 = time.perf_counter()
    builder = FeatureBuilder.from_history(days[:split], history)
    warm_s = time.perf_counter() - t0
    bars = [bar for day in days[split:] for bar in day]
    gc.collect()
    costs = np.empty(len(bars))
    for i, bar in enumerate(bars):
        t = time.perf_counter()
        builder.append(bar)
        costs[i] = time.perf_counter() - t
    us = costs * 1e6
    p50, p99 = np.percentile(us, [50, 99])
    print(f"from_history over {split} sessions: {warm_s:.3f} s")
    print(f"append: {len(bars)} bars, p50 {p50:.0f} us, p99 {p99:.0f} us, max {us.max():.0f} us per bar")
    same = np.allclose(
        builder.frame()["atm_iv"].to_numpy(dtype=float), frame["atm_iv"].to_numpy(dtype=float), equal_nan=True
    )
    print(f"incremental frame equals the vectorised one: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
