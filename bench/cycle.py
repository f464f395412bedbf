"""Benchmark: one engine cycle, pure and persisted, and a whole session through ``runtrader``.

Run: ``.venv/bin/python bench/cycle.py [--seed 7] [--day 2025-11-19] [--no-runtrader]``.

1. **Pure cycle** over every bar of a simulated session: new bar -> feature row (incremental
   ``FeatureBuilder.append``) -> the 14 strategies on the latest window -> exits and risk gate ->
   paper order and fill (``engine.run_cycle``). p50/p99 in ms; the same for the bars that placed
   an order. Goal: p99 < 10 ms.
2. **Persisted cycle**: the same through ``trading.Desk`` with its state loaded from and
   written to the database (signals, orders and events, positions, trades, snapshot). Uses a
   scratch database created on ``DATABASE_URL`` (PostgreSQL for the figure the issue asks for;
   SQLite otherwise) and dropped afterwards. Goal: p99 < 50 ms on PostgreSQL.
3. **runtrader --speed max** over one full session (a subprocess on a fresh embedded SQLite database
   under a temporary VAR_DIR): wall time. Goal: < 20 s per session.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingsite.settings")
os.environ.setdefault("DEBUG", "1")

import numpy as np  # noqa: E402

BAR = timedelta(minutes=1)


def pct(values: list[float]) -> str:
    a = np.asarray(values) * 1000
    return f"p50 {np.percentile(a, 50):6.2f} ms  p99 {np.percentile(a, 99):6.2f} ms  max {a.max():6.2f} ms  (n={len(a)})"


def pure(seed: int, day: date) -> None:
    from trading.brokers.paper import PaperBroker
    from trading.core import engine
    from trading.core.live import LiveSignals, SimSource
    from trading.core.state import EngineConfig, EngineState, StrategySlot
    from trading.core.strategies import registry

    source = SimSource(seed=seed, start=day - timedelta(days=7))
    strategies = registry.all_strategies()
    slots = {s.name: StrategySlot(name=s.name, cooldown_minutes=s.cooldown_minutes) for s in strategies}
    pairs = [(s.name, None) for s in strategies]
    live = LiveSignals(source)
    state, broker, config = EngineState(), PaperBroker(), EngineConfig()

    # Warm-up, not measured: the session before (the builder's one-off rebuild, numba's first
    # compilation of the pricing kernels) - what a running loop has long paid.
    def cycle(bar):
        row, signals = live.step(bar, pairs)
        return engine.run_cycle(
            at=bar.time + BAR,
            bar=bar,
            row=row,
            signals=signals,
            state=state,
            broker=broker,
            strategies=slots,
            config=config,
        )

    prev = source.day(day - timedelta(days=1))
    for i in range(len(prev)):
        cycle(prev.bar(i))
    d = source.day(day)
    times, order_times, orders_placed = [], [], 0
    for i in range(0, len(d)):
        bar = d.bar(i)
        t0 = time.perf_counter()
        result = cycle(bar)
        dt = time.perf_counter() - t0
        times.append(dt)
        if result.orders:
            order_times.append(dt)
            orders_placed += len(result.orders)
    print(f"pure cycle      {pct(times)}")
    if order_times:
        print(f"  with an order {pct(order_times)}  ({orders_placed} orders)")


def persisted(seed: int, day: date) -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    from trading.brokers.paper import PaperBroker
    from trading.core.live import SimSource
    from trading.execution.desk import Desk

    settings.MIGRATION_MODULES = {app.split(".")[-1]: None for app in settings.INSTALLED_APPS}
    vendor = connection.vendor
    old_name = connection.settings_dict["NAME"]
    if vendor == "sqlite":
        connection.settings_dict["TEST"]["NAME"] = str(Path(tempfile.mkdtemp()) / "bench.sqlite3")
    test_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        source = SimSource(seed=seed, start=day - timedelta(days=7))
        desk = Desk("NIFTY", mode="PAPER", source=source, broker=PaperBroker())
        d = source.day(day)
        desk.cycle(bar=d.bar(0))  # warm-up: strategy rows, features, broker book
        times, order_times = [], []
        for i in range(1, len(d)):
            t0 = time.perf_counter()
            report = desk.cycle(bar=d.bar(i))
            dt = time.perf_counter() - t0
            times.append(dt)
            if report.orders:
                order_times.append(dt)
        print(f"persisted cycle {pct(times)}  [{vendor}: {test_name}]")
        if order_times:
            print(f"  with an order {pct(order_times)}")
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def runtrader_session(seed: int, day: date) -> None:
    with tempfile.TemporaryDirectory() as var:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        env.update(VAR_DIR=var, DEBUG="1")
        py = sys.executable
        subprocess.run([py, "manage.py", "migrate", "--run-syncdb", "-v", "0"], cwd=ROOT, env=env, check=True)
        t0 = time.perf_counter()
        out = subprocess.run(
            [
                py,
                "manage.py",
                "runtrader",
                "--speed",
                "max",
                "--seed",
                str(seed),
                "--days",
                "1",
                "--start",
                day.isoformat(),
                "--fresh",
            ],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - t0
        last = [line for line in out.stdout.splitlines() if line.startswith("[")][-1:]
        print(f"runtrader --speed max, one session (SQLite, process start included): {wall:.1f} s")
        if last:
            print(f"  {last[0]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--day", type=date.fromisoformat, default=date(2025, 11, 19))
    parser.add_argument("--no-runtrader", action="store_true")
    parser.add_argument("--no-persisted", action="store_true")
    args = parser.parse_args(argv)
    import logging

    logging.disable(logging.ERROR)  # strategy guard messages would swamp the figures
    pure(args.seed, args.day)
    if not args.no_persisted:
        persisted(args.seed, args.day)
    if not args.no_runtrader:
        runtrader_session(args.seed, args.day)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
