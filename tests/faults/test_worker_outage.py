"""PostgreSQL stopped under a Celery worker with two children, both running cycles of the index
(every bar a ``run_cycle`` and a ``monitor_positions``, as the beat sends them): one state is traded
on whichever child runs the cycle (``execution.carrier``: handed over through Redis, one cycle at a
time on Redis's lock while the database is away), so every position held at the stop exits on the bar
and at the price an uninterrupted run exits it, once.

Real worker, the suite's own redis-server and PostgreSQL cluster.
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


def _cycle(app: Celery, at) -> None:
    """One bar as the beat sends it: the cycle and the exits-only monitor, at once (either child)."""
    kwargs = {"index": "NIFTY", "at": at.isoformat()}
    sent = [
        app.send_task("trading.tasks.run_cycle", kwargs=kwargs, queue=QUEUE),
        app.send_task("trading.tasks.monitor_positions", kwargs=kwargs, queue=QUEUE),
    ]
    for result in sent:
        result.get(timeout=90)


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
    log = tmp_path / "worker.log"
    worker = celery_worker(env, QUEUE, log, concurrency=2)
    try:
        i = 0
        while True:  # trade until positions are held, then stop the database
            _cycle(app, bars[i] + BAR)
            i += 1
            if cluster.query(database, "SELECT 1 FROM trading_position WHERE status = 'OPEN'"):
                break
            assert i < 200, "no position opened"
        stop_at = bars[i - 1] + BAR  # the clock of the last cycle before the stop
        held = [t for t in expected if t[3] <= stop_at < t[5]]
        assert held, "positions the uninterrupted run holds at the stop"
        cluster.stop()
        down_from = log.stat().st_size
        last_exit = max(t[5] for t in held)
        while bars[i] <= last_exit + 2 * BAR:
            _cycle(app, bars[i] + BAR)
            i += 1
        outage_log = log.read_bytes()[down_from:].decode(errors="replace")
        cluster.start()
        back = time.monotonic()
        for _ in range(3):
            _cycle(app, bars[i] + BAR)
            i += 1
        app.send_task("trading.tasks.drain_spool", queue=QUEUE).get(timeout=60)
        recovered = time.monotonic() - back
    finally:
        kill_group(worker, 15)
    children = {name for name in ("ForkPoolWorker-1", "ForkPoolWorker-2") if name in outage_log}
    assert len(children) == 2, "both children ran cycles in the outage"

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
        f"\n[faults] PostgreSQL down under a worker with two children ({stop_at:%H:%M}..{bars[i - 4]:%H:%M} "
        f"UTC): {len(held)} held position(s) exited on the uninterrupted run's bars; trades expected "
        f"{len(held)} held, found {sum(t in found for t in held)}; spool replayed {recovered:.1f}s after the "
        f"database came back"
    )
