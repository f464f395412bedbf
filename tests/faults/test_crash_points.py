"""``runtrader`` SIGKILLed at the worst moments of its first entry, then started again: the day ends
with exactly the trades of an uninterrupted run - no entry lost, none doubled.

The kill points (``trading.execution.pausepoints``): the order row written but nothing sent; the
broker answered but its answer not stored; the answer stored but not the position; inside the
cycle's transaction before its commit.
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


@pytest.fixture(scope="module")
def uninterrupted():
    return backtest_trades(DAY, 1)


def _orders(cluster, database: str) -> list[tuple]:
    return cluster.query(
        database,
        "SELECT client_order_id, purpose, status, broker_order_id FROM trading_order "
        "WHERE parent_id IS NULL ORDER BY id",
    )


@pytest.mark.parametrize("point", POINTS)
def test_runtrader_killed_at_each_point_of_an_entry_trades_as_uninterrupted(
    cluster, database, tmp_path: Path, point, uninterrupted
):
    pause = tmp_path / "pause"
    pause.write_text("hold")
    reached = Path(f"{pause}.reached")
    env = process_env(
        tmp_path, cluster.url(database), DESK_TEST_PAUSE_AT=point, DESK_TEST_PAUSE_FILE=str(pause)
    )
    first = manage(env, *ARGS, "--no-notify", log=tmp_path / "first.log")
    try:
        wait_for(lambda: reached.exists() or first.poll() is not None, 120, f"the loop at {point}")
        assert first.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
        kill_group(first)  # SIGKILL: no cleanup of any kind
    finally:
        kill_group(first)
    pause.unlink()
    at_kill = _orders(cluster, database)
    assert at_kill, "killed with an order in flight"
    killed_at = time.monotonic()

    second = manage(
        process_env(tmp_path, cluster.url(database)), *ARGS, "--no-notify", log=tmp_path / "second.log"
    )
    try:
        assert second.wait(timeout=180) == 0, (tmp_path / "second.log").read_text()[-3000:]
    finally:
        kill_group(second)
    took = time.monotonic() - killed_at

    found = stored_trades(cluster, database)
    assert found == uninterrupted, (point, at_kill)
    # No duplicate anywhere: each filled entry order made one position and one trade, and the
    # order in flight at the kill is the same row (same client order id), never a second one.
    (filled_entries,) = cluster.query(
        database,
        "SELECT count(*) FROM trading_order WHERE purpose = 'ENTRY' AND parent_id IS NULL "
        "AND filled_quantity > 0",
    )[0]
    (positions,) = cluster.query(database, "SELECT count(*) FROM trading_position")[0]
    (trades,) = cluster.query(database, "SELECT count(*) FROM journal_trade")[0]
    assert filled_entries == positions == trades == len(uninterrupted)
    in_flight = {row[0] for row in at_kill}
    after = {row[0]: row for row in _orders(cluster, database)}
    assert in_flight <= set(after)
    (cancelled,) = cluster.query(
        database, "SELECT count(*) FROM trading_order WHERE status = 'CANCELLED' AND purpose = 'ENTRY'"
    )[0]
    assert cancelled == 0, "an entry cancelled instead of sent"
    print(
        f"\n[faults] runtrader SIGKILLed at {point}: trades expected {len(uninterrupted)}, found "
        f"{len(found)}; the restarted run finished the day in {took:.1f}s"
    )
