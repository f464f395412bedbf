"""Benchmark: one year of simulated minute bars with full option chains for two expiries.

Run: ``.venv/bin/python bench/simulator.py [--days 250] [--seed 0] [--start 2025-01-01]``.
Prints wall time, sessions, bars, option quotes (bars x expiries x strikes x 2 sides) and quotes/s.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trading.core import calendar as market_calendar  # noqa: E402
from trading.core.simulator import MarketSimulator  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=250, help="number of sessions to simulate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2025, 1, 1))
    parser.add_argument("--index", default="NIFTY")
    args = parser.parse_args(argv)

    sim = MarketSimulator(index=args.index, seed=args.seed, start=args.start)
    sessions = market_calendar.trading_days_from(sim.first_session, args.days, sim.exchange)

    began = time.perf_counter()
    warmup = sim.warmup_history()
    warmup_s = time.perf_counter() - began

    bars = quotes = 0
    vix_lo, vix_hi = float("inf"), 0.0
    began = time.perf_counter()
    for db in sim.days(sessions[0], sessions[-1]):
        bars += len(db)
        quotes += 2 * db.call_ltp.size
        vix_lo, vix_hi = min(vix_lo, float(db.vix.min())), max(vix_hi, float(db.vix.max()))
        last = db
    wall = time.perf_counter() - began

    print(f"index            {args.index} seed {args.seed}")
    print(f"sessions         {len(sessions)} ({sessions[0]} .. {sessions[-1]})")
    print(f"bars             {bars:,}")
    print(
        f"option quotes    {quotes:,} ({last.strikes.shape[1]} expiries x {last.strikes.shape[2]} strikes x 2 sides per bar)"
    )
    print(f"wall time        {wall:.2f} s ({1000 * wall / len(sessions):.1f} ms per session)")
    print(f"quotes/s         {quotes / wall:,.0f}")
    print(f"warm-up history  {len(warmup)} rows in {1000 * warmup_s:.0f} ms")
    print(
        f"spot             {warmup['spot_close'].iloc[-1]:.2f} -> {last.close[-1]:.2f}; VIX range {vix_lo:.2f}..{vix_hi:.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
