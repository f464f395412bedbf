"""The multiprocess directory: counts of dead processes survive (folded into the archive), the files
stay one set per live process, the web server's wipe never touches a live process's files."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from tests.metrics.helpers import REPO, total_by
from trading.monitoring import multiprocess

CHILD = """
import os, sys, time
from trading import metrics
metrics.definitions.SIGNALS_ACCEPTED.labels("S1").inc({n})
metrics.definitions.ORDER_FILL_TIME.labels("S1", "LIMIT").observe({seconds})
metrics.definitions.SPOT.labels("NIFTY").set({spot})
metrics.definitions.MARKET_LAST_UPDATE.labels("NIFTY").set({stamp})
metrics.process_started("worker")
if {atexit}:
    from trading.monitoring import multiprocess
    multiprocess.install_exit_hook()
    sys.exit(0)
if {linger}:
    print("ready", flush=True)
    time.sleep(60)
os._exit(0)  # dies without a word, like a SIGKILL
"""


def _child(path: Path, n=1, seconds=0.5, spot=24000.0, stamp=1.0, atexit=False, linger=False):
    code = textwrap.dedent(
        CHILD.format(n=n, seconds=seconds, spot=spot, stamp=stamp, atexit=atexit, linger=linger)
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(path), "PYTHONPATH": str(REPO)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    if linger:
        proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        return proc
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)
    return None


def _text(path: Path) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(multiprocess.LockedMultiProcessCollector(path))
    return generate_latest(registry).decode()


def _db_files(path: Path) -> list[str]:
    return sorted(p.name for p in path.glob("*.db"))


@pytest.fixture
def mpdir(tmp_path):
    path = tmp_path / "prom"
    path.mkdir()
    return path


def test_counts_of_dead_processes_survive_and_their_files_are_folded(mpdir):
    _child(mpdir, n=3, seconds=0.5, spot=24000, stamp=100)
    _child(mpdir, n=4, seconds=20, spot=24100, stamp=200)
    assert len({name.rsplit("_", 1)[1] for name in _db_files(mpdir)}) == 2  # two dead pids' files

    text = _text(mpdir)  # a scrape folds the dead first
    assert all("archive" in name for name in _db_files(mpdir)), _db_files(mpdir)
    assert total_by(text, "trading_signals_accepted_total") == {(): 7.0}
    assert total_by(text, "trading_order_fill_time_seconds_count") == {(): 2.0}
    assert total_by(text, "trading_order_fill_time_seconds_bucket", le="1.0") == {(): 1.0}
    assert total_by(text, "trading_order_fill_time_seconds_sum") == {(): 20.5}
    assert total_by(text, "trading_spot_points", "symbol") == {("NIFTY",): 24100.0}  # the most recent
    assert total_by(text, "trading_market_data_last_update_timestamp_seconds") == {(): 200.0}
    assert "trading_processes{" not in text  # live gauges die with their process

    # Later processes add to the archive; a second scrape reads the same numbers.
    _child(mpdir, n=5, spot=23900, stamp=300)
    text = _text(mpdir)
    assert total_by(text, "trading_signals_accepted_total") == {(): 12.0}
    assert total_by(text, "trading_spot_points") == {(): 23900.0}
    assert _text(mpdir) == text


def test_files_stay_one_set_however_many_children_die(mpdir):
    for i in range(8):
        _child(mpdir, n=1, stamp=i)
        multiprocess.fold_dead(mpdir)
    names = _db_files(mpdir)
    assert names == sorted({n for n in names if "archive" in n}) and len(names) <= 6, names
    assert total_by(_text(mpdir), "trading_signals_accepted_total") == {(): 8.0}


def test_a_process_folds_its_own_files_when_it_exits(mpdir):
    _child(mpdir, n=2, atexit=True)
    assert all("archive" in name for name in _db_files(mpdir)), _db_files(mpdir)
    assert total_by(_text(mpdir), "trading_signals_accepted_total") == {(): 2.0}


def test_mark_a_given_pid_dead(mpdir):
    proc = _child(mpdir, n=6, linger=True)
    try:
        assert "trading_processes" in _text(mpdir)
        assert multiprocess.process_dead(proc.pid, mpdir) > 0
        assert not [n for n in _db_files(mpdir) if n.endswith(f"_{proc.pid}.db")]
        text = _text(mpdir)
        assert total_by(text, "trading_signals_accepted_total") == {(): 6.0}
        assert "trading_processes{" not in text
    finally:
        proc.kill()
        proc.wait()


def test_the_web_servers_wipe_never_touches_a_live_process(mpdir):
    _child(mpdir, n=2)  # dead
    live = _child(mpdir, n=3, linger=True)
    try:
        multiprocess.wipe(mpdir)
        # A live worker shares the directory: its files stay, the dead are folded, nothing is lost.
        assert any(n.endswith(f"_{live.pid}.db") for n in _db_files(mpdir))
        assert total_by(_text(mpdir), "trading_signals_accepted_total") == {(): 5.0}
        assert total_by(_text(mpdir), "trading_processes", "role") == {("worker",): 1.0}
    finally:
        live.kill()
        live.wait()
    # Nothing else alive: the next start wipes everything.
    multiprocess.wipe(mpdir)
    assert _db_files(mpdir) == []
    assert "trading_signals_accepted_total" not in _text(mpdir)


def test_wipe_refuses_a_directory_that_is_not_its_own(tmp_path):
    with pytest.raises(ValueError):
        multiprocess.wipe(Path("/"))
    assert multiprocess.wipe(tmp_path) == 0


def test_the_scrape_stays_fast_with_many_recycled_processes(mpdir):
    for i in range(6):
        _child(mpdir, n=1, stamp=i)
    start = time.perf_counter()
    _text(mpdir)
    first = time.perf_counter() - start
    start = time.perf_counter()
    _text(mpdir)
    assert time.perf_counter() - start < max(first, 0.05)
    assert multiprocess.file_count(mpdir) <= 6


def test_a_worker_on_another_host_serves_its_own_endpoint():
    import urllib.request

    from tests.metrics.helpers import free_port
    from trading import metrics

    metrics.signal_seen("RemoteWorkerStrategy", "ACCEPTED")
    port = free_port()
    server = multiprocess.serve_worker_metrics(port, "127.0.0.1")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            text = r.read().decode()
        assert total_by(text, "trading_signals_accepted_total", "strategy")[("RemoteWorkerStrategy",)] >= 1
        assert "trading_trades_total" not in text  # the database metrics come from the web server only
        assert multiprocess.serve_worker_metrics(port, "127.0.0.1") is None  # port taken: logged, no crash
    finally:
        server.shutdown()
        server.server_close()
