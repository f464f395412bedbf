"""Benchmark: a 200-combination parameter sweep on 1 and on 2 research workers - throughput, speed-up,
and whether both give identical results.

Run: ``DATABASE_URL=postgres://... REDIS_URL=redis://.../N .venv/bin/python bench/sweep.py
[--workers 1,2] [--sessions 2] [--embedded]``.

Each run starts that many real Celery workers on the ``research`` queue (the Procfile's ``research``
command, one process each), sends the sweep (``sweeps.sweep_execute``: the market built once and
stored; one task per combination) and times from the send to the last combination stored; the workers
are started and ready before the clock starts. The grid: EMACrossoverStrategy ``gap_em`` 0.02..0.20
(20 steps) x ``memory`` 30..120 (10 steps) over ``--sessions`` simulated sessions from 2026-03-02.
``--embedded`` also times the local process pool with the same counts (no Celery, no Redis).

Uses a scratch database created on ``DATABASE_URL`` and dropped afterwards, and EMPTIES the Redis
database of ``REDIS_URL`` (give it one of your own).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingsite.settings")
os.environ.setdefault("DEBUG", "1")

START = date(2026, 3, 2)
AXES = {"gap_em": "0.02:0.20:20", "memory": "30:120:10"}
STRATEGY = "EMACrossoverStrategy"


def _database_url(settings_dict: dict) -> str:
    user = settings_dict.get("USER") or "postgres"
    auth = f"{user}:{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else user
    host, port = settings_dict.get("HOST") or "127.0.0.1", settings_dict.get("PORT") or 5432
    return f"postgres://{auth}@{host}:{port}/{settings_dict['NAME']}"


def _start_workers(count: int, database_url: str, var: Path) -> list[subprocess.Popen]:
    from django.conf import settings

    env = dict(os.environ, DATABASE_URL=database_url, CELERY_TASK_ALWAYS_EAGER="0", VAR_DIR=str(var))
    env["TRADING_CAPITAL"] = str(settings.TRADING_CAPITAL)
    procs = []
    for n in range(count):
        log = open(var / f"research-{n}.log", "wb")  # noqa: SIM115 - the worker's, closed with it
        procs.append(
            subprocess.Popen(
                [
                    str(ROOT / ".venv/bin/celery"),
                    *("-A", "tradingsite", "worker", "-Q", "research", "--concurrency", "1"),
                    *("-n", f"bench-research-{n}@%h", "--without-gossip", "--without-mingle"),
                    *("--without-heartbeat", "--loglevel", "INFO"),
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if all("ready." in (var / f"research-{n}.log").read_text(errors="replace") for n in range(count)):
            return procs
        time.sleep(0.2)
    _stop(procs)
    raise SystemExit("the research workers did not start in 120 s")


def _stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _figures(sweep) -> list[tuple]:
    return [
        (c.parameters, c.trade_count, c.net_pnl, c.sharpe, c.profit_factor, c.max_drawdown, c.equity)
        for c in sweep.combinations.order_by("number")
    ]


def _wait_done(sweep_id: int):
    from trading.execution.models import RunStatus, Sweep

    while True:
        sweep = Sweep.objects.defer("market_data").get(pk=sweep_id)
        if sweep.status not in (RunStatus.PENDING, RunStatus.RUNNING):
            return sweep
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", default="1,2", help="worker counts to time, comma-separated")
    parser.add_argument("--sessions", type=int, default=2, help="simulated sessions from 2026-03-02")
    parser.add_argument("--embedded", action="store_true", help="also time the local process pool")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]

    import django

    django.setup()
    import redis
    from django.conf import settings
    from django.db import connection

    from trading.core import calendar as market_calendar
    from trading.execution import sweeps

    if connection.vendor != "postgresql" or not settings.REDIS_URL:
        raise SystemExit(
            "needs DATABASE_URL=postgres://... and REDIS_URL=redis://.../N (a database of yours)"
        )
    end = START
    while len(market_calendar.trading_days(START, end)) < args.sessions:
        end = market_calendar.next_trading_day(end)
    request = sweeps.sweep_request(strategy=STRATEGY, start=START, end=end, seed=7, axes=AXES)
    broker = redis.Redis.from_url(settings.REDIS_URL)
    test_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    database_url = _database_url(connection.settings_dict)
    print(
        f"sweep: {STRATEGY}, {len(market_calendar.trading_days(START, end))} session(s) {START}..{end}, "
        f"grid {AXES}; PostgreSQL {test_name}, Redis {settings.REDIS_URL.rsplit('@', 1)[-1]}"
    )
    results: dict[str, tuple[float, list]] = {}
    try:
        for count in counts:
            broker.flushdb()
            with tempfile.TemporaryDirectory() as var:
                procs = _start_workers(count, database_url, Path(var))
                try:
                    began = time.perf_counter()
                    sweep = sweeps.sweep_execute(request, embedded=False)
                    sweep = _wait_done(sweep.pk)
                    took = time.perf_counter() - began
                finally:
                    _stop(procs)
            label = f"celery x{count}"
            results[label] = (took, _figures(sweep))
            print(
                f"{label:>12}: {sweep.total} combinations in {took:6.1f} s = {sweep.total / took:6.2f}/s "
                f"({sweep.done} done, {sweep.failed} failed)"
            )
        if args.embedded:
            for count in counts:
                began = time.perf_counter()
                sweep = sweeps.sweep_execute(request, embedded=True, workers=count)
                took = time.perf_counter() - began
                label = f"embedded x{count}"
                results[label] = (took, _figures(sweep))
                print(
                    f"{label:>12}: {sweep.total} combinations in {took:6.1f} s = {sweep.total / took:6.2f}/s"
                )
    finally:
        broker.flushdb()
        connection.creation.destroy_test_db(test_name, verbosity=0)
    labels = list(results)
    base_time, base_figures = results[labels[0]]
    for label in labels[1:]:
        took, figures = results[label]
        same = "identical" if figures == base_figures else "DIFFERENT"
        print(f"{label} vs {labels[0]}: speed-up x{base_time / took:.2f}; results {same}")


if __name__ == "__main__":
    main()
