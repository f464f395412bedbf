"""Every Grafana panel shows the truth, checked against a real Prometheus (Debian's binary).

The stack of production, on the test's database and Redis: the ASGI web server (uvicorn), a Celery
worker and Celery beat, Prometheus loaded with ``deploy/prometheus.yml`` (its job names, its bearer
token, its alert rules; only the targets and the intervals are the test's). One simulated session runs
through the worker, a client watches the live desk on ``/ws/desk/``; then every query of every panel
of the four dashboards is evaluated through Prometheus's HTTP API the way Grafana asks it (template
variables substituted; instant targets at the end, the others over the test's time range):

* no query errors;
* every panel has data; those of ``WAITING`` - each named with the event it waits for - show nothing
  but zeros before it, and the test causes each event (a strategy error from a stored configuration
  gone bad, an order resting at the broker, one the exchange's price band refuses, a cancellation, a
  failed broker call) and then sees them move; the kill switch is turned on from the control page
  and read by its panel;
* values, not only presence: trades, net P&L and win rate equal the journal's;
* the circuit breaker's trip drives ``DeskCircuitBreakerTripped`` to firing in ``ALERTS``.
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from datetime import timedelta

import pytest
import yaml
from django.conf import settings
from django.db.models import Sum

from journal.models import Trade
from tests.helpers import uvicorn_command, wait_until_answers
from tests.metrics.helpers import DEPLOY, REPO, require_tool
from tests.metrics.test_cross_process import BIN, SESSION, _env
from tests.metrics.test_deploy import DASHBOARDS
from trading.core import calendar

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PORTS = range(18200, 18300)  # this test's processes listen only here
SCRAPE = 2.0  # seconds between scrapes and rule evaluations (production: 15 s); also the timeout
STEP = 2  # seconds between the points of a range query (Grafana's $__interval)
RATE_INTERVAL = f"{max(STEP + SCRAPE, 4 * SCRAPE):g}s"  # Grafana's $__rate_interval for them

# Panels that show nothing but zeros until an event: (dashboard uid, panel title) -> the event. The
# test checks they show nothing else before, causes every event, and then sees them move.
WAITING = {
    ("desk-strategies", "Strategy errors per minute"): "a strategy raises (a bad stored configuration)",
    ("desk-system", "Errors per minute by component"): "a strategy raises (a bad stored configuration)",
    ("desk-orders", "Working orders by strategy"): "an order rests at the broker",
    ("desk-orders", "Rejected"): "the exchange's price band refuses an order",
    ("desk-orders", "Rejections per hour by reason"): "the exchange's price band refuses an order",
    ("desk-orders", "Cancellations per hour by reason"): "a resting order is cancelled",
    ("desk-orders", "Broker API errors and retries"): "a broker call fails (an unknown order)",
}

_taken: set[int] = set()


def _port() -> int:
    for port in PORTS:
        if port in _taken:
            continue
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                _taken.add(port)
                return port
    raise RuntimeError("no free port in 18200-18299")


# --- the stack ------------------------------------------------------------------------------------


class Stack:
    """Web (uvicorn), worker, beat and Prometheus of one test; ``stop_all`` ends them."""

    def __init__(self, tmp_path, **env: str) -> None:
        self.tmp = tmp_path
        (tmp_path / "prometheus").mkdir()
        (tmp_path / "var").mkdir()
        self.token = "panels-" + "0123456789abcdef" * 2
        self.env = _env(tmp_path, tmp_path / "prometheus")
        self.env.update(
            METRICS_TOKEN=self.token,
            ALLOWED_HOSTS="127.0.0.1,localhost",
            CHANNELS_REDIS_URL=os.environ["REDIS_URL"],
            TRADE_SPOOL_PATH=str(tmp_path / "spool.jsonl"),
            DESK_STREAM_POLL_SECONDS="0.05",
            PYTHONUNBUFFERED="1",
            SECRET_KEY=settings.SECRET_KEY,  # the sessions of the test process are valid there
            **env,
        )
        self.procs: dict[str, subprocess.Popen] = {}
        self.web_port = _port()
        self.prom_port = _port()

    @property
    def web(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def prom(self) -> str:
        return f"http://127.0.0.1:{self.prom_port}"

    def _start(self, name: str, cmd: list[str], env: dict | None = None) -> None:
        log = open(self.tmp / f"{name}.log", "a")
        self.procs[name] = subprocess.Popen(
            cmd, cwd=REPO, env=env or self.env, stdout=log, stderr=subprocess.STDOUT
        )

    def start_web(self) -> None:
        self._start("web", uvicorn_command(self.web_port, f"{BIN}/python"))
        self._wait(f"{self.web}/healthz", "web")

    def start_worker(self, **env: str) -> None:
        self._start(
            "worker",
            [f"{BIN}/celery", "-A", "tradingsite", "worker", "--pool", "prefork", "--concurrency", "1",
             "-Q", "celery,notifications", "-I", "tests.metrics.panel_tasks", "--loglevel", "WARNING",
             "-n", f"panels-{self.web_port}@%h",
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            {**self.env, **env},
        )  # fmt: skip

    def start_beat(self) -> None:
        self._start(
            "beat",
            [f"{BIN}/celery", "-A", "tests.metrics.panel_beat", "beat", "--loglevel", "WARNING",
             "-s", str(self.tmp / "beat-schedule")],
        )  # fmt: skip

    def start_prometheus(self) -> None:
        """deploy/prometheus.yml as it is, but for the targets (ours) and the intervals (the test's)."""
        config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
        config["global"].update(scrape_interval=f"{SCRAPE:g}s", evaluation_interval=f"{SCRAPE:g}s")
        config["global"]["scrape_timeout"] = f"{SCRAPE:g}s"
        config["rule_files"] = [str(DEPLOY / r) for r in config["rule_files"]]
        jobs = {job["job_name"]: job for job in config["scrape_configs"]}
        web = jobs["desk-web"]
        web["static_configs"] = [{"targets": [f"127.0.0.1:{self.web_port}"]}]
        (self.tmp / "metrics_token").write_text(self.token + "\n")
        web["authorization"]["credentials_file"] = str(self.tmp / "metrics_token")
        # The worker shares the web's host and multiprocess directory: the web serves its counters
        # (docs/metrics.md), so it gets no desk-worker target of its own.
        del jobs["desk-worker"]
        jobs["prometheus"]["static_configs"] = [{"targets": [f"127.0.0.1:{self.prom_port}"]}]
        config["scrape_configs"] = list(jobs.values())
        path = self.tmp / "prometheus.yml"
        path.write_text(yaml.safe_dump(config))
        self._start(
            "prometheus",
            [require_tool("prometheus"), f"--config.file={path}", f"--storage.tsdb.path={self.tmp / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{self.prom_port}", "--log.level=warn"],
        )  # fmt: skip
        self._wait(f"{self.prom}/-/ready", "prometheus")

    def _wait(self, url: str, name: str, timeout: float = 60) -> None:
        wait_until_answers(url, server=self.procs.get(name), logs=self.logs, seconds=timeout)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()

    def logs(self) -> str:
        return "\n".join(f"== {p.name}\n" + p.read_text()[-3000:] for p in self.tmp.glob("*.log"))

    # Prometheus's HTTP API ------------------------------------------------------------------------

    def query(self, expr: str, at: float | None = None) -> dict:
        params = {"query": expr} | ({"time": f"{at:.3f}"} if at else {})
        url = f"{self.prom}/api/v1/query?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=30) as r:
            return json.loads(r.read())

    def query_range(self, expr: str, start: float, end: float) -> dict:
        params = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": str(STEP)}
        url = f"{self.prom}/api/v1/query_range?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=30) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as exc:  # 400/422: a bad query, reported as such
            return json.loads(exc.read())

    def label_values(self, metric: str, label: str) -> list[str]:
        params = urllib.parse.urlencode({"match[]": metric})
        with urllib.request.urlopen(f"{self.prom}/api/v1/label/{label}/values?{params}", timeout=30) as r:
            return json.loads(r.read())["data"]

    def value(self, expr: str) -> float | None:
        result = self.query(expr)["data"]["result"]
        return float(result[0]["value"][1]) if result else None

    def wait_for(self, expr: str, ok, timeout: float = 30) -> float | None:
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = self.value(expr)
            if value is not None and ok(value):
                return value
            time.sleep(0.25)
        return value


@pytest.fixture
def stack(tmp_path):
    import redis

    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()  # this test's own Redis database
    s = Stack(tmp_path)
    try:
        yield s
    finally:
        s.stop_all()


# --- the panels -----------------------------------------------------------------------------------


def panels() -> list[tuple[str, str, list[dict]]]:
    """(dashboard uid, panel title, targets) of every panel of every dashboard."""
    out = []

    def walk(uid, items):
        for p in items:
            if p.get("type") == "row":
                walk(uid, p.get("panels", []))
            elif p.get("targets"):
                out.append((uid, p["title"], p["targets"]))

    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        walk(board["uid"], board["panels"])
    return out


def variables() -> list[tuple[str, str, str]]:
    """(dashboard uid, metric, label) of every ``label_values(metric, label)`` template variable."""
    out = []
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        for var in board.get("templating", {}).get("list", []):
            query = var.get("definition") or ""
            match = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", query)
            assert match, (board["uid"], var["name"], query)
            out.append((board["uid"], *match.groups()))
    return out


def panel_query(uid: str, title: str) -> str:
    """The one query of a panel."""
    (targets,) = [targets for u, t, targets in panels() if (u, t) == (uid, title)]
    (target,) = targets
    return target["expr"]


def substitute(expr: str, mode: str = "PAPER") -> str:
    """Grafana's template variables as a dashboard opened on its defaults sends them."""
    for name, value in (
        ("$__rate_interval", RATE_INTERVAL),
        ("$__interval", f"{STEP}s"),
        ("$__range", "1h"),
        ("$mode", mode),
        ("$strategy", ".*"),  # "All" (allValue)
    ):
        expr = expr.replace(name, value)
    return expr


def _values(answer: dict) -> list[float]:
    out = []
    for series in answer["data"]["result"]:
        for _, v in series.get("values") or [series["value"]]:
            if not math.isnan(float(v)):
                out.append(float(v))
    return out


def evaluate(stack: Stack, start: float) -> tuple[list, dict]:
    """(errors, panel -> its values) of every panel, asked Grafana's way: instant targets now, the
    others over ``start`` .. now. A panel with no values shows *No data*."""
    errors, shown = [], {}
    end = time.time()
    for uid, title, targets in panels():
        values = shown.setdefault((uid, title), [])
        for target in targets:
            expr = substitute(target["expr"])
            answer = stack.query(expr) if target.get("instant") else stack.query_range(expr, start, end)
            if answer.get("status") != "success" or answer.get("warnings"):
                errors.append((uid, title, expr, answer))
                continue
            values.extend(_values(answer))
    return errors, shown


# --- driving the desk -----------------------------------------------------------------------------


def _celery():
    from tradingsite.celery import app

    app.conf.task_always_eager = False
    return app


def run_session(app, day, bars: range) -> None:
    """One cycle per minute bar through the worker, in order (the beat's ``run-cycle``, on the
    simulated market's clock)."""
    start = calendar.session_open(day)
    for i in bars:
        at = start + timedelta(minutes=i)
        app.send_task("trading.tasks.run_cycle", kwargs={"index": "NIFTY", "at": at.isoformat()}).get(
            timeout=120
        )


class DeskWatcher(threading.Thread):
    """A client of the live desk on /ws/desk/ (a viewer's token), reading until stopped."""

    def __init__(self, url: str, token: str) -> None:
        super().__init__(daemon=True)
        self.url, self.token = url, token
        self.frames = 0
        self.stopped = threading.Event()
        self.connected = threading.Event()

    def run(self) -> None:
        from websockets.exceptions import ConnectionClosed
        from websockets.sync.client import connect

        with connect(self.url, additional_headers={"Authorization": f"Token {self.token}"}) as ws:
            self.connected.set()
            while not self.stopped.is_set():
                try:
                    ws.recv(timeout=0.5)
                    self.frames += 1
                except TimeoutError:
                    continue
                except ConnectionClosed:
                    return  # the server stopped (the test's teardown)


class Operator:
    """An operator's browser session on the web server: the control page's forms, CSRF and all."""

    def __init__(self, web: str, user) -> None:
        from django.test import Client

        client = Client()
        client.force_login(user)
        self.web = web
        self.cookie = f"sessionid={client.cookies['sessionid'].value}"

    def post(self, path: str, **form: str) -> None:
        with urllib.request.urlopen(self._request("/control/"), timeout=30) as r:
            jar = r.headers.get_all("Set-Cookie") or []
        csrf = next(c.split(";", 1)[0].split("=", 1)[1] for c in jar if c.startswith("csrftoken="))
        body = urllib.parse.urlencode({"csrfmiddlewaretoken": csrf, **form}).encode()
        request = self._request(path, body, f"csrftoken={csrf}")
        with urllib.request.urlopen(request, timeout=30) as r:  # the redirect back to the page: 200
            assert r.status == 200 and r.url.startswith(f"{self.web}/control/"), r.url

    def _request(self, path: str, body: bytes | None = None, cookie: str = "") -> urllib.request.Request:
        return urllib.request.Request(
            self.web + path, data=body, headers={"Cookie": "; ".join(filter(None, [self.cookie, cookie]))}
        )


def test_every_panel_shows_the_truth(stack, record_property):
    from rest_framework.authtoken.models import Token

    from tests.helpers import user_with_role
    from trading.strategies.models import StrategyConfig

    token = Token.objects.create(user=user_with_role("viewer", "panels-viewer")).key
    operator = Operator(stack.web, user_with_role("operator", "panels-operator"))
    began = time.time()
    stack.start_prometheus()
    stack.start_web()
    stack.start_worker(
        MAX_CONSECUTIVE_LOSSES="2",  # the session's losses trip the breaker
        NOTIFY_EMAIL_TO="desk@example.com",  # the breaker's and the kill switch's e-mails
        EMAIL_BACKEND="django.core.mail.backends.console.EmailBackend",
    )
    stack.start_beat()
    # Prometheus has the counters' zero before their first event (increase() sees that event).
    assert stack.wait_for('count(trading_signals_generated_total{job="desk-web"})', lambda v: v > 0), (
        stack.logs()
    )
    watcher = DeskWatcher(f"ws://127.0.0.1:{stack.web_port}/ws/desk/", token)
    watcher.start()
    assert watcher.connected.wait(30), stack.logs()
    app = _celery()
    run_session(app, SESSION, range(1, 90))
    time.sleep(2 * SCRAPE)
    errors, shown = evaluate(stack, began)
    assert not errors, errors
    for panel in WAITING:
        assert not any(shown[panel]), (panel, "moved before its event", shown[panel])
    # The simulated market's clock is in session (whatever the wall clock says): the alerts gated
    # on an open session can fire in a simulation.
    market_session = panel_query("desk-system", "Market session")
    assert stack.value(market_session) == 1

    # The events.
    broken = StrategyConfig.objects.get(name="EMACrossoverStrategy")
    good = broken.parameters
    StrategyConfig.objects.filter(pk=broken.pk).update(parameters={**good, "no_such_parameter": 1})
    run_session(app, SESSION, range(90, 95))
    StrategyConfig.objects.filter(pk=broken.pk).update(parameters=good)

    def broker_event(event: str, n: int) -> str:
        return app.send_task("tests.metrics.broker_event", args=[event, n]).get(timeout=60)

    assert broker_event("rest", 1) == "OPEN"
    assert stack.wait_for('sum(trading_orders_working{mode="PAPER"})', lambda v: v == 1) == 1
    assert broker_event("reject", 2) == "REJECTED"
    # A failing call's series is labelled by its error: it first appears with the error, so rate()
    # sees the second one (docs/metrics.md).
    assert broker_event("unknown", 3) == "not found"
    assert stack.wait_for("sum(trading_broker_api_errors_total)", lambda v: v == 1) == 1
    time.sleep(SCRAPE)
    assert broker_event("unknown", 4) == "not found"
    assert broker_event("cancel", 1) == "CANCELLED"
    run_session(app, SESSION, range(95, 120))
    operator.post("/control/kill-switch/", on="1", reason="panels test")
    kill_switch = substitute(panel_query("desk-overview", "Kill switch"))
    assert stack.wait_for(kill_switch, lambda v: v == 1) == 1
    run_session(app, SESSION, range(120, 125))
    operator.post("/control/kill-switch/", on="0", reason="panels test")
    run_session(app, SESSION, range(125, 150))
    run_session(app, SESSION, range(355, 376))  # the close: square-off
    watcher.stopped.set()
    assert stack.wait_for(market_session, lambda v: v == 0) == 0  # its last bar closed at 15:30
    # The breaker's and the kill switch's e-mails go out from the worker's notifier, in its own time.
    sent = 'sum(trading_notifications_total{channel="email", outcome="sent"})'
    assert stack.wait_for(sent, lambda v: v >= 1, timeout=60), stack.logs()
    time.sleep(2 * SCRAPE)  # a scrape and a rule evaluation after it

    # Every panel: no errors, data, and each waiting one moved.
    errors, shown = evaluate(stack, began)
    assert not errors, errors
    assert [panel for panel, values in shown.items() if not values] == []
    assert [panel for panel in WAITING if not any(shown[panel])] == []

    # The template variables offer what the test substituted: the mode, the strategies traded.
    for uid, metric, label in variables():
        offered = stack.label_values(metric, label)
        wanted = {"PAPER"} if label == "mode" else set(Trade.objects.values_list("strategy_name", flat=True))
        assert wanted <= set(offered), (uid, metric, label, offered)

    # The breaker the session's losses tripped fires its alert.
    firing = 'ALERTS{alertname="DeskCircuitBreakerTripped", alertstate="firing"}'
    assert stack.wait_for(firing, lambda v: v == 1) == 1, stack.query("ALERTS")

    # Values: the journal's trades, net P&L and win rate, as the overview and strategies panels ask.
    trades = Trade.objects.filter(entry_mode="PAPER")
    assert trades.count() > 0
    assert stack.value(substitute('sum(trading_trades_total{mode="$mode"})')) == trades.count()
    by_strategy = {
        r["metric"]["strategy"]: float(r["value"][1])
        for r in stack.query(
            substitute(
                'sum by (strategy) (trading_strategy_net_pnl_rupees{mode="$mode", strategy=~"$strategy"})'
            )
        )["data"]["result"]
    }
    journal = {
        name: float(net)
        for name, net in trades.values_list("strategy_name").annotate(net=Sum("net_pnl")).order_by()
    }
    assert {k: v for k, v in by_strategy.items() if k in journal} == pytest.approx(journal, abs=0.005)
    assert not any(v for k, v in by_strategy.items() if k not in journal)
    wins = trades.filter(is_winning_trade=True).count()
    win_rate = substitute(
        '100 * sum(trading_winning_trades_total{mode="$mode"}) / sum(trading_trades_total{mode="$mode"})'
    )
    assert stack.value(win_rate) == pytest.approx(100 * wins / trades.count())
    assert watcher.frames > 0
    queries = sum(len(targets) for _, _, targets in panels())
    record_property(
        "figures",
        f"panel check: {len(shown)} panels ({queries} queries) with data, {len(WAITING)} after their event,"
        f" {trades.count()} trades; {time.time() - began:.0f} s",
    )
