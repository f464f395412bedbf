"""Real Celery workers for the service tests: started as the Procfile starts them, against the test
database and our Redis database, stopped by their process group."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(settings.BASE_DIR)


def database_url() -> str:
    """The TEST database the test runs on (never the developer's)."""
    s = connection.settings_dict
    user = s.get("USER") or "postgres"
    auth = f"{user}:{s['PASSWORD']}" if s.get("PASSWORD") else user
    return f"postgres://{auth}@{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{s['NAME']}"


def procfile_command(process: str, **values: str) -> list[str]:
    """The Procfile's command of ``process`` with its ``${NAME:-default}`` filled from ``values``
    (else the default), run from our virtualenv."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, sep, command = line.partition(":")
        if sep and name.strip() == process:
            break
    else:
        raise LookupError(f"no {process}: line in the Procfile")
    words = []
    for word in shlex.split(command):
        if word.startswith("${") and word.endswith("}"):
            key, _, default = word[2:-1].partition(":-")
            word = values.get(key, default)
        words.append(word)
    if words[0] == "celery":
        words[0] = str(ROOT / ".venv/bin/celery")
    return words


def start_worker(command: list[str], tmp_path: Path, name: str, **env_extra: str) -> subprocess.Popen:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url(),
        REDIS_URL=settings.REDIS_URL,
        CELERY_TASK_ALWAYS_EAGER="0",
        VAR_DIR=str(tmp_path / "var"),
        TRADE_SPOOL_PATH=str(tmp_path / f"{name}-spool.jsonl"),
        TRADING_CAPITAL=str(settings.TRADING_CAPITAL),
        SECRET_KEY="research-tests-" + "0123456789abcdef" * 4,
        DEBUG="0",
        PYTHONUNBUFFERED="1",
        **env_extra,
    )
    env.pop("DJANGO_SETTINGS_MODULE", None)
    log = open(tmp_path / f"{name}.log", "ab")  # noqa: SIM115 - the worker's, closed with it
    return subprocess.Popen(
        [*command, "-n", f"{name}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_for(predicate, timeout: float, what: str, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def log_text(tmp_path: Path, name: str) -> str:
    path = tmp_path / f"{name}.log"
    return path.read_text(errors="replace") if path.exists() else ""


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    """Stop the worker and its children (its own process group)."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)
