"""A whole Celery worker (main process and child) SIGKILLed at each point of its first entry in turn
(``trading.execution.pausepoints``): each time a new worker is started, the task comes back to it
(a short visibility timeout here, 60 s in production) and it is killed at the next point; the last
one finishes it. The session's entries are an uninterrupted run's - none lost, none doubled, none
cancelled.

Real workers, the suite's own redis-server and PostgreSQL cluster. The exits after a crash are the
business of ``test_crash_points.py`` (the same code, under ``runtrader``, to the end of the day).
"""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from celery import Celery

from tests.faults.conftest import celery_worker, kill_group, process_env, wait_for
from tests.faults.reference import DAY, SEED, backtest_trades, session_bars
from trading.execution.pausepoints import POINTS

pytestmark = [pytest.mark.faults, pytest.mark.slow]

BAR = timedelta(minutes=1)
QUEUE = "faults-crash"
VISIBILITY_SECONDS = 6  # how long a task lost with its worker waits to come back (production: 60)
AFTER = 3  # bars run after the one the kill cut


def _entries(cluster, database: str) -> list[tuple]:
    rows = cluster.query(
        database,
        "SELECT strategy_name, tradingsymbol, quantity, entry_time, entry_price FROM trading_position",
    )
    return sorted((s, sym, int(q), t, Decimal(p)) for s, sym, q, t, p in rows)


def _send(app: Celery, at):
    return app.send_task(
        "trading.tasks.run_cycle", kwargs={"index": "NIFTY", "at": at.isoformat()}, queue=QUEUE
    )


def test_whole_worker_killed_at_each_point_of_an_entry_enters_as_uninterrupted(
    cluster, database, redis_server, tmp_path: Path
):
    bars = session_bars([DAY])
    env = process_env(
        tmp_path,
        cluster.url(database),
        REDIS_URL=redis_server,
        CELERY_TASK_ALWAYS_EAGER="0",
        CELERY_VISIBILITY_TIMEOUT=str(VISIBILITY_SECONDS),
        CELERY_UNACKED_RESTORE_INTERVAL="1",  # the sweep for lost tasks every second (production: 5)
        SIM_SEED=str(SEED),
        SIM_START=DAY.isoformat(),
    )
    import redis

    redis.Redis.from_url(redis_server).flushdb()
    app = Celery("faults", broker=redis_server, backend=redis_server)
    pause = tmp_path / "pause"
    reached = Path(f"{pause}.reached")

    def worker(n: int, point: str = ""):
        pause.write_text("hold")
        reached.unlink(missing_ok=True)
        extra = {"DESK_TEST_PAUSE_AT": point, "DESK_TEST_PAUSE_FILE": str(pause)} if point else {}
        return celery_worker({**env, **extra}, QUEUE, tmp_path / f"worker-{n}.log", concurrency=1)

    running = worker(1, POINTS[0])
    kills = []
    try:
        i = 0
        while True:  # bar by bar until the first entry stops at its first point
            result = _send(app, bars[i] + BAR)
            wait_for(lambda r=result: r.ready() or reached.exists(), 90, f"bar {i} or the pause")
            if reached.exists():
                break
            result.get(timeout=10)
            i += 1
            assert i < 200, "no entry"
        for n, point in enumerate(POINTS[1:], 2):  # the task comes back to a worker killed at the next point
            kill_group(running)  # SIGKILL the worker and its child: no warm shutdown, nothing acked
            kills.append(time.monotonic())
            running = worker(n, point)
            wait_for(reached.exists, 120, f"the redelivered task at {point}")
        kill_group(running)
        killed = time.monotonic()
        running = worker(len(POINTS) + 1)
        pause.unlink(missing_ok=True)
        result.get(timeout=120)  # the same task, redelivered once more and finished
        took = time.monotonic() - killed
        for j in range(i + 1, i + 1 + AFTER):
            _send(app, bars[j] + BAR).get(timeout=60)
    finally:
        kill_group(running, 15)
    clock = bars[i + AFTER] + BAR
    expected = sorted(t[:5] for t in backtest_trades(DAY, 1) if t[3] <= clock)
    found = _entries(cluster, database)
    assert expected, "the uninterrupted run enters by then"
    assert found == expected
    (filled,) = cluster.query(
        database,
        "SELECT count(*) FROM trading_order WHERE purpose = 'ENTRY' AND parent_id IS NULL AND filled_quantity > 0",
    )[0]
    (cancelled,) = cluster.query(
        database, "SELECT count(*) FROM trading_order WHERE purpose = 'ENTRY' AND status = 'CANCELLED'"
    )[0]
    assert filled == len(found) and cancelled == 0
    print(
        f"\n[faults] whole worker SIGKILLed at {', '.join(POINTS)} in turn: entries expected {len(expected)}, "
        f"found {len(found)}; after the last kill the task came back and finished in {took:.1f}s "
        f"(visibility timeout {VISIBILITY_SECONDS}s)"
    )
