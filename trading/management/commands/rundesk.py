"""`make run`: migrate, make sure a staff user exists, then serve the web app and run paper trading
on the simulated market together (the trading loop in a child process)."""

from __future__ import annotations

import logging
import os
import secrets
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand

from trading.execution import backtests, sweeps
from trading.execution.persistence import DB_ERRORS

log = logging.getLogger(__name__)
# ``make run`` has no Celery beat: this process reaps the backtests and sweeps whose worker died (the
# web process stopped mid-run, say) as beat's ``reap-backtests`` does elsewhere, every minute.
REAP_EVERY = 60.0


def ensure_staff_user(stdout) -> None:
    """Create the first staff user from DESK_ADMIN_USER/DESK_ADMIN_PASSWORD, or with a generated
    password printed once. Never a fixed default password."""
    User = get_user_model()
    if User.objects.filter(is_staff=True).exists():
        stdout.write(
            "Log in with your staff user (more users, each with a role: "
            ".venv/bin/python manage.py deskuser NAME --role viewer|trader|operator)."
        )
        return
    username = os.environ.get("DESK_ADMIN_USER", "admin")
    password = os.environ.get("DESK_ADMIN_PASSWORD", "")
    generated = not password
    if generated:
        password = secrets.token_urlsafe(12)
    User.objects.create_superuser(username=username, email="", password=password)
    if generated:
        stdout.write(f"Created staff user '{username}' with password: {password}")
        stdout.write("  (shown once: write it down, or set DESK_ADMIN_USER / DESK_ADMIN_PASSWORD)")
    else:
        stdout.write(f"Created staff user '{username}' with the password from DESK_ADMIN_PASSWORD.")


def reap_dead_runs() -> int:
    """Mark FAILED the backtests and sweeps with no sign of life for ``BACKTEST_STALE_SECONDS``
    (``backtests.backtest_runs_reap``, ``sweeps.sweeps_reap``); how many. A database away: 0, and
    the next round tries again."""
    try:
        return backtests.backtest_runs_reap() + sweeps.sweeps_reap()
    except DB_ERRORS as exc:
        log.warning("backtests not reaped: database unreachable (%s)", exc)
        return 0


def wait_reaping(web: subprocess.Popen, every: float = REAP_EVERY) -> int:
    """Wait for the web server to end, reaping dead runs at once and then every ``every`` seconds."""
    due = 0.0
    while True:
        if time.monotonic() >= due:
            reap_dead_runs()
            due = time.monotonic() + every
        try:
            return web.wait(timeout=max(0.05, due - time.monotonic()))
        except subprocess.TimeoutExpired:
            continue


def _stop(signum, frame):
    raise KeyboardInterrupt


class Command(BaseCommand):
    help = "Migrate, ensure a staff user, start the web server and the paper-trading loop."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--no-trader", action="store_true", help="Serve the web app only")
        parser.add_argument("--speed", default=os.environ.get("TRADER_SPEED", "60"))
        parser.add_argument("--seed", default=os.environ.get("TRADER_SEED", "7"))

    def handle(self, *args, **opts):
        # A SIGTERM (kill, a service manager, a CI step's trap) stops the desk as Ctrl-C does: the
        # web server and the trader are stopped with it, never left running on the port.
        signal.signal(signal.SIGTERM, _stop)
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write(self.style.SUCCESS("Database ready: " + str(settings.DATABASES["default"]["NAME"])))
        ensure_staff_user(self.stdout)
        url = f"http://{opts['host']}:{opts['port']}/"
        trader = None
        if not opts["no_trader"] and "runtrader" in get_commands():
            cmd = [
                sys.executable,
                "manage.py",
                "runtrader",
                "--speed",
                str(opts["speed"]),
                "--seed",
                str(opts["seed"]),
            ]
            trader = subprocess.Popen(cmd, cwd=settings.BASE_DIR)
            self.stdout.write(
                f"Paper trading on the simulated market (speed {opts['speed']}): pid {trader.pid}"
            )
        self.stdout.write(
            self.style.SUCCESS(f"Options desk at {url}  (mode {settings.TRADING_MODE}; Ctrl-C stops)")
        )
        web = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "tradingsite.asgi:application",
                "--host",
                opts["host"],
                "--port",
                str(opts["port"]),
                "--log-level",
                "warning",
            ],
            cwd=settings.BASE_DIR,
            # A run or sweep started from a page runs in a thread of the web server (there is no
            # worker): the page answers at once and shows its progress (docs/backtests.md).
            env={"BACKTEST_EMBEDDED_BACKGROUND": "1", **os.environ},
        )
        try:
            wait_reaping(web)
        except KeyboardInterrupt:
            pass
        finally:
            for proc in (web, trader):
                if proc is not None and proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in (web, trader):
                if proc is not None:
                    try:
                        proc.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        proc.kill()
