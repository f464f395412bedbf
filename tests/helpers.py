"""Shared test helpers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.db import connection

IST = ZoneInfo("Asia/Kolkata")
# The caller's clock of trades written in tests (record_trade needs one): after every test trade.
NOW = datetime(2030, 1, 1, tzinfo=ZoneInfo("UTC"))


class QuickPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    """Production's PBKDF2-SHA256 at 1,000 rounds instead of Django's 1,000,000 (~0.3 s a password on
    the shared 2-core machine; the suite makes and logs in hundreds of users). The rounds are written
    in each hash, so a server process of a test with the default hashers verifies these too."""

    iterations = 1_000


def user_with_role(role: str | None, username: str | None = None, password: str = "pw-12345", **extra):
    """A user holding one role of trading/access.py (viewer, trader, operator), or no role (None)."""
    from django.contrib.auth import get_user_model

    from trading import access

    name = username or (role or "nobody")
    if role is None:
        return get_user_model().objects.create_user(name, password=password, **extra)
    user = access.desk_user_save(username=name, role=role, password=password).user
    for key, value in extra.items():
        setattr(user, key, value)
    if extra:
        user.save()
    return get_user_model().objects.get(pk=user.pk)  # fresh: no cached permissions


def ist(y, m, d, hh=9, mm=15, ss=0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=IST)


def trade_fields(**over) -> dict:
    """Raw facts of DOMAIN.md's worked example: 1 NIFTY lot (65) bought at 100, sold at 120."""
    fields = dict(
        trade_id="T-1",
        entry_time=ist(2026, 5, 5, 9, 30),
        exit_time=ist(2026, 5, 5, 10, 45),
        symbol="NIFTY",
        instrument_type="CALL",
        strike_price=Decimal("24000"),
        expiry_date="2026-05-12",
        entry_price=Decimal("100"),
        exit_price=Decimal("120"),
        quantity=65,
        side="LONG",
        entry_mode="PAPER",
        exit_type="TARGET",
        strategy_name="PCRStrategy",
        stop_loss_price=Decimal("80"),
        target_price=Decimal("120"),
    )
    fields.update(over)
    return fields


@contextmanager
def database_unreachable():
    """Make the default database really unreachable: drop the connection and point it at nothing
    (a closed port for PostgreSQL, a path in a missing directory for SQLite); restore afterwards."""
    saved = dict(connection.settings_dict)
    connection.close()
    if connection.vendor == "postgresql":
        connection.settings_dict["HOST"] = "127.0.0.1"
        connection.settings_dict["PORT"] = "1"
    else:
        connection.settings_dict["NAME"] = "/nonexistent-dir/unreachable.sqlite3"
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)


def child_processes(parent: int | None = None) -> set[int]:
    """The child processes (zombies included) of ``parent`` (default: this process), from /proc (Linux)."""
    me, found = parent or os.getpid(), set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # ended meanwhile
            if int(stat.rsplit(")", 1)[1].split()[1]) == me:  # the field after the state: ppid
                found.add(int(entry.name))
    return found


def process_alive(pid: int) -> bool:
    """Running (not gone, not a zombie waiting for its parent or init to reap it), from /proc (Linux)."""
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def script_process(tmp_path: Path, source: str) -> subprocess.Popen:
    """``source`` run as a Python script in a process of its own, from the checkout (stdout piped,
    text)."""
    script = tmp_path / "script.py"
    script.write_text(source)
    root = Path(__file__).resolve().parents[1]
    return subprocess.Popen(
        [sys.executable, str(script)], cwd=root, env={**os.environ, "PYTHONPATH": str(root)},
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip


def assert_child_ends_with(parent: subprocess.Popen, child: int, timeout: float = 20) -> None:
    """kill -9 of ``parent``: its ``child`` must end by itself within ``timeout`` s (nothing is left
    running). ``parent`` is killed whatever happens."""
    try:
        assert child in child_processes(parent.pid)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + timeout
        while process_alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not process_alive(child)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def uvicorn_command(port: int, python: str = sys.executable) -> list[str]:
    """The web app (``tradingsite.asgi``) under uvicorn on 127.0.0.1:``port``, as the tests start it."""
    return [python, "-m", "uvicorn", "tradingsite.asgi:application", "--host", "127.0.0.1"] + [
        "--port", str(port), "--log-level", "warning",
    ]  # fmt: skip


def wait_until_answers(
    url: str, *, server: subprocess.Popen | None = None, logs: Callable[[], str] = str, seconds: float = 60
) -> None:
    """Until ``url`` answers 200; fails with ``logs()`` if ``server`` exits first or the time runs
    out."""
    import urllib.request

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server is not None and server.poll() is not None:
            raise AssertionError(f"the server of {url} exited ({server.returncode}):\n{logs()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {seconds:.0f} s:\n{logs()[-3000:]}")


def at_once(count: int, work: Callable[[int], object]) -> tuple[list, list[BaseException]]:
    """``work(i)`` for i in 0..count-1, each in a thread of its own, all let go together (a barrier);
    each thread's database connections closed after. Returns what they returned and what they raised."""
    import threading

    from django.db import connections

    barrier, results, errors = threading.Barrier(count), [], []

    def run(i: int) -> None:
        try:
            barrier.wait()
            results.append(work(i))
        except Exception as exc:  # noqa: BLE001 - reported to the test
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return results, errors


def signal_passes(monkeypatch) -> list[int]:
    """The sizes (sessions) of the strategies' passes from here on, in order: each call of
    ``SessionPrep.signals_of`` counted, then run as it is."""
    from trading.core.session_prep import SessionPrep  # noqa: PLC0415 - the engine's, not every test's

    sizes: list[int] = []
    real = SessionPrep.signals_of

    def counted(self, rows):
        sizes.append(len(rows))
        return real(self, rows)

    monkeypatch.setattr(SessionPrep, "signals_of", counted)
    return sizes
