"""Benchmark of the analytics API (/api/analytics/*) over a million trades in PostgreSQL, and quantstats
on the same trades in the same run.

Run: ``.venv/bin/python bench/analytics.py [--trades 1000000] [--seconds 60] [--db postgres://...]``

1. The database as ``bench/api.py`` prepares it (migrate; ``load_fake_trades`` by COPY, then the
   performance tables and the breakdown cells, unless it already holds ``--trades``; the cells rebuilt
   when they are not current; a viewer's token).
2. gunicorn (2 sync workers) on loopback, port ``--port`` (default 18610).
3. Every endpoint under four filters - ``mode=PAPER`` alone, plus one month, plus one strategy, each
   loaded open loop at ``--rate`` (5 req/s) for ``--seconds`` (60): requests leave on a schedule
   whatever the answers do, latency counts from the scheduled send, and a slow answer is waited for
   (so none is left queued for the next scenario). Goal: **p99 < 300 ms**. ``mode=ALL`` unfiltered is
   reported without a goal, ``--sequential`` requests one at a time (its streaks need every trade in
   exit order: a window over the whole table).
4. The peer, in this process and run: what a quantstats endpoint does for the same summary - read the
   PAPER trades' (trade date, net P&L) from PostgreSQL into pandas, make the daily returns on the
   capital, and call quantstats 0.0.86's figures (Sharpe, Sortino, CAGR, volatility, max drawdown,
   Calmar, skew, kurtosis, VaR, CVaR, best/worst day, monthly returns) - timed, median of
   ``--peer-runs``; and, on the same daily returns already in memory, quantstats' figures against
   ``analytics.stats.daily_figures``. Ratios: peer time / our time (> 1: we are faster).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import quantstats as qs  # noqa: E402 - the peer, imported before any timing

from bench import api as journal_bench  # noqa: E402 - the same database set-up and load generator

P99_GOAL_MS = 300.0
ENDPOINTS = (
    "summary",
    "equity",
    "drawdown",
    "daily",
    "monthly",
    "breakdown?by=strategy",
    "breakdown?by=entry_time",
    "attribution?by=strategy",
)


def _filters() -> list[tuple[str, str, bool]]:
    """(name, query, has a goal): PAPER alone, one month of it, one strategy of it, and every mode."""
    from django.db.models import Max, Min

    from journal.models import Trade

    span = Trade.objects.filter(entry_mode="PAPER").aggregate(lo=Min("trade_date"), hi=Max("trade_date"))
    lo, hi = span["lo"], span["hi"]
    middle = lo + (hi - lo) / 2
    first = middle.replace(day=1)
    last = (first.replace(day=28) + (first.replace(day=28) - first.replace(day=21))).replace(day=1)
    month_end = last.fromordinal(last.toordinal() - 1)
    return [
        ("PAPER", "mode=PAPER", True),
        (f"PAPER {first:%b %Y}", f"mode=PAPER&date_from={first}&date_to={month_end}", True),
        ("PAPER PCRStrategy", "mode=PAPER&strategy=PCRStrategy", True),
        ("ALL modes", "mode=ALL", False),
    ]


def _warm(port: int, token: str, paths: list[str]) -> None:
    """Every path asked a few times first: the workers' imports, connections and caches are not measured."""
    for path in paths:
        asyncio.run(journal_bench._open_loop(port, path, token, 4, 1.0))


def _scenario(port: int, token: str, path: str, rate: float, seconds: float) -> dict:
    """Open loop; a slow answer is waited for (120 s), so no request is left queued for the next one."""
    lat, errors = asyncio.run(journal_bench._open_loop(port, path, token, rate, seconds, timeout=120))
    return {
        "p50": journal_bench.pct(lat, 50),
        "p99": journal_bench.pct(lat, 99),
        "max": max(lat),
        "n": len(lat),
        "errors": errors,
    }


def _sequential(port: int, token: str, path: str, n: int) -> dict:
    """``n`` requests one after the other (the reported filters without a goal: no queue builds up)."""
    lat, errors = [], 0
    for _ in range(n):
        t0 = time.perf_counter()
        status = asyncio.run(journal_bench._request(port, path, token, timeout=300))
        lat.append((time.perf_counter() - t0) * 1000)
        errors += status != 200
    return {"p50": statistics.median(lat), "p99": max(lat), "max": max(lat), "n": n, "errors": errors}


# --- the peer: quantstats ---------------------------------------------------------------------------------


def _quantstats_figures(returns) -> dict:
    return {
        "sharpe": qs.stats.sharpe(returns, periods=252),
        "sortino": qs.stats.sortino(returns, periods=252),
        "cagr": qs.stats.cagr(returns, periods=252),
        "volatility": qs.stats.volatility(returns, periods=252),
        "max_drawdown": qs.stats.max_drawdown(returns),
        "calmar": qs.stats.calmar(returns, periods=252),
        "skew": qs.stats.skew(returns),
        "kurtosis": qs.stats.kurtosis(returns),
        "var": qs.stats.value_at_risk(returns),
        "cvar": qs.stats.conditional_value_at_risk(returns),
        "best": qs.stats.best(returns),
        "worst": qs.stats.worst(returns),
        "monthly": qs.stats.monthly_returns(returns),
    }


def _peer(capital: float, runs: int) -> dict:
    """quantstats over the PAPER trades: read + daily returns + figures, and figures alone."""
    import pandas as pd
    from django.db import connection

    from analytics import stats
    from analytics.returns import daily_net, daily_returns

    def load_and_compute():
        with connection.cursor() as cursor:
            cursor.execute("SELECT trade_date, net_pnl FROM journal_trade WHERE entry_mode = 'PAPER'")
            frame = pd.DataFrame(cursor.fetchall(), columns=["date", "net"])
        per_day = frame.groupby("date")["net"].sum()
        net = daily_net(list(per_day.items()))
        returns = daily_returns(net, capital)
        _quantstats_figures(returns)
        return net, returns

    full = []
    for _ in range(runs):
        t0 = time.perf_counter()
        net, returns = load_and_compute()
        full.append((time.perf_counter() - t0) * 1000)
    qs_only, ours_only = [], []
    for _ in range(max(runs, 5)):
        t0 = time.perf_counter()
        _quantstats_figures(returns)
        qs_only.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        stats.daily_figures(net, capital=capital)
        stats.monthly_returns(returns)
        ours_only.append((time.perf_counter() - t0) * 1000)
    return {
        "days": len(returns),
        "full_ms": statistics.median(full),
        "qs_ms": statistics.median(qs_only),
        "ours_ms": statistics.median(ours_only),
    }


# --- Main --------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--db",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/desk_analytics"),
    )
    parser.add_argument("--trades", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=60.0, help="per endpoint and filter")
    parser.add_argument("--rate", type=float, default=5.0, help="requests per second, open loop")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=18610)
    parser.add_argument("--peer-runs", type=int, default=5)
    parser.add_argument("--sequential", type=int, default=3, help="requests of mode=ALL, one at a time")
    parser.add_argument("--only", default="", help="comma-separated endpoints (default: all)")
    args = parser.parse_args(argv)
    if "desk_ci" in args.db:
        raise SystemExit("refusing to benchmark the CI database")

    # The environment's key, or this run's own (strong enough for DEBUG off); bench.api reads the same.
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    t0 = time.perf_counter()
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    token, count = journal_bench.prepare(args.db, args.trades)
    print(f"database ready: {count:,} trades ({time.perf_counter() - t0:.0f} s)", flush=True)
    from django.db import connection

    with connection.cursor() as cursor:  # what autovacuum does to a loaded table: visibility, statistics
        cursor.execute("VACUUM ANALYZE journal_trade")
        cursor.execute("VACUUM ANALYZE journal_breakdowncell")
    from django.conf import settings

    filters = _filters()
    endpoints = [e for e in ENDPOINTS if not args.only or e.split("?")[0] in args.only.split(",")]
    server = journal_bench.start_server(args.db, args.port, args.workers)
    results = []
    try:
        _warm(args.port, token, [f"/api/analytics/{e}" for e in endpoints])
        print(
            f"\nopen loop at {args.rate:g} req/s for {args.seconds:g} s per endpoint and filter", flush=True
        )
        for endpoint in endpoints:
            for name, query, goal in filters:
                sep = "&" if "?" in endpoint else "?"
                path = f"/api/analytics/{endpoint}{sep}{query}"
                if goal:
                    r = _scenario(args.port, token, path, args.rate, args.seconds)
                else:
                    r = _sequential(args.port, token, path, args.sequential)
                ok = r["errors"] == 0 and r["p99"] < P99_GOAL_MS
                verdict = ("ok" if ok else "MISSED") if goal else "(no goal)"
                print(
                    f"  {endpoint:<26} {name:<22} p50 {r['p50']:7.1f} ms  p99 {r['p99']:7.1f} ms  "
                    f"max {r['max']:7.1f} ms  n {r['n']:>4}  errors {r['errors']:>3}  {verdict}",
                    flush=True,
                )
                results.append((endpoint, name, goal, ok, r))
    finally:
        server.terminate()
        server.wait(timeout=30)

    print("\npeer: quantstats 0.0.86 on the PAPER trades, in this process", flush=True)
    peer = _peer(float(settings.TRADING_CAPITAL), args.peer_runs)
    ours = (
        next(r for e, n, _, _, r in results if e == "summary" and n == "PAPER")
        if "summary" in endpoints
        else None
    )
    print(f"  daily series: {peer['days']:,} trading days")
    print(f"  quantstats: read trades + daily returns + figures  {peer['full_ms']:8.1f} ms (median)")
    if ours:
        print(f"  ours: GET /api/analytics/summary?mode=PAPER      {ours['p50']:8.1f} ms (p50, over HTTP)")
        print(f"  ratio quantstats / ours (end to end):            {peer['full_ms'] / ours['p50']:8.1f} x")
    print(
        f"  figures alone on the same returns: quantstats {peer['qs_ms']:.2f} ms, ours {peer['ours_ms']:.2f} ms"
    )
    print(f"  ratio quantstats / ours (figures alone):         {peer['qs_ms'] / peer['ours_ms']:8.1f} x")

    goals = [ok for _, _, goal, ok, _ in results if goal]
    print(f"\nGoal p99 < {P99_GOAL_MS:g} ms: {sum(goals)}/{len(goals)} scenarios held")
    return 0 if all(goals) else 1


if __name__ == "__main__":
    raise SystemExit(main())
