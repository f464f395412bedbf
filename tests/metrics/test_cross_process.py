"""Right across processes, on the real stack: PostgreSQL, Redis, a Celery worker (prefork, children
recycled) and a gunicorn web server sharing one multiprocess directory. What the workers count shows
on the web server's /metrics; the journal's counts equal the rows, also after a restart and a wipe
of the multiprocess directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from datetime import datetime, timedelta

import pytest
from django.db import connection

from journal.models import Trade
from tests.metrics.helpers import REPO, free_port, nonzero, total_by
from trading.core import calendar
from trading.execution.models import Order

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

BIN = os.path.dirname(sys.executable)
SESSION = datetime(2025, 11, 19).date()  # the day tests/engine trades on (seed 7)


def _env(tmp_path, multiproc) -> dict:
    db = connection.settings_dict
    url = f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(
        DATABASE_URL=url,
        REDIS_URL=os.environ["REDIS_URL"],
        PROMETHEUS_MULTIPROC_DIR=str(multiproc),
        VAR_DIR=str(tmp_path / "var"),
        SECRET_KEY="cross-process-test-" + "0123456789abcdef" * 4,  # strong enough for DEBUG off
        DEBUG="0",
        CELERY_TASK_ALWAYS_EAGER="0",
        PYTHONPATH=str(REPO),
        DJANGO_SETTINGS_MODULE="tradingsite.settings",
        SIM_SEED="7",
        SIM_START=SESSION.isoformat(),
        TRADING_INDEX="NIFTY",
    )
    return env


class Stack:
    """The worker and web processes of one test (started and stopped by the test)."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.multiproc = tmp_path / "prometheus"
        self.multiproc.mkdir()
        (tmp_path / "var").mkdir()
        self.env = _env(tmp_path, self.multiproc)
        self.procs: dict[str, subprocess.Popen] = {}
        self.port = free_port()

    def _start(self, name: str, cmd: list[str], extra: dict | None = None) -> None:
        log = open(self.tmp / f"{name}.log", "a")
        self.procs[name] = subprocess.Popen(
            cmd, cwd=REPO, env={**self.env, **(extra or {})}, stdout=log, stderr=subprocess.STDOUT
        )

    def start_worker(self, concurrency: int = 2, max_tasks_per_child: int = 3, metrics_port: int = 0) -> None:
        self._start(
            "worker",
            [
                f"{BIN}/celery", "-A", "tradingsite", "worker", "--pool", "prefork",
                "--concurrency", str(concurrency), "--max-tasks-per-child", str(max_tasks_per_child),
                "-I", "tests.metrics.worker_tasks", "--loglevel", "WARNING", "-n", f"metrics-{self.port}@%h",
                "--without-gossip", "--without-mingle", "--without-heartbeat",
            ],
            {"WORKER_METRICS_PORT": str(metrics_port)},
        )  # fmt: skip

    def start_web(self) -> None:
        self._start(
            "web",
            [f"{BIN}/gunicorn", "-c", str(REPO / "deploy" / "gunicorn.conf.py"), "tradingsite.wsgi"],
            {"GUNICORN_BIND": f"127.0.0.1:{self.port}", "WEB_CONCURRENCY": "2", "GUNICORN_MAX_REQUESTS": "0"},
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=5) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise AssertionError("web did not start:\n" + (self.tmp / "web.log").read_text()[-3000:])

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)

    def scrape(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=30) as r:
            return r.read().decode()

    def logs(self) -> str:
        return "\n".join(p.read_text()[-3000:] for p in self.tmp.glob("*.log"))


@pytest.fixture
def stack(tmp_path):
    import redis

    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()  # this test's own Redis database
    s = Stack(tmp_path)
    try:
        yield s
    finally:
        s.stop_all()


def _celery():
    from tradingsite.celery import app

    app.conf.task_always_eager = False
    return app


def _by_strategy_trades() -> dict:
    return {(s,): float(n) for s, n in Counter(Trade.objects.values_list("strategy_name", flat=True)).items()}


def _by_strategy_status_orders() -> dict:
    return {k: float(n) for k, n in Counter(Order.objects.values_list("strategy_name", "status")).items()}


def test_worker_counts_reach_the_web_server_and_journal_counts_survive_a_wipe(stack):
    worker_port = free_port()
    stack.start_worker(concurrency=2, max_tasks_per_child=3, metrics_port=worker_port)
    stack.start_web()
    app = _celery()
    pids = set()
    for n in range(1, 13):
        strategy = ("PCRStrategy", "MaxPainStrategy", "EMACrossover")[n % 3]
        pids.add(app.send_task("tests.metrics.record_trade", args=[n, strategy]).get(timeout=90))
    assert len(pids) > 2, "children were recycled (max tasks per child), each one a process of its own"

    text = stack.scrape()
    assert nonzero(total_by(text, "trading_trades_total", "strategy")) == _by_strategy_trades()
    assert sum(total_by(text, "trading_trades_total").values()) == 12
    assert total_by(text, "trading_orders_total", "strategy", "status") == _by_strategy_status_orders()
    # Counters moved in worker children (most of them dead and folded by now) show on the web.
    assert nonzero(total_by(text, "trading_signals_accepted_total", "strategy")) == {
        ("PCRStrategy",): 4.0,
        ("MaxPainStrategy",): 4.0,
        ("EMACrossover",): 4.0,
    }
    assert (
        total_by(text, "trading_celery_tasks_total", "task", "state")[
            ("tests.metrics.record_trade", "success")
        ]
        == 12
    )
    assert (
        total_by(text, "trading_celery_task_duration_seconds_count", "task")[("tests.metrics.record_trade",)]
        == 12
    )
    # The tasks' calls (the worker's start-up reconcile asks the paper broker too).
    assert total_by(text, "trading_broker_api_latency_seconds_count", endpoint="place_order") == {(): 12.0}
    assert total_by(text, "trading_processes", "role").get(("worker",), 0) >= 1
    # Dead children were folded: files for the live processes (web master's 2 workers, the worker's
    # main and 2 children, this scrape's) and the archive, not one set per child that ever lived.
    live = {p.name.rsplit("_", 1)[1] for p in stack.multiproc.glob("*_[0-9]*.db")}
    assert len(live) <= 6, live
    assert any(p.name.endswith("_archive.db") for p in stack.multiproc.glob("*.db"))
    # The worker's own endpoint (what a worker on another host serves) shows the same process counters.
    with urllib.request.urlopen(f"http://127.0.0.1:{worker_port}/metrics", timeout=30) as r:
        worker_text = r.read().decode()
    assert total_by(worker_text, "trading_celery_tasks_total", "task")[("tests.metrics.record_trade",)] == 12
    assert "trading_trades_total" not in worker_text
    # django-prometheus's HTTP and database metrics come out in multiprocess mode too.
    assert "django_http_requests_before_middlewares_total" in text
    assert "django_db_execute_total" in text

    # A restart of everything and a wipe of the directory: the journal's counts are still the rows.
    stack.stop_all()
    shutil.rmtree(stack.multiproc)
    stack.multiproc.mkdir()
    stack.start_web()
    text = stack.scrape()
    assert nonzero(total_by(text, "trading_trades_total", "strategy")) == _by_strategy_trades()
    assert total_by(text, "trading_orders_total", "strategy", "status") == _by_strategy_status_orders()
    # Process counters start again from zero (their known series are created at 0 by each process).
    assert set(total_by(text, "trading_signals_accepted_total").values()) == {0.0}


def test_a_simulated_session_through_celery_workers(stack):
    stack.start_worker(concurrency=1, max_tasks_per_child=100000)
    stack.start_web()
    app = _celery()
    start = calendar.session_open(SESSION)
    for i in range(1, 376):  # the end of each bar, 09:16 .. 15:30 IST
        at = start + timedelta(minutes=i)
        result = app.send_task("trading.tasks.run_cycle", kwargs={"index": "NIFTY", "at": at.isoformat()})
        result.get(timeout=180)
    assert Trade.objects.exists(), stack.logs()

    text = stack.scrape()
    assert nonzero(total_by(text, "trading_trades_total", "strategy")) == _by_strategy_trades()
    assert total_by(text, "trading_orders_total", "strategy", "status") == _by_strategy_status_orders()
    assert sum(total_by(text, "trading_orders_total").values()) == Order.objects.count()
    assert total_by(text, "trading_cycles_total", "index").get(("NIFTY",)) == 375
    assert total_by(text, "trading_market_data_updates_total", "symbol")[("NIFTY",)] >= 1
    assert total_by(text, "trading_market_data_fetch_seconds_count", "source") == {("SIM",): 375.0}
    evaluated = total_by(text, "trading_strategy_evaluation_seconds_count", "strategy")
    assert evaluated and all(n > 0 for n in evaluated.values())
    assert sum(total_by(text, "trading_signals_generated_total").values()) >= 1
    assert (
        total_by(text, "trading_celery_tasks_total", "task", "state")[("trading.tasks.run_cycle", "success")]
        == 375
    )
    assert (
        total_by(text, "trading_positions_open") in ({}, {(): 0.0})
        or sum(total_by(text, "trading_positions_open").values()) == 0
    )  # squared off at the end of the session

    stack.stop_all()
    shutil.rmtree(stack.multiproc)
    stack.multiproc.mkdir()
    stack.start_web()
    text = stack.scrape()
    assert nonzero(total_by(text, "trading_trades_total", "strategy")) == _by_strategy_trades()
    assert total_by(text, "trading_orders_total", "strategy", "status") == _by_strategy_status_orders()


def test_django_prometheus_cache_metrics_come_out_in_multiprocess_mode():
    from django.core.cache import cache

    from tests.metrics.helpers import scrape

    cache.set("metrics-probe", 1)
    assert cache.get("metrics-probe") == 1
    assert cache.get("metrics-missing") is None
    text = scrape()
    assert sum(total_by(text, "django_cache_get_total").values()) >= 2
    assert sum(total_by(text, "django_cache_get_hits_total").values()) >= 1
    assert sum(total_by(text, "django_cache_get_misses_total").values()) >= 1
