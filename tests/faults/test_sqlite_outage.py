"""The embedded loop on SQLite (``make run``'s database) when the database cannot be written: the disk
it lives on fills up under ``runtrader --speed 20`` while positions are held, then frees again.

SQLite still reads, so this is the outage where only writes fail: the loop goes on (exits from the
last cycle's state, closes spooled to a spool on another disk, no entry sent without its row), logs
the outage once and its end once - only when a cycle's writes are stored again - and ends the day
with every position it opened stored, exited and traded once, and nothing at the broker it does not
know. The disk is a real tmpfs of its own, mounted for the test (root).
"""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.faults.conftest import _in_ci, kill_group, manage, process_env, wait_for
from tests.faults.reference import DAY, SEED, backtest_trades

pytestmark = [pytest.mark.faults, pytest.mark.slow]

DISK_MB = 64


@pytest.fixture
def small_disk(tmp_path: Path):
    """A tmpfs of ``DISK_MB`` MB of the test's own; unmounted after."""
    if os.geteuid() != 0:
        if _in_ci():
            pytest.fail("CI must run the fault suite: mounting a tmpfs needs root")
        pytest.skip("mounting a tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m", "tmpfs", str(disk)], check=True)
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def _fill(disk: Path) -> Path:
    """Write a file until the disk is full (ENOSPC); the file."""
    filler = disk / "filler"
    chunk = b"\0" * (1 << 20)
    with open(filler, "wb") as fh:
        try:
            while True:
                fh.write(chunk)
                fh.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    # Whatever the buffered write left: fill the last bytes one by one.
    with open(filler, "ab", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 512)
        except OSError:
            pass
    return filler


def _rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        return conn.execute(sql).fetchall()


def test_runtrader_on_sqlite_rides_a_full_disk(small_disk: Path, tmp_path: Path):
    db = small_disk / "desk.sqlite3"
    env = process_env(
        tmp_path,
        f"sqlite:///{db}",
        VAR_DIR=str(small_disk),
        TRADE_SPOOL_PATH=str(tmp_path / "spool.jsonl"),  # the spool on another disk
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prometheus"),
    )
    migrate = manage(env, "migrate", "--verbosity", "0", log=tmp_path / "migrate.log")
    assert migrate.wait(timeout=180) == 0, (tmp_path / "migrate.log").read_text()[-3000:]
    log = tmp_path / "runtrader.log"
    args = ["--speed", "20", "--seed", str(SEED), "--start", DAY.isoformat(), "--days", "1", "--no-notify"]
    proc = manage(env, "runtrader", *args, log=log)
    try:
        wait_for(
            lambda: _rows(db, "SELECT 1 FROM trading_position WHERE status = 'OPEN'") if db.exists() else [],
            120,
            "a position open",
            every=0.2,
        )
        held = {r[0] for r in _rows(db, "SELECT position_id FROM trading_position WHERE status = 'OPEN'")}
        filler = _fill(small_disk)
        wait_for(lambda: "desk: database unreachable (" in log.read_text(), 60, "the desk to see the outage")
        wait_for(lambda: "spooled position_close" in log.read_text(), 60, "a close spooled")
        filler.unlink()
        assert proc.wait(timeout=180) == 0, log.read_text()[-3000:]
    finally:
        kill_group(proc)
    text = log.read_text()
    said = "\n".join(line for line in text.splitlines() if not line.startswith("[NIFTY"))
    assert text.count("desk: database unreachable (") == 1, said[-4000:]
    assert text.count("database reachable again") == 1, said[-4000:]
    assert "vs broker net" not in text, said[-4000:]
    trades = _rows(db, "SELECT trade_id, exit_time FROM journal_trade")
    (filled,) = _rows(
        db,
        "SELECT count(*) FROM trading_order WHERE purpose = 'ENTRY' AND parent_id IS NULL AND filled_quantity > 0",
    )[0]
    (positions,) = _rows(db, "SELECT count(*) FROM trading_position")[0]
    assert filled == positions == len(trades), said[-4000:]
    assert held <= {t[0] for t in trades}
    assert not _rows(db, "SELECT 1 FROM trading_position WHERE status = 'OPEN'")
    spool = tmp_path / "spool.jsonl"
    assert not spool.exists() or not spool.read_text().strip()
    # The positions held when the disk filled closed from memory as an uninterrupted run closes them.
    expected_ids = len(backtest_trades(DAY, 1))
    print(
        f"\n[faults] SQLite's disk full under runtrader --speed 20: {len(held)} held position(s) closed "
        f"and spooled, replayed once the disk had room; {len(trades)} trade(s) (uninterrupted: {expected_ids}), "
        f"each with its entry order and position, no broker mismatch"
    )
