"""``manage.py sweep`` (its combinations in a local pool of forked workers) stopped mid-sweep on the
suite's own PostgreSQL: SIGTERM (or Ctrl-C) marks the sweep FAILED and leaves no worker behind, the
command ending with one line and 143; SIGKILL, which the command cannot see, takes its workers with
it (``apart.die_with_parent``) - before, they were left running for ever."""

from __future__ import annotations

import os
import signal

import pytest

from tests.faults.conftest import kill_group, manage, process_env, wait_for
from tests.helpers import child_processes, process_alive

pytestmark = pytest.mark.slow

SWEEP = (
    "sweep", "--strategy", "EMACrossoverStrategy", "--start", "2025-01-06", "--end", "2025-03-31",
    "--axis", "gap_em=0.01:0.05:20", "--workers", "2",
)  # fmt: skip


def _sweep(cluster, database: str) -> tuple | None:
    rows = cluster.query(database, "SELECT status, error FROM trading_sweep")
    return rows[0] if rows else None


def _workers(proc, cluster, database: str) -> set[int]:
    """The pool's two workers, once the sweep is RUNNING."""

    def ready():
        assert proc.poll() is None, "the sweep ended before it could be stopped"
        sweep = _sweep(cluster, database)
        workers = child_processes(proc.pid)
        return workers if sweep and sweep[0] == "RUNNING" and len(workers) >= 2 else None

    return wait_for(ready, 120, "the sweep under way in its pool")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_a_sweep_stopped_leaves_no_worker(cluster, database, tmp_path, sig) -> None:
    log = tmp_path / "sweep.log"
    proc = manage(process_env(tmp_path, cluster.url(database)), *SWEEP, log=log)
    try:
        workers = _workers(proc, cluster, database)
        os.kill(proc.pid, sig)  # the command only
        code = proc.wait(timeout=60)
        wait_for(lambda: not any(process_alive(w) for w in workers), 20, "the workers to end")
    finally:
        kill_group(proc)
    sweep = _sweep(cluster, database)
    if sig == signal.SIGTERM:
        assert code == 143, log.read_text()[-3000:]
        assert sweep == ("FAILED", "interrupted (SIGTERM)")
        text = log.read_text()
        assert "CommandError: terminated (SIGTERM)" in text and "Traceback" not in text
    else:
        assert code == -signal.SIGKILL
        assert sweep[0] == "RUNNING"  # it could not say otherwise: the reaper marks it later
