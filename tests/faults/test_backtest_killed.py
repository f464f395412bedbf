"""``manage.py backtest`` and the process that checks its trades beside the run (``core.apart``),
killed outright on the suite's own PostgreSQL: the command killed mid-run leaves no process behind
and no trade in the journal; the checking process killed mid-run (the OOM killer) fails the run by
name with no trade stored, and the command ends with an error; Ctrl-C (SIGINT to the process group,
as a terminal sends it) or SIGTERM to the command fails the run with no trade stored and no process
left, the command ending with one line and 130 or 143."""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.faults.conftest import kill_group, manage, process_env, wait_for
from tests.helpers import child_processes, process_alive

pytestmark = pytest.mark.slow

# Half a simulated year: long enough that a kill lands mid-run.
SPAN = ("--start", "2025-01-01", "--end", "2025-06-30", "--seed", "3")


def _run(cluster, database: str) -> tuple | None:
    rows = cluster.query(database, "SELECT id, status, bars_done, error FROM trading_backtestrun")
    return rows[0] if rows else None


def _trades(cluster, database: str) -> int:
    return cluster.query(database, "SELECT count(*) FROM journal_trade")[0][0]


def _running_with_checker(proc, cluster, database: str) -> int:
    """The checking process's pid, once the run is RUNNING and has traded some bars."""

    def ready():
        run = _run(cluster, database)
        children = child_processes(proc.pid)
        assert proc.poll() is None, "the backtest ended before it could be killed mid-run"
        return children if run and run[1] == "RUNNING" and run[2] > 0 and children else None

    (checker,) = wait_for(ready, 120, "the run under way with its checking process")
    return checker


def test_the_command_killed_mid_run_leaves_no_process_and_no_trade(cluster, database, tmp_path) -> None:
    proc = manage(process_env(tmp_path, cluster.url(database)), "backtest", *SPAN, log=tmp_path / "bt.log")
    try:
        checker = _running_with_checker(proc, cluster, database)
        os.kill(proc.pid, signal.SIGKILL)  # the command only: its checking process is left to itself
        proc.wait(timeout=15)
        wait_for(lambda: not process_alive(checker), 20, "the checking process to end by itself")
    finally:
        kill_group(proc)
    run = _run(cluster, database)
    assert run[1] == "RUNNING"  # as any worker killed outright: the reaper marks it FAILED later
    assert _trades(cluster, database) == 0  # journaled after the run only, all or nothing


def test_the_checking_process_killed_fails_the_run_by_name(cluster, database, tmp_path) -> None:
    log = tmp_path / "bt.log"
    proc = manage(process_env(tmp_path, cluster.url(database)), "backtest", *SPAN, log=log)
    try:
        checker = _running_with_checker(proc, cluster, database)
        os.kill(checker, signal.SIGKILL)  # as the OOM killer would
        assert proc.wait(timeout=60) != 0, log.read_text()[-3000:]
    finally:
        kill_group(proc)
    run = _run(cluster, database)
    assert run[1] == "FAILED" and "ApartDied" in run[3] and "journal's checks" in run[3]
    assert _trades(cluster, database) == 0
    assert "ApartDied" in log.read_text()


@pytest.mark.parametrize(
    ("sig", "whole_group", "code", "reason", "said"),
    [
        (signal.SIGINT, True, 130, "interrupted", "CommandError: interrupted:"),
        (signal.SIGTERM, False, 143, "interrupted (SIGTERM)", "CommandError: terminated (SIGTERM):"),
    ],
)
def test_ctrl_c_or_sigterm_fails_the_run_and_stores_nothing(
    cluster, database, tmp_path, sig, whole_group, code, reason, said
) -> None:
    log = tmp_path / "bt.log"
    proc = manage(process_env(tmp_path, cluster.url(database)), "backtest", *SPAN, log=log)
    try:
        checker = _running_with_checker(proc, cluster, database)
        if whole_group:
            os.killpg(proc.pid, sig)  # the checking process gets it too, as from a terminal
        else:
            os.kill(proc.pid, sig)
        assert proc.wait(timeout=60) == code, log.read_text()[-3000:]
        wait_for(lambda: not process_alive(checker), 20, "the checking process to end")
    finally:
        kill_group(proc)
    run = _run(cluster, database)
    assert run[1] == "FAILED" and run[3] == reason
    assert _trades(cluster, database) == 0
    text = log.read_text()
    assert said in text and "Traceback" not in text


def test_a_database_restart_mid_run_is_ridden_out(cluster, database, tmp_path) -> None:
    """PostgreSQL stopped while the run trades and started again 3 s later: the run goes on (its
    progress waits), journals every trade once the database is back, and is DONE."""
    log = tmp_path / "bt.log"
    proc = manage(process_env(tmp_path, cluster.url(database)), "backtest", *SPAN, log=log)
    try:
        _running_with_checker(proc, cluster, database)
        cluster.stop()
        time.sleep(3)
        cluster.start()
        assert proc.wait(timeout=180) == 0, log.read_text()[-3000:]
    finally:
        kill_group(proc)
    run = _run(cluster, database)
    assert run[1] == "DONE" and run[3] == ""
    count = cluster.query(database, "SELECT trade_count FROM trading_backtestrun")[0][0]
    assert count > 0 and _trades(cluster, database) == count
    assert "Traceback" not in log.read_text()


def test_a_database_down_past_the_wait_ends_the_command_with_one_line(cluster, database, tmp_path) -> None:
    """PostgreSQL stopped mid-run and still down when the run is done (the wait cut to 2 s): the
    command ends non-zero with one line naming the database (no traceback), and once the database is
    back no trade of the run is in the journal."""
    log = tmp_path / "bt.log"
    env = {**process_env(tmp_path, cluster.url(database)), "BACKTEST_DB_WAIT_SECONDS": "2"}
    proc = manage(env, "backtest", *SPAN, log=log)
    try:
        checker = _running_with_checker(proc, cluster, database)
        cluster.stop()
        try:
            code = proc.wait(timeout=180)
        finally:
            cluster.start()
        wait_for(lambda: not process_alive(checker), 20, "the checking process to end")
    finally:
        kill_group(proc)
    text = log.read_text()
    assert code == 1, text[-3000:]
    assert "CommandError: the database is unreachable" in text and "Traceback" not in text
    assert _trades(cluster, database) == 0
    assert _run(cluster, database)[1] == "RUNNING"  # it could not say otherwise: the reaper will
