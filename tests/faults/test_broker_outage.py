"""Redis stopped while a trader starts a backtest run and a sweep from their pages: the pages answer
(a redirect to the run's and the sweep's page, never a 500), and the run and the sweep are FAILED
"not queued: the task broker is unreachable" - not left PENDING for ever with nobody to run them; so is
a sweep sent to the workers by ``manage.py sweep --celery``, which ends with that error. An
operator's kill switch still turns on (its square-off task cannot be queued: the loop's next cycle
squares off). No send waits on Celery's result backend (it retried ~19 s per click before failing with
"Retry limit exceeded": ``trading.execution.dispatch``).

A real web server (uvicorn) on the suite's PostgreSQL cluster, with a ``redis-server`` of this test's
own (the suite's shared one is left running for the other tests), killed before the clicks.
"""

from __future__ import annotations

import re
import secrets
import signal
import subprocess
import sys

import pytest
import requests

from tests.faults.conftest import (
    REDIS_PORT,
    ROOT,
    WEB_PORT,
    kill_group,
    process_env,
    start_redis,
    start_web,
    web_login,
)

pytestmark = [pytest.mark.faults, pytest.mark.slow]

BASE = f"http://127.0.0.1:{WEB_PORT}"
PORT = REDIS_PORT + 5  # this test's own redis-server
PASSWORD = secrets.token_urlsafe(16)


def _login(env, name: str = "asha", role: str = "trader") -> requests.Session:
    subprocess.run(
        [sys.executable, "manage.py", "deskuser", name, "--role", role, "--password-stdin"],
        cwd=ROOT, env=env, input=PASSWORD + "\n", capture_output=True, text=True, check=True,
    )  # fmt: skip
    return web_login(name, PASSWORD)


def _post(web: requests.Session, path: str, data: dict) -> requests.Response:
    headers = {"X-CSRFToken": web.cookies.get("csrftoken", ""), "Referer": BASE + "/"}
    return web.post(BASE + path, data=data, headers=headers, timeout=60, allow_redirects=False)


def test_redis_down_a_run_and_a_sweep_fail_saying_so_and_the_kill_switch_turns_on(
    cluster, database, tmp_path
):
    workdir = tmp_path / "redis"
    workdir.mkdir()
    redis_proc = start_redis(PORT, workdir)
    env = process_env(
        tmp_path,
        cluster.url(database),
        REDIS_URL=f"redis://127.0.0.1:{PORT}/0",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prom"),
    )
    (tmp_path / "prom").mkdir()
    server = start_web(env, tmp_path / "server.log")
    try:
        web, operator = _login(env), _login(env, "ravi", "operator")
        kill_group(redis_proc, signal.SIGKILL)  # the broker goes away before the clicks
        run = _post(web, "/backtests/start/", {"start": "2026-03-02", "end": "2026-03-05", "seed": 7,
                                               "data_source": "SIM", "index": "NIFTY",
                                               "strategies": "EMACrossoverStrategy"})  # fmt: skip
        assert run.status_code == 302, (run.status_code, (tmp_path / "server.log").read_text()[-3000:])
        run_id = int(re.fullmatch(r"/backtests/(\d+)/", run.headers["Location"]).group(1))
        sweep = _post(web, "/backtests/sweeps/start/", {"strategy": "EMACrossoverStrategy", "start": "2026-03-02",
                                                        "end": "2026-03-05", "seed": 7, "data_source": "SIM",
                                                        "index": "NIFTY", "sample": "GRID",
                                                        "space": "memory=30,60", "objective": "sharpe"})  # fmt: skip
        assert sweep.status_code == 302, (sweep.status_code, (tmp_path / "server.log").read_text()[-3000:])
        sweep_id = int(re.fullmatch(r"/backtests/sweeps/(\d+)/", sweep.headers["Location"]).group(1))
        for table, pk in (("trading_backtestrun", run_id), ("trading_sweep", sweep_id)):
            status, error = cluster.query(
                database, f"SELECT status, error FROM {table} WHERE id = %s", (pk,)
            )[0]
            assert status == "FAILED" and error.startswith("not queued: the task broker is unreachable"), (
                table,
                status,
                error,
            )
        command = subprocess.run(
            [sys.executable, "manage.py", "sweep", "--strategy", "EMACrossoverStrategy", "--start", "2026-03-02",
             "--end", "2026-03-03", "--axis", "memory=30,60", "--celery"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert command.returncode == 1, (command.returncode, command.stdout[-2000:], command.stderr[-3000:])
        assert re.search(
            r"CommandError: sweep \d+ FAILED: not queued: the task broker is unreachable", command.stderr
        )
        assert "Traceback" not in command.stderr, command.stderr[-3000:]
        switch = _post(operator, "/control/kill-switch/", {"index": "NIFTY", "on": "1", "reason": "drill"})
        assert switch.status_code == 302, (switch.status_code, (tmp_path / "server.log").read_text()[-3000:])
        on = cluster.query(database, "SELECT kill_switch FROM trading_tradingstate WHERE index = 'NIFTY'")
        assert on == [(True,)]
        log = (tmp_path / "server.log").read_text()
        assert "square-off of NIFTY not queued" in log
        assert "Retry limit exceeded" not in log
    finally:
        kill_group(server, signal.SIGTERM)
        if redis_proc.poll() is None:
            kill_group(redis_proc, signal.SIGKILL)
