"""``runtrader`` SIGKILLed at each of the worst moments of an entry, one after the other - every
restart runs until the next point and is killed there - then left to finish the day: it ends with
exactly the trades of an uninterrupted run, no entry lost, none doubled.

The kill points (``trading.execution.pausepoints``), in the order they are met: the order row
written but nothing sent; the broker answered but its answer not stored (the restart sends the
order again under the same client order id: the paper broker's book died with the process); the
answer stored but not the position; inside the cycle's transaction before its commit.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.faults.conftest import kill_group, manage, process_env, wait_for
from tests.faults.reference import DAY, SEED, backtest_trades, stored_trades
from trading.execution.pausepoints import POINTS

pytestmark = [pytest.mark.faults, pytest.mark.slow]

ARGS = ("runtrader", "--speed", "max", "--seed", str(SEED), "--start", DAY.isoformat(), "--days", "1")


def _orders(cluster, database: str) -> list[tuple]:
    return cluster.query(
        database,
        "SELECT client_order_id, purpose, status, broker_order_id FROM trading_order "
        "WHERE parent_id IS NULL ORDER BY id",
    )


def test_runtrader_killed_at_each_point_of_an_entry_trades_as_uninterrupted(
    cluster, database, tmp_path: Path
):
    uninterrupted = backtest_trades(DAY, 1)
    pause = tmp_path / "pause"
    reached = Path(f"{pause}.reached")
    kills = []
    for n, point in enumerate(POINTS, 1):
        pause.write_text("hold")
        reached.unlink(missing_ok=True)
        log = tmp_path / f"run-{n}.log"
        env = process_env(
            tmp_path, cluster.url(database), DESK_TEST_PAUSE_AT=point, DESK_TEST_PAUSE_FILE=str(pause)
        )
        run = manage(env, *ARGS, "--no-notify", log=log)
        try:
            wait_for(lambda r=run: reached.exists() or r.poll() is not None, 120, f"the loop at {point}")
            assert run.poll() is None, f"{point} never reached:\n" + log.read_text()[-3000:]
        finally:
            kill_group(run)  # SIGKILL: no cleanup of any kind
        pause.unlink()
        kills.append((point, _orders(cluster, database)))
    killed_at = time.monotonic()
    final = manage(
        process_env(tmp_path, cluster.url(database)), *ARGS, "--no-notify", log=tmp_path / "final.log"
    )
    try:
        assert final.wait(timeout=180) == 0, (tmp_path / "final.log").read_text()[-3000:]
    finally:
        kill_group(final)
    took = time.monotonic() - killed_at

    found = stored_trades(cluster, database)
    assert found == uninterrupted, kills
    # No duplicate anywhere: each filled entry order made one position and one trade; the order in
    # flight at each kill is the same row (same client order id), never a second one; none cancelled.
    (filled_entries,) = cluster.query(
        database,
        "SELECT count(*) FROM trading_order WHERE purpose = 'ENTRY' AND parent_id IS NULL AND filled_quantity > 0",
    )[0]
    (positions,) = cluster.query(database, "SELECT count(*) FROM trading_position")[0]
    (trades,) = cluster.query(database, "SELECT count(*) FROM journal_trade")[0]
    assert filled_entries == positions == trades == len(uninterrupted)
    in_flight = {row[0] for _, rows in kills for row in rows}
    assert in_flight <= {row[0] for row in _orders(cluster, database)}
    assert len(kills[0][1]) == 1 and kills[0][1][0][2] == "NEW", kills[0]  # written, not sent
    (cancelled,) = cluster.query(
        database, "SELECT count(*) FROM trading_order WHERE status = 'CANCELLED' AND purpose = 'ENTRY'"
    )[0]
    assert cancelled == 0, "an entry cancelled instead of sent"
    print(
        f"\n[faults] runtrader SIGKILLed at {', '.join(POINTS)} in turn: trades expected "
        f"{len(uninterrupted)}, found {len(found)}; the last restart finished the day in {took:.1f}s"
    )
