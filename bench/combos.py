"""Benchmark: backtests of multi-leg combos against the same backtest on single options.

Run: ``.venv/bin/python bench/combos.py [--seed 7] [--start 2025-11-17] [--sessions 5]``.

The 14 strategies over ``--sessions`` simulated sessions through ``core.backtest.run_backtest``,
twice in the same run: every signal as one bought option (the engine before combos: the peer), then
every signal as an iron condor (four legs: bought wings first, then the sold legs; margin estimate,
per-leg and combo exits). Prints bars per second, trades, combos and the time ratio combo/single -
what the multi-leg bookkeeping costs a backtest. Nothing is stored; no database.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def run(days, source, combo: bool) -> tuple[float, object]:
    from trading.brokers.paper import PaperBroker
    from trading.core.backtest import run_backtest
    from trading.core.combos import templates
    from trading.core.state import EngineConfig, StrategySlot
    from trading.core.strategies import registry

    spec = templates.iron_condor("NIFTY")
    slots = {
        s.name: StrategySlot(
            name=s.name,
            cooldown_minutes=s.cooldown_minutes,
            capital_allocation=Decimal("200000"),
            combos={"CALL": spec, "PUT": spec} if combo else {},
        )
        for s in registry.all_strategies()
    }
    started = time.perf_counter()
    result = run_backtest(
        days, strategies=slots, broker=PaperBroker(), config=EngineConfig(), iv_history=source.iv_history()
    )
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2025, 11, 17))
    parser.add_argument("--sessions", type=int, default=5)
    args = parser.parse_args()

    from trading.core import calendar as market_calendar
    from trading.core.live import SimSource

    source = SimSource(index="NIFTY", seed=args.seed, start=args.start)
    days, d = [], args.start
    while len(days) < args.sessions:
        if market_calendar.is_trading_day(d):
            days.append(source.day(d))
        d = date.fromordinal(d.toordinal() + 1)
    bars = sum(len(day) for day in days)
    run(days[:1], source, combo=True)  # warm-up (numba, caches): not measured
    single_s, single = run(days, source, combo=False)
    combo_s, combos = run(days, source, combo=True)
    print(f"{len(days)} sessions, {bars} bars, seed {args.seed}, from {days[0].session}")
    print(
        f"single options : {single_s:7.2f} s  {bars / single_s:8.0f} bars/s  "
        f"{len(single.trades)} trades, net {single.summary()['net_pnl']}"
    )
    print(
        f"iron condors   : {combo_s:7.2f} s  {bars / combo_s:8.0f} bars/s  "
        f"{len(combos.trades)} leg trades in {len(combos.combos)} combos, net {combos.summary()['net_pnl']}"
    )
    print(f"ratio combo/single time: {combo_s / single_s:.2f}")


if __name__ == "__main__":
    main()
