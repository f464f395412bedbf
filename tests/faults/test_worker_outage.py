"""PostgreSQL stopped under two Celery worker processes that take an index's cycles in turn: one
state is traded on whichever process runs the cycle (``execution.carrier``: handed over through
Redis, one cycle at a time on Redis's lock while the database is away), so every position held at the
stop exits on the bar and at the price an uninterrupted run exits it, once.

The worst case, made certain: the second process ran the session's first bars only (it holds a state
without the positions opened later), the first one the rest; in the outage they take the bars in
turn. Before the carrier, the second one traded on its old state and the stops filled late. Real
workers (each one child), the suite's own redis-server and PostgreSQL cluster.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from celery import Celery

from tests.faults.conftest import celery_worker, kill_group, process_env
from tests.faults.reference import DAY, SEED, backtest_trades, session_bars, stored_trades

pytestmark = [pytest.mark.faults, pytest.mark.slow]

BAR = timedelta(minutes=1)
QUEUE = "faults-desk"


def _cycle(app: Celery, at, worker: int) -> None:
    """One bar's cycle, as the beat sends it, to worker 1 or 2 (each consumes a queue of its own)."""
    kwargs = {"index": "NIFTY", "at": at.isoformat()}
    app.send_task("trading.tasks.run_cycle", kwargs=kwargs, queue=f"{QUEUE}-{worker}").get(timeout=90)


def test_two_worker_children_exit_on_the_bars_of_an_uninterrupted_run_through_an_outage(
    cluster, database, redis_server, tmp_path: Path
):
    expected = backtest_trades(DAY, 1)
    bars = session_bars([DAY])
    env = process_env(
        tmp_path,
        cluster.url(database),
        REDIS_URL=redis_server,
        CELERY_TASK_ALWAYS_EAGER="0",
        SIM_SEED=str(SEED),
        SIM_START=DAY.isoformat(),
    )
    import redis

    redis.Redis.from_url(redis_server).flushdb()
    app = Celery("faults", broker=redis_server, backend=redis_server)
    logs = [tmp_path / "worker-1.log", tmp_path / "worker-2.log"]
    workers = [celery_worker(env, f"{QUEUE}-{n}", logs[n - 1], concurrency=1) for n in (1, 2)]
    try:
        for i in range(5):  # worker 2: the first bars, before any position
            _cycle(app, bars[i] + BAR, 2)
        i = 5
        while True:  # worker 1: until positions are held, then the database stops
            _cycle(app, bars[i] + BAR, 1)
            i += 1
            if cluster.query(database, "SELECT 1 FROM trading_position WHERE status = 'OPEN'"):
                break
            assert i < 200, "no position opened"
        stop_at = bars[i - 1] + BAR  # the clock of the last cycle before the stop
        held = [t for t in expected if t[3] <= stop_at < t[5]]
        assert held, "positions the uninterrupted run holds at the stop"
        cluster.stop()
        last_exit = max(t[5] for t in held)
        ran = {1: 0, 2: 0}
        while bars[i] <= last_exit + 2 * BAR:  # the outage: the bars in turn
            ran[2 - i % 2] += 1
            _cycle(app, bars[i] + BAR, 2 - i % 2)
            i += 1
        cluster.start()
        back = time.monotonic()
        for _ in range(3):
            _cycle(app, bars[i] + BAR, 1)
            i += 1
        app.send_task("trading.tasks.drain_spool", queue=f"{QUEUE}-1").get(timeout=60)
        recovered = time.monotonic() - back
    finally:
        for worker in workers:
            kill_group(worker, 15)
    assert ran[1] and ran[2]

    found = stored_trades(cluster, database)
    for trade in held:
        assert trade in found, f"held at the stop, exited otherwise: {trade}"
    assert len(found) == len(set(found))
    ids = [r[0] for r in cluster.query(database, "SELECT trade_id FROM journal_trade")]
    assert len(ids) == len(set(ids))
    (exits,) = cluster.query(
        database,
        "SELECT count(*) FROM trading_order WHERE purpose = 'EXIT' AND parent_id IS NULL AND status = 'FILLED'",
    )[0]
    (closed,) = cluster.query(database, "SELECT count(*) FROM trading_position WHERE status = 'CLOSED'")[0]
    assert exits == closed, "one exit order per closed position"
    print(
        f"\n[faults] PostgreSQL down under two workers taking the bars in turn ({stop_at:%H:%M}..{bars[i - 4]:%H:%M} "
        f"UTC): {len(held)} held position(s) exited on the uninterrupted run's bars; trades expected "
        f"{len(held)} held, found {sum(t in found for t in held)}; spool replayed {recovered:.1f}s after the "
        f"database came back"
    )
