"""`make run`: migrate, make sure a staff user exists, then serve the web app and run paper trading
on the simulated market together (the trading loop in a child process)."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand


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
        )
        try:
            web.wait()
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
