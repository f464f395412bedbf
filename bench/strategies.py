"""Benchmark: the fourteen strategies over a year of simulated minute bars, and one live evaluation.

Run: ``.venv/bin/python bench/strategies.py [--days 250] [--seed 0] [--start 2025-01-01] [--live-bars 750]``.

Prints (the simulation and the feature frame are built first and not counted):

* the wall time of ``evaluate.signal_frame_all`` - every registered strategy, one vectorised pass
  each, through the guard - over the year (goal: < 5 s), with each strategy's own time and signal
  count;
* the p50/p99/max of ``evaluate.evaluate_all`` on the latest window, bar by bar over the last
  ``--live-bars`` bars: with a ``FeatureWindow`` (the live path: column arrays, no DataFrame), and
  with a feature-frame window for comparison, and the thread CPU time of the former (what the wall
  time would be on an idle machine). Each live result is checked against the year's frame.
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
from trading.core.features import feature_frame  # noqa: E402
from trading.core.simulator import MarketSimulator  # noqa: E402
from trading.core.strategies import registry  # noqa: E402
from trading.core.strategies.base import columns_of  # noqa: E402
from trading.core.strategies.evaluate import FeatureWindow, evaluate_all, signal_frame_all  # noqa: E402
from trading.core.strategies.guard import compute_guarded  # noqa: E402


def _pct(xs: list[float]) -> str:
    a = np.asarray(xs) * 1e3
    return f"p50 {np.percentile(a, 50):.2f} ms  p99 {np.percentile(a, 99):.2f} ms  max {a.max():.2f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=250, help="sessions in the year")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2025, 1, 1))
    parser.add_argument("--live-bars", type=int, default=750, help="bars evaluated one by one at the end")
    args = parser.parse_args(argv)

    sim = MarketSimulator(seed=args.seed, start=args.start)
    sessions = market_calendar.trading_days_from(sim.first_session, args.days)
    t0 = time.perf_counter()
    frame = feature_frame((sim.day(d) for d in sessions), sim.warmup_history())
    print(f"simulated + features: {len(frame)} bars, {sessions[0]}..{sessions[-1]} in "
          f"{time.perf_counter() - t0:.1f} s (not counted)")  # fmt: skip

    strategies = registry.all_strategies()
    gc.collect()
    runs = []
    for _ in range(3):
        t0 = time.perf_counter()
        signals = signal_frame_all(None, frame)
        runs.append(time.perf_counter() - t0)
    print(f"signal_frame_all, {len(strategies)} strategies x {len(frame)} bars: first {runs[0]:.3f} s, "
          f"best {min(runs):.3f} s (goal < 5 s); {len(signals)} signals")  # fmt: skip
    cols = columns_of(frame, tuple(dict.fromkeys(c for s in strategies for c in s.columns)))
    counts = signals.groupby("strategy").size()
    for s in strategies:
        t0 = time.perf_counter()
        compute_guarded(s, {c: cols[c] for c in s.columns})
        dt = time.perf_counter() - t0
        n = int(counts.get(s.name, 0))
        print(
            f"  {s.name:30s} {dt * 1e3:7.1f} ms  {n:5d} signals ({n / len(frame):.2%} of bars), lookback {s.lookback}"
        )

    n_live = min(args.live_bars, len(frame) - 1)
    start = len(frame) - n_live
    window = FeatureWindow()
    window.extend_frame(frame.iloc[:start])
    values = {c: frame[c].to_numpy() for c in window.columns}
    by_time = {t: g for t, g in signals.groupby(level=0)}
    evaluate_all(None, window)  # warm caches
    t_eval, t_cycle, t_cpu, mismatches = [], [], [], 0
    for i in range(start, len(frame)):
        t0 = time.perf_counter()
        window.append({c: values[c][i] for c in window.columns}, time=frame.index[i].to_pydatetime())
        t1 = time.perf_counter()
        c1 = time.thread_time()
        live = evaluate_all(None, window)
        t_cpu.append(time.thread_time() - c1)
        t2 = time.perf_counter()
        t_eval.append(t2 - t1)
        t_cycle.append(t2 - t0)
        want = by_time.get(frame.index[i])
        n_want = 0 if want is None else len(want)
        mismatches += len(live) != n_want
    print(f"live evaluate_all (FeatureWindow), {n_live} bars: {_pct(t_eval)}")
    print(f"live append + evaluate_all:              {_pct(t_cycle)}")
    print(f"live evaluate_all, thread CPU time:      {_pct(t_cpu)}  (wall minus waiting for a core)")
    longest = max(s.lookback for s in strategies)
    t_df = []
    for i in range(start, len(frame)):
        win = frame.iloc[i - longest + 1 : i + 1]
        t0 = time.perf_counter()
        evaluate_all(None, win)
        t_df.append(time.perf_counter() - t0)
    print(f"live evaluate_all (DataFrame window):    {_pct(t_df)}")
    print(f"live vs backtest mismatches: {mismatches}")
    return 1 if mismatches else 0


if __name__ == "__main__":
    raise SystemExit(main())
