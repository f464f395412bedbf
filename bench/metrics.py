"""Benchmark: one ``/metrics`` scrape with 14 strategies active and a year of trades in the database.

Run: ``.venv/bin/python bench/metrics.py [--strategies 14] [--days 250] [--per-day 5] [--scrapes 30]``.
Builds a fresh database - a temporary SQLite file, or ``--database-url postgres://.../desk_bench`` (a
database whose name contains "bench": its tables are dropped and re-created) - with
``strategies x days x per-day`` journal trades, two orders per trade (entry and exit) plus rejected
and cancelled ones, a signal per trade, the performance tables, open positions and the control state.
Then it times full ``GET /metrics`` requests through Django's middleware (loopback, so no token). The
first scrape of a process reads the journal counts in full (printed apart); then scrapes are timed
once with a commit before each (the database metrics are re-read and the journal counts brought up
to date from what changed, as during a session) and once with none (the collector answers from its
reading at the same database change token). Prints p50/p95/max of each against the 50 ms goal.
"""

from __future__ import annotations

import argparse
import atexit
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STRATEGIES = (
    "PCRStrategy",
    "MaxPainStrategy",
    "EMACrossover",
    "ExpiryGamma",
    "IVPercentile",
    "OIBreakout",
    "OIBuildup",
    "OpeningRange",
    "PCRTrend",
    "RSIPullback",
    "StraddleExpansion",
    "Supertrend",
    "VIXMeanReversion",
    "VWAPEMA",
)


def _setup(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingsite.settings")
    os.environ.setdefault("ALLOW_DEV_SECRET_KEY", "1")
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="bench-prometheus-"))
    atexit.register(shutil.rmtree, os.environ["PROMETHEUS_MULTIPROC_DIR"], True)
    import django
    from django.conf import settings

    class _NoMigrations(dict):
        def __contains__(self, item):
            return True

        def __getitem__(self, item):
            return None

    settings.MIGRATION_MODULES = _NoMigrations()
    django.setup()
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor == "postgresql":
        if "bench" not in str(connection.settings_dict["NAME"]):
            raise SystemExit("refusing to drop the tables of a database whose name lacks 'bench'")
        with connection.cursor() as cur:
            cur.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    call_command("migrate", run_syncdb=True, interactive=False, verbosity=0)


def _populate(n_strategies: int, days: int, per_day: int, seed: int) -> dict[str, int]:
    from django.contrib.auth import get_user_model  # noqa: F401 - auth tables exist
    from django.db import transaction

    from journal.models import DailyPerformance, StrategyPerformance, Trade
    from trading.core import calendar
    from trading.execution.models import Order, Position, TradingState
    from trading.strategies.models import Signal, StrategyConfig

    rng = random.Random(seed)
    names = list(STRATEGIES[:n_strategies]) + [f"Strategy{i}" for i in range(len(STRATEGIES), n_strategies)]
    sessions = calendar.trading_days(date(2025, 1, 1), date(2026, 12, 31))[:days]
    trades, orders, signals = [], [], []
    n = 0
    for d in sessions:
        for s in names:
            for k in range(per_day):
                n += 1
                entry = datetime.combine(d, datetime.min.time(), tzinfo=calendar.IST) + timedelta(
                    hours=9, minutes=30 + 40 * k
                )
                exit_ = entry + timedelta(minutes=rng.randint(5, 35))
                qty, ep = 75, Decimal(rng.randint(60, 200))
                xp = ep + Decimal(rng.randint(-40, 50))
                gross = (xp - ep) * qty
                charges = Decimal("65.40")
                net = gross - charges
                tid = f"B{n:07d}"
                trades.append(
                    Trade(
                        trade_id=tid,
                        symbol="NIFTY",
                        tradingsymbol="NIFTY25JAN24000CE",
                        instrument_type="CALL" if k % 2 else "PUT",
                        strike_price=Decimal("24000"),
                        expiry_date=d + timedelta(days=7),
                        side="LONG",
                        entry_time=entry,
                        exit_time=exit_,
                        trade_date=d,
                        entry_price=ep,
                        exit_price=xp,
                        quantity=qty,
                        lots=1,
                        entry_mode="PAPER",
                        data_source="SIM",
                        exit_type=rng.choice(
                            ("TARGET", "STOP_LOSS", "TRAILING_STOP", "TIME_EXIT", "SQUARE_OFF")
                        ),
                        hold_duration_minutes=Decimal((exit_ - entry).seconds) / 60,
                        gross_pnl=gross,
                        net_pnl=net,
                        pnl_percentage=net / (ep * qty) * 100,
                        is_winning_trade=net > 0,
                        brokerage=Decimal("40"),
                        stt=Decimal("10"),
                        exchange_txn=Decimal("7"),
                        sebi_fee=Decimal("0.02"),
                        stamp_duty=Decimal("1"),
                        gst=Decimal("7.38"),
                        total_charges=charges,
                        strategy_name=s,
                    )
                )
                for purpose, side, at in (("ENTRY", "BUY", entry), ("EXIT", "SELL", exit_)):
                    orders.append(
                        Order(
                            client_order_id=f"{tid}{side[0]}",
                            strategy_name=s,
                            purpose=purpose,
                            tradingsymbol="NIFTY25JAN24000CE",
                            instrument_type="CALL",
                            strike_price=Decimal("24000"),
                            expiry_date=d + timedelta(days=7),
                            transaction_type=side,
                            order_type=rng.choice(("MARKET", "LIMIT")),
                            quantity=qty,
                            filled_quantity=qty,
                            average_price=ep,
                            status="FILLED",
                            created_at=at,
                            filled_at=at + timedelta(seconds=1),
                        )
                    )
                signals.append(
                    Signal(strategy_name=s, bar_time=entry, direction="CALL", strength=0.7, status="ACCEPTED")
                )
            if rng.random() < 0.2:
                for status, reason in (("REJECTED", "price_band"), ("CANCELLED", "max_retries_exceeded")):
                    n += 1
                    orders.append(
                        Order(
                            client_order_id=f"X{n:07d}",
                            strategy_name=s,
                            tradingsymbol="NIFTY25JAN24000PE",
                            instrument_type="PUT",
                            strike_price=Decimal("24000"),
                            expiry_date=d + timedelta(days=7),
                            transaction_type="BUY",
                            order_type="LIMIT",
                            quantity=75,
                            status=status,
                            status_reason=reason,
                            created_at=datetime.combine(d, datetime.min.time(), tzinfo=calendar.IST)
                            + timedelta(hours=11),
                        )
                    )
    last = sessions[-1]
    with transaction.atomic():
        Trade.objects.bulk_create(trades, batch_size=2000)
        Order.objects.bulk_create(orders, batch_size=2000)
        Signal.objects.bulk_create(signals, batch_size=2000)
        for s in names:
            StrategyConfig.objects.create(name=s, enabled=True)
            StrategyPerformance.objects.create(
                strategy_name=s, mode="PAPER", trades=days * per_day, win_rate=Decimal("52.5")
            )
            Position.objects.create(
                position_id=f"P-{s}",
                strategy_name=s,
                tradingsymbol="NIFTY25JAN24000CE",
                instrument_type="CALL",
                strike_price=Decimal("24000"),
                expiry_date=last + timedelta(days=7),
                quantity=75,
                entry_price=Decimal("100"),
                last_price=Decimal("104.5"),
                entry_time=datetime.combine(last, datetime.min.time(), tzinfo=calendar.IST)
                + timedelta(hours=14),
            )
        DailyPerformance.objects.bulk_create(
            [DailyPerformance(date=d, mode="PAPER", trades=len(names) * per_day) for d in sessions]
        )
        TradingState.objects.create(
            index="NIFTY",
            last_bar_time=datetime.combine(last, datetime.min.time(), tzinfo=calendar.IST)
            + timedelta(hours=15, minutes=29),
        )
    return {"trades": len(trades), "orders": len(orders), "signals": len(signals), "strategies": len(names)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategies", type=int, default=14)
    parser.add_argument("--days", type=int, default=250)
    parser.add_argument("--per-day", type=int, default=5, help="trades per strategy per session")
    parser.add_argument("--scrapes", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default="", help="default: a temporary SQLite file")
    args = parser.parse_args(argv)

    tmp = tempfile.mkdtemp(prefix="bench-metrics-")
    atexit.register(shutil.rmtree, tmp, True)
    url = args.database_url or f"sqlite:///{tmp}/bench.sqlite3"
    _setup(url)
    from django.db import connection
    from django.test import Client

    t0 = time.perf_counter()
    counts = _populate(args.strategies, args.days, args.per_day, args.seed)
    print(
        f"database ({connection.vendor}): {counts['trades']:,} trades, {counts['orders']:,} orders, "
        f"{counts['signals']:,} signals, {counts['strategies']} strategies, built in {time.perf_counter() - t0:.1f} s"
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("ANALYZE")
    client = Client(REMOTE_ADDR="127.0.0.1")
    client.get("/healthz")  # load the URLconf and open the connection: not the scrape's cost
    t = time.perf_counter()
    first = client.get("/metrics")
    first_ms = (time.perf_counter() - t) * 1000
    assert first.status_code == 200, first.status_code
    body = first.content.decode()
    families = sum(1 for line in body.splitlines() if line.startswith("# TYPE "))
    from django.utils import timezone

    from trading.execution.models import TradingState

    def timed(change: bool) -> list[float]:
        out = []
        for _ in range(args.scrapes):
            if change:
                # A commit between scrapes, as the engine makes every bar: the scrape re-reads.
                TradingState.objects.filter(index="NIFTY").update(last_cycle_at=timezone.now())
            t = time.perf_counter()
            response = client.get("/metrics")
            out.append((time.perf_counter() - t) * 1000)
            assert response.status_code == 200
        return sorted(out)

    print(f"/metrics: {len(body):,} bytes, {families} families")
    print(f"first scrape of a new process (full GROUP BY of trades and orders): {first_ms:.1f} ms")
    figures = {}
    for name, change in (("database changed since the last scrape", True), ("database unchanged", False)):
        times = timed(change)
        p50 = statistics.median(times)
        p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
        figures[change] = p50
        print(
            f"scrape, {name}: p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {times[-1]:.1f} ms ({args.scrapes} scrapes)"
        )
    print(f"goal < 50 ms per scrape: {'met' if max(figures.values()) < 50 else 'NOT met'} (p50, both cases)")
    print(
        "load average during the run: {:.2f} {:.2f} {:.2f} on {} CPUs".format(
            *os.getloadavg(), os.cpu_count()
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
