"""Benchmark: the live desk's WebSocket.

Run: ``.venv/bin/python bench/ws.py [--clients 200] [--seconds 60] [--days 3]``
(add ``--database-url postgres://... --redis-url redis://...`` for PostgreSQL + channels-redis with two
web processes; the database must exist and be empty or a scratch one - it is migrated).

1. **Event-to-browser latency**: Chromium (Playwright) on ``/desk/`` while ``runtrader --speed max``
   trades ``--days`` simulated sessions; for every fill, from the moment its event was written
   (``created_at``, inside the fill's transaction) to the moment the page had put it in the DOM
   (``window.desk.fillShownAt``, stamped right after the render). Same clock (one machine).
   p50 / p99; goal p99 < 250 ms on loopback.
2. **200 clients for 60 s during a session**: ``--clients`` asyncio WebSocket clients (API tokens)
   connected to uvicorn while ``runtrader`` trades at ``--speed`` for ``--seconds``; then each
   client's events are compared with the outbox (every position after its snapshot, none missing,
   none twice), and the web server's resident memory is sampled every 5 s (flat: no growth with time).

Everything runs on loopback, on a scratch database (embedded: SQLite in a temporary directory).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PORTS = range(19990, 20000)
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def free_port(taken: set[int]) -> int:
    for port in PORTS:
        if port in taken:
            continue
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                taken.add(port)
                return port
    raise RuntimeError("no free port in 19990-19999")


def percentiles(values: list[float]) -> str:
    import numpy as np

    a = np.asarray(values)
    return f"p50 {np.percentile(a, 50):6.1f} ms  p99 {np.percentile(a, 99):6.1f} ms  max {a.max():6.1f} ms  (n={len(a)})"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Stack:
    """The scratch environment: database, web servers (uvicorn), the trading loop."""

    def __init__(self, tmp: Path, database_url: str, redis_url: str, webs: int) -> None:
        self.tmp = tmp
        self.env = dict(os.environ)
        self.env.pop("DJANGO_SETTINGS_MODULE", None)
        self.env.update(
            DATABASE_URL=database_url,
            REDIS_URL=redis_url,
            CHANNELS_REDIS_URL=redis_url,
            VAR_DIR=str(tmp / "var"),
            TRADE_SPOOL_PATH=str(tmp / "spool.jsonl"),
            PROMETHEUS_MULTIPROC_DIR=str(tmp / "prometheus"),
            SECRET_KEY="bench-ws-" + os.urandom(32).hex(),  # long enough for DEBUG off
            DEBUG="0",
            ALLOWED_HOSTS="127.0.0.1,localhost",
            TELEGRAM_BOT_TOKEN="",
            NOTIFY_EMAIL_TO="",
        )
        os.environ.update({k: v for k, v in self.env.items() if k != "DJANGO_SETTINGS_MODULE"})
        os.environ["DJANGO_SETTINGS_MODULE"] = "tradingsite.settings"
        self.ports: set[int] = set()
        self.webs = [free_port(self.ports) for _ in range(webs)]
        self.procs: list[subprocess.Popen] = []
        self.web_procs: list[subprocess.Popen] = []

    def manage(self, *args: str) -> None:
        subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, check=True)

    def prepare(self) -> tuple[str, str]:
        """Migrate; a viewer with an API token and a session; returns (token, session cookie)."""
        self.manage("migrate", "-v0")
        import django

        django.setup()
        from django.test import Client
        from rest_framework.authtoken.models import Token

        if self.env["REDIS_URL"]:
            import redis

            redis.Redis.from_url(self.env["REDIS_URL"]).delete("desk:relay:leader", "desk:relay:position")
        from trading import access

        user = access.desk_user_save(username="bench", role=access.VIEWER, password="pw").user
        token = Token.objects.create(user=user).key
        client = Client()
        client.login(username="bench", password="pw")
        return token, client.cookies["sessionid"].value

    def start_webs(self) -> None:
        for port in self.webs:
            cmd = [sys.executable, "-m", "uvicorn", "tradingsite.asgi:application", "--host", "127.0.0.1"]
            cmd += ["--port", str(port), "--log-level", "warning"]
            log = open(self.tmp / f"web-{port}.log", "a")  # noqa: SIM115 - kept open with the process
            proc = subprocess.Popen(
                cmd, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
            self.procs.append(proc)
            self.web_procs.append(proc)
        for port in self.webs:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                with socket.socket() as probe:
                    if probe.connect_ex(("127.0.0.1", port)) == 0:
                        break
                time.sleep(0.2)
            else:
                raise RuntimeError(f"web server on {port} did not start")

    def trader(self, *, start: str, speed: str, days: int) -> subprocess.Popen:
        cmd = [sys.executable, "manage.py", "runtrader", "--seed", "7", "--start", start, "--fresh"]
        cmd += ["--speed", speed, "--days", str(days), "--quiet", "--no-notify"]
        log = open(self.tmp / "trader.log", "a")  # noqa: SIM115
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def latency(stack: Stack, cookie: str, days: int) -> None:
    """Part 1: fill written -> fill in the page's DOM."""
    from playwright.sync_api import sync_playwright

    from trading import outbox
    from trading.outbox import OutboxEvent

    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's loop in this thread; ORM reads are sync
    url = f"http://127.0.0.1:{stack.webs[0]}"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.add_cookies([{"name": "sessionid", "value": cookie, "url": url}])
        page = context.new_page()
        page.goto(url + "/desk/")
        page.wait_for_function("() => window.desk && window.desk.snapshots === 1", timeout=60_000)
        started = time.monotonic()
        trader = stack.trader(start="2025-11-17", speed="max", days=days)
        if trader.wait(timeout=900) != 0:
            raise RuntimeError("runtrader failed: see " + str(stack.tmp / "trader.log"))
        elapsed = time.monotonic() - started
        head = outbox.head()
        page.wait_for_function(f"() => window.desk.position >= {head}", timeout=60_000)
        shown = page.evaluate("() => window.desk.fillShownAt")
        browser.close()
    written: dict[str, float] = {}
    for key, created in (
        OutboxEvent.objects.filter(kind=outbox.FILL).order_by("seq").values_list("key", "created_at")
    ):
        written.setdefault(key, created.timestamp() * 1000)
    lags = [shown[key] - at for key, at in written.items() if key in shown]
    missing = sorted(set(written) - set(shown))
    bars = OutboxEvent.objects.filter(kind=outbox.BAR).count()
    print(
        f"  session(s): {days} simulated ({bars} bars, {head} events) in {elapsed:.1f} s with the page open"
    )
    print(f"  fill written -> in the DOM: {percentiles(lags)}; fills not shown: {len(missing)}")


async def _client(
    url: str, token: str, seen: list[int], first: list[int], stop: asyncio.Event, drops: list[int]
) -> None:
    """One API client: a snapshot, then events; like the page, it reconnects with ?after=<position>
    when its connection drops (each drop counted), so a drop may cost time but never an event."""
    import websockets

    position: int | None = None
    while not stop.is_set():
        query = f"?after={position}" if position is not None else ""
        try:
            async with websockets.connect(
                url + query,
                additional_headers={"Authorization": f"Token {token}"},
                open_timeout=120,
                max_size=None,
            ) as ws:
                while not stop.is_set():
                    try:
                        raw = await asyncio.wait_for(ws.recv(), timeout=1.0)
                    except TimeoutError:
                        continue
                    message = json.loads(raw)
                    if message["type"] == "snapshot":
                        first.append(message["position"])
                    elif message["type"] == "events":
                        seen.extend(e["seq"] for e in message["events"])
                    position = message.get("position", position)
        except (websockets.ConnectionClosed, OSError, TimeoutError):
            drops.append(1)
            await asyncio.sleep(0.5)


async def _crowd(stack: Stack, token: str, clients: int, seconds: float, speed: str) -> None:
    from asgiref.sync import sync_to_async

    from trading import outbox

    urls = [f"ws://127.0.0.1:{stack.webs[i % len(stack.webs)]}/ws/desk/" for i in range(clients)]
    seen: list[list[int]] = [[] for _ in range(clients)]
    firsts: list[list[int]] = [[] for _ in range(clients)]
    drops: list[int] = []
    stop = asyncio.Event()
    tasks = [asyncio.create_task(_client(u, token, s, f, stop, drops)) for u, s, f in zip(urls, seen, firsts)]
    while sum(1 for f in firsts if f) < clients:
        await asyncio.sleep(0.2)
        if any(t.done() and t.exception() for t in tasks):
            raise next(t.exception() for t in tasks if t.done() and t.exception())
    trader = stack.trader(start="2025-11-24", speed=speed, days=5)
    before = await sync_to_async(outbox.head)()
    while await sync_to_async(outbox.head)() == before:  # the loop's start-up (warm-up) is not the window
        await asyncio.sleep(0.2)
    samples = [(0.0, sum(rss_mb(p.pid) for p in stack.web_procs))]
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        await asyncio.sleep(5)
        samples.append((time.monotonic() - started, sum(rss_mb(p.pid) for p in stack.web_procs)))
    os.killpg(trader.pid, signal.SIGTERM)
    await asyncio.to_thread(trader.wait, 60)
    head = await sync_to_async(outbox.head)()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any((s[-1] if s else f[0]) < head for s, f in zip(seen, firsts)):
        await asyncio.sleep(0.2)
    stop.set()
    await asyncio.gather(*tasks)
    complete, missing_total, twice_total = 0, 0, 0
    snapshots_again = sum(len(f) - 1 for f in firsts)
    for s, f in zip(seen, firsts):
        expected = set(range(f[0] + 1, head + 1))
        missing_total += len(expected - set(s))
        twice_total += len(s) - len(set(s))
        complete += set(s) == expected
    events = head - min(f[0] for f in firsts)
    print(
        f"  {clients} clients on {len(stack.webs)} web process(es), {seconds:.0f} s of trading at speed {speed}:"
    )
    print(
        f"  events in the outbox: {events}; clients that received every one: {complete}/{clients}; "
        f"missing: {missing_total}; received twice: {twice_total}"
    )
    print(f"  connections dropped and resumed: {len(drops)} (second snapshots: {snapshots_again})")
    print(f"  events delivered: {sum(len(s) for s in seen):,} ({sum(len(s) for s in seen) / seconds:,.0f}/s)")
    memory = "  ".join(f"{t:4.0f}s {mb:6.1f}" for t, mb in samples)
    print(f"  web server RSS (MB) over time: {memory}")
    print(
        f"  RSS first -> last: {samples[0][1]:.1f} -> {samples[-1][1]:.1f} MB ({samples[-1][1] - samples[0][1]:+.1f} MB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument(
        "--speed", default="10", help="runtrader speed during part 2 (market minutes per second)"
    )
    parser.add_argument("--days", type=int, default=3, help="sessions traded at max speed in part 1")
    parser.add_argument("--database-url", default="", help="PostgreSQL scratch database (default: SQLite)")
    parser.add_argument("--redis-url", default="", help="channels-redis, with two web processes")
    parser.add_argument("--skip-browser", action="store_true")
    parser.add_argument("--skip-crowd", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the logs (and SQLite database) in /tmp")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ws-") as tmp:
        tmp_path = Path(tempfile.mkdtemp(prefix="bench-ws-logs-")) if args.keep else Path(tmp)
        database = args.database_url or f"sqlite:///{tmp_path / 'desk.sqlite3'}"
        stack = Stack(tmp_path, database, args.redis_url, webs=2 if args.redis_url else 1)
        mode = "PostgreSQL + Redis, 2 web processes" if args.redis_url else "embedded (SQLite, no Redis)"
        print(f"bench/ws.py - {mode}")
        token, cookie = stack.prepare()
        stack.start_webs()
        try:
            if not args.skip_browser:
                print("1. event-to-browser latency (Chromium on /desk/, runtrader --speed max)")
                latency(stack, cookie, args.days)
            if not args.skip_crowd:
                print(
                    f"2. {args.clients} concurrent WebSocket clients for {args.seconds:.0f} s during a session"
                )
                asyncio.run(_crowd(stack, token, args.clients, args.seconds, args.speed))
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
