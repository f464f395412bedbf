"""Real processes for the live desk's tests: uvicorn web servers (the ASGI app the README starts) and
the ``runtrader`` loop, on the test database, with their own var directory."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.db import connection

from tests.helpers import uvicorn_command

ROOT = Path(settings.BASE_DIR)
PORTS = range(19930, 19990)


def database_url() -> str:
    """The TEST database (pytest-django's), for the child processes."""
    s = connection.settings_dict
    if connection.vendor == "postgresql":
        user = s.get("USER") or "postgres"
        auth = f"{user}:{s['PASSWORD']}" if s.get("PASSWORD") else user
        return f"postgres://{auth}@{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{s['NAME']}"
    return f"sqlite:///{s['NAME']}"


_taken: set[int] = set()


def free_port() -> int:
    """A port of ours (19930-19989) nobody listens on and this process has not handed out yet."""
    for port in PORTS:
        if port in _taken:
            continue
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                _taken.add(port)
                return port
    raise RuntimeError("no free port in 19930-19989")


def child_env(tmp_path: Path, *, redis: str = "", **extra: str) -> dict:
    """The environment of a child: the test database, embedded (no Redis) unless ``redis`` is given."""
    env = dict(os.environ)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(
        DATABASE_URL=database_url(),
        REDIS_URL=redis,
        CHANNELS_REDIS_URL=redis,
        VAR_DIR=str(tmp_path / "var"),
        TRADE_SPOOL_PATH=str(tmp_path / "spool.jsonl"),
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prometheus"),
        SECRET_KEY=settings.SECRET_KEY,  # the sessions of the test process are valid there
        DEBUG="0",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DESK_STREAM_POLL_SECONDS="0.03",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def _stop(proc: subprocess.Popen | None, sig=signal.SIGTERM) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


class WebServer:
    """``uvicorn tradingsite.asgi:application`` on a port of ours; ``start``/``stop``/``kill``."""

    def __init__(self, env: dict, log: Path, port: int | None = None) -> None:
        self.env, self.log = env, log
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/desk/"

    def spawn(self) -> WebServer:
        """Start the process (``ready`` waits for it to listen)."""
        with open(self.log, "a") as out:
            self.proc = subprocess.Popen(
                uvicorn_command(self.port),
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def ready(self, timeout: float = 90) -> WebServer:
        """Wait until the server accepts connections."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"uvicorn exited: {self.log.read_text()[-2000:]}")
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.1)
        raise RuntimeError(f"uvicorn did not listen on {self.port}: {self.log.read_text()[-2000:]}")

    def start(self, timeout: float = 90) -> WebServer:
        return self.spawn().ready(timeout)

    def stop(self) -> None:
        _stop(self.proc)

    def kill(self) -> None:
        """SIGKILL: every connection drops at once, nothing is said to the clients."""
        _stop(self.proc, signal.SIGKILL)

    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid


class Trader:
    """``manage.py runtrader`` on the simulated market (seed 7 from ``start``), its own process."""

    def __init__(self, env: dict, log: Path, *, start: str, speed: str = "max", days: int = 1) -> None:
        self.env, self.log = {**env, "FEATURE_WARMUP_SESSIONS": "1"}, log  # a quicker start
        self.args = [
            "--seed",
            "7",
            "--start",
            start,
            "--speed",
            speed,
            "--days",
            str(days),
            "--quiet",
            "--fresh",
        ]
        self.proc: subprocess.Popen | None = None

    def start(self) -> Trader:
        with open(self.log, "a") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "manage.py", "runtrader", *self.args],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        _stop(self.proc)


def wait_for(predicate, timeout: float, what: str, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
