"""Benchmark: a year of a short straddle with per-leg stops, through the engine, on the simulator.

Run: ``.venv/bin/python bench/multileg.py [--days 250] [--seed 7] [--start 2025-01-01] [--data sim|store|both]``.

Every session a signal at 09:20 IST enters the ``short_straddle`` template (sell the ATM CE and PE
of the current week, 25% stop on each leg, squared off at 15:15) with the paper broker; the same
sessions are then traded with one bought ATM option on the same signal (the engine's single-leg path)
in the same run, and the combo's time is given as a ratio to it. Prints wall time, bars, cycles per
second, combos, leg trades, stops hit, net P&L.

The loop is ``engine.run_cycle`` bar by bar, as ``core.backtest.run_backtest``, with the signal made
here (a registered strategy signals only on its own conditions). ``--data store``: the same number
of sessions written once into a market-data store under ``--work`` (``bench/backtest.py``'s builder:
the simulated market of seed 0, not timed) and read back by the store feed (``StoreFeed``), as
``manage.py backtest --data store`` reads it.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trading.brokers.paper import PaperBroker  # noqa: E402
from trading.core import calendar as market_calendar  # noqa: E402
from trading.core import engine, risk  # noqa: E402
from trading.core.combos import templates  # noqa: E402
from trading.core.live import SimSource  # noqa: E402
from trading.core.state import EngineConfig, EngineState, SignalInput, StrategySlot  # noqa: E402

BAR = timedelta(minutes=1)


def run(days, slot: StrategySlot, entry_time) -> dict:
    """Trade ``days`` with a CALL signal of ``slot`` on the bar starting at ``entry_time`` (IST)."""
    state, broker, config = EngineState(), PaperBroker(), EngineConfig()
    trades, cycles = [], 0
    began = time.perf_counter()
    for day in days:
        for i in range(len(day)):
            bar = day.bar(i)
            ist = bar.time.astimezone(market_calendar.IST).time()
            signals = [SignalInput(slot.name, "CALL", 0.8, "bench")] if ist == entry_time else []
            result = engine.run_cycle(
                at=bar.time + BAR,
                bar=bar,
                row={},
                signals=signals,
                state=state,
                broker=broker,
                strategies={slot.name: slot},
                config=config,
            )
            cycles += 1
            trades.extend(result.closed)
    seconds = time.perf_counter() - began
    combos = {getattr(t.position, "combo_id", "") for t in trades} - {"", None}
    return {
        "seconds": round(seconds, 2),
        "cycles": cycles,
        "cycles_per_s": round(cycles / seconds, 0),
        "combos": len(combos),
        "trades": len(trades),
        "stops": sum(1 for t in trades if t.exit_type == risk.STOP_LOSS),
        "net_pnl": str(sum((t.net_pnl for t in trades), Decimal(0))),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=250, help="number of sessions")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2025, 1, 1))
    parser.add_argument("--data", choices=("sim", "store", "both"), default="both")
    parser.add_argument("--work", type=Path, default=Path("var/bench/multileg"), help="the store's folder")
    args = parser.parse_args(argv)

    source = SimSource(index="NIFTY", seed=args.seed, start=args.start)
    sessions = [source.sim.first_session]
    while len(sessions) < args.days:
        sessions.append(market_calendar.next_trading_day(sessions[-1]))
    markets = []
    if args.data in ("sim", "both"):
        began = time.perf_counter()
        markets.append(
            ("simulator", list(source.sim.days(sessions[0], sessions[-1])), time.perf_counter() - began)
        )
    if args.data in ("store", "both"):
        from bench.backtest import _build_store  # the store bench/backtest.py builds (seed 0)
        from trading.marketdata.store_feed import StoreFeed

        _build_store(args.work / "store", sessions, sessions[0])
        began = time.perf_counter()
        days = list(StoreFeed(args.work / "store", "NIFTY").days(sessions[0], sessions[-1]))
        markets.append(("store", days, time.perf_counter() - began))

    spec = templates.short_straddle("NIFTY")  # 25% stop per leg, 09:20-15:15 MIS
    straddle = StrategySlot(name="STRADDLE", capital_allocation=Decimal("500000"), combos={"CALL": spec})
    single = StrategySlot(name="SINGLE", capital_allocation=Decimal("500000"))
    for label, days, load in markets:
        combo = run(days, straddle, spec.entry_time)
        option = run(days, single, spec.entry_time)
        print(
            f"{label}: sessions {len(days)} ({days[0].session} .. {days[-1].session}), read in {load:.1f} s"
        )
        print(f"  short straddle, per-leg 25% stops: {combo}")
        print(f"  one bought ATM option (same signal): {option}")
        print(f"  time ratio straddle / single option: {combo['seconds'] / option['seconds']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
