"""The fault suite's real services: a PostgreSQL cluster of its own (``pg_createcluster`` on a port of
its own, so it can be stopped and started without touching the machine's database), one database
migrated once as a template and copied for each test, and the processes under test started with
that database.

Needs root and Debian's ``postgresql-common`` (``pg_createcluster``/``pg_ctlcluster``); in CI
(``CI=true``) a missing requirement fails the tests, elsewhere it skips them.

``FAULTS_PG_CLUSTER`` (default ``faults``; ``faults-ci`` in CI) and ``FAULTS_PG_PORT`` (18500; 18520
in CI) choose the cluster, ``FAULTS_REDIS_PORT`` (18501; 18521) the redis-server, ``FAULTS_WEB_PORT``
(18510; 18530) the web server's port.
"""

from __future__ import annotations

import fcntl
import itertools
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

from tests.helpers import uvicorn_command, wait_until_answers

ROOT = Path(settings.BASE_DIR)
# CI gets services of its own (a cluster, ports), so a CI run and a developer's never meet.
_CI_OFFSET = 20 if os.environ.get("CI", "").lower() in ("1", "true", "yes") else 0
CLUSTER = os.environ.get("FAULTS_PG_CLUSTER", "faults-ci" if _CI_OFFSET else "faults")
PG_PORT = int(os.environ.get("FAULTS_PG_PORT", str(18500 + _CI_OFFSET)))
REDIS_PORT = int(os.environ.get("FAULTS_REDIS_PORT", str(18501 + _CI_OFFSET)))
WEB_PORT = int(os.environ.get("FAULTS_WEB_PORT", str(18510 + _CI_OFFSET)))
TEMPLATE = "desk_faults_template"
SECRET = secrets.token_urlsafe(50)  # this run's own key, strong enough for DEBUG off


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _pg_version() -> str:
    versions = sorted(
        (p.name for p in Path("/usr/lib/postgresql").glob("*") if (p / "bin" / "postgres").exists()),
        key=lambda v: int(v.split(".")[0]),
    )
    return versions[-1] if versions else ""


def _missing() -> str:
    if os.geteuid() != 0:
        return "the fault suite runs its own PostgreSQL cluster: it needs root"
    if not (shutil.which("pg_createcluster") and shutil.which("pg_ctlcluster") and _pg_version()):
        return "the fault suite needs Debian's postgresql-common (pg_createcluster, pg_ctlcluster)"
    return ""


@dataclass
class Cluster:
    """The suite's own PostgreSQL cluster: stop it, start it, ask it."""

    version: str
    name: str
    port: int

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def ctl(self, action: str, *extra: str) -> None:
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", self.version, self.name, action, *extra],
            check=True,
            capture_output=True,
        )

    def stop(self) -> None:
        """Stop at once (``-m fast``: open connections are cut, as in a crash of the server)."""
        self.ctl("stop", "-m", "fast")

    def start(self) -> None:
        self.ctl("start")
        self.wait_ready()

    def running(self) -> bool:
        out = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True).stdout
        return any(
            line.split()[:2] == [self.version, self.name] and line.split()[3] == "online"
            for line in out.splitlines()
            if line.strip()
        )

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(self.url("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                time.sleep(0.2)
        raise AssertionError(f"cluster {self.name} not ready after {timeout:.0f}s")

    def query(self, database: str, sql: str, params: tuple = ()) -> list[tuple]:
        with psycopg.connect(self.url(database), autocommit=True, connect_timeout=3) as conn:
            cur = conn.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def create_database(self, name: str, template: str | None = None) -> None:
        self.query("postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.query("postgres", f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))


def process_env(tmp_path: Path, database_url: str, **extra: str) -> dict:
    """The environment of a process under test: the given database, no Redis (embedded) unless
    ``extra`` gives one, its own var directory and spool."""
    env = dict(os.environ)
    for name in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "CELERY_TASK_ALWAYS_EAGER"):
        env.pop(name, None)
    env.update(
        DATABASE_URL=database_url,
        VAR_DIR=str(tmp_path / "var"),
        TRADE_SPOOL_PATH=str(tmp_path / "spool.jsonl"),
        SECRET_KEY=SECRET,
        DEBUG="0",
        PYTHONUNBUFFERED="1",
        DB_CONN_MAX_AGE="0",
    )
    env.update(extra)
    return env


def manage(env: dict, *args: str, log: Path | None = None) -> subprocess.Popen:
    """``manage.py args`` in its own process group (so a kill takes its children too)."""
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - the child owns it
    return subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        # As from a terminal: Ctrl-C raises KeyboardInterrupt even where this suite was started in the
        # background (a non-interactive shell ignores SIGINT there, and exec keeps it ignored).
        preexec_fn=_sigint_default,
    )


def _sigint_default() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def kill_group(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    """Signal the process group of ``proc`` (its only members are the process and its children)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def wait_for(predicate, timeout: float, what: str, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


@pytest.fixture(scope="session")
def cluster(tmp_path_factory) -> Cluster:
    """The suite's cluster, created on first use (kept between runs), started, with the template
    database migrated afresh; left running for the next test and stopped at the end."""
    missing = _missing()
    if missing:
        if _in_ci():
            pytest.fail(f"CI must run the fault suite: {missing}")
        pytest.skip(missing)
    # One suite at a time on a cluster (it stops and starts it): a second run waits here.
    lock = open(f"/tmp/desk-faults-{CLUSTER}.lock", "w")  # noqa: SIM115 - held for the session
    fcntl.flock(lock, fcntl.LOCK_EX)
    pg = Cluster(_pg_version(), CLUSTER, PG_PORT)
    listed = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True).stdout
    if not any(line.split()[:2] == [pg.version, pg.name] for line in listed.splitlines() if line.strip()):
        subprocess.run(
            ["pg_createcluster", pg.version, pg.name, "-p", str(pg.port), "--", "--auth=trust"],
            check=True,
            capture_output=True,
        )
    if not pg.running():
        pg.start()
    pg.wait_ready()
    pg.create_database(TEMPLATE)
    tmp = tmp_path_factory.mktemp("faults-template")
    env = process_env(tmp, pg.url(TEMPLATE))
    migrate = manage(env, "migrate", "--verbosity", "0", log=tmp / "migrate.log")
    assert migrate.wait(timeout=180) == 0, (tmp / "migrate.log").read_text()[-3000:]
    yield pg
    if not pg.running():
        pg.start()
    pg.stop()
    fcntl.flock(lock, fcntl.LOCK_UN)
    lock.close()


_numbers = itertools.count(1)


@pytest.fixture
def database(cluster) -> str:
    """A fresh migrated database of the suite's cluster (a copy of the template); its URL."""
    if not cluster.running():
        cluster.start()
    name = f"desk_faults_{os.getpid()}_{next(_numbers)}"
    cluster.create_database(name, template=TEMPLATE)
    yield name
    if cluster.running():
        cluster.query("postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_redis(port: int, workdir: Path) -> subprocess.Popen:
    """A ``redis-server`` (no persistence) on ``port``, its log in ``workdir``, answering PING."""
    if not shutil.which("redis-server"):
        if _in_ci():
            pytest.fail("CI must run the fault suite: redis-server is missing")
        pytest.skip("the fault suite needs redis-server")
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        + ["--dir", str(workdir)],
        stdout=open(workdir / "redis.log", "wb"),  # noqa: SIM115 - closed with the process
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    import redis

    client = redis.Redis(port=port, socket_connect_timeout=1)

    def ready() -> bool:
        try:
            return bool(client.ping())
        except redis.RedisError:
            assert proc.poll() is None, (workdir / "redis.log").read_text()[-2000:]
            return False

    wait_for(ready, 30, "redis-server")
    return proc


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory) -> str:
    """A ``redis-server`` of the suite's own on ``FAULTS_REDIS_PORT``; its URL."""
    proc = start_redis(REDIS_PORT, tmp_path_factory.mktemp("faults-redis"))
    yield f"redis://127.0.0.1:{REDIS_PORT}/0"
    kill_group(proc, signal.SIGTERM)


def start_web(env: dict, log: Path) -> subprocess.Popen:
    """The web app under uvicorn on ``WEB_PORT`` (its own process group), answering ``/healthz``."""
    server = subprocess.Popen(
        uvicorn_command(WEB_PORT),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(log, "wb"),  # noqa: SIM115 - closed with the process
        start_new_session=True,
    )
    wait_until_answers(f"http://127.0.0.1:{WEB_PORT}/healthz", server=server, logs=log.read_text)
    return server


def web_login(username: str, password: str):
    """A ``requests`` session logged in to the web app on ``WEB_PORT`` through its login form."""
    import requests

    base = f"http://127.0.0.1:{WEB_PORT}"
    web = requests.Session()
    web.get(f"{base}/accounts/login/", timeout=10)
    answer = web.post(
        f"{base}/accounts/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": web.cookies["csrftoken"]},
        headers={"Referer": f"{base}/accounts/login/"},
        timeout=10,
        allow_redirects=False,
    )
    assert answer.status_code == 302, answer.text[:300]
    return web


def celery_worker(env: dict, queue: str, log: Path, *, concurrency: int = 2) -> subprocess.Popen:
    """A real Celery worker (prefork, ``concurrency`` children) consuming ``queue`` only."""
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "celery"), "-A", "tradingsite", "worker", "--pool", "prefork"]
        + ["--concurrency", str(concurrency), "-Q", queue, "-n", f"{queue}@%h", "--without-gossip"]
        + ["--without-mingle", "--without-heartbeat", "--loglevel", "INFO"],
        cwd=ROOT,
        env=env,
        stdout=open(log, "ab"),  # noqa: SIM115 - closed with the process
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
