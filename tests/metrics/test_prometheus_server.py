"""A real Prometheus (Debian's package) scrapes the running web server: a PromQL query returns the
journal's trade count, and every expression of the dashboards and alert rules evaluates."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import urllib.request
from urllib.parse import urlparse

import pytest
import yaml

from journal.models import Trade
from tests.metrics.helpers import DEPLOY, free_port, make_order, make_trade, require_tool
from tests.metrics.test_deploy import _dashboard_exprs

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _query(base: str, expr: str) -> dict:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def _wait_for(base: str, expr: str, expected: float, timeout: float = 90.0) -> float | None:
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        try:
            result = _query(base, expr)["data"]["result"]
            if result:
                value = float(result[0]["value"][1])
                if value == expected:
                    return value
        except OSError:
            pass  # not up yet
        time.sleep(0.5)
    return value


@pytest.fixture
def prometheus(live_server, tmp_path):
    binary = require_tool("prometheus")
    target = urlparse(live_server.url).netloc
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(DEPLOY / "prometheus" / "alerts.yml")],
                "scrape_configs": [
                    {
                        "job_name": "desk-web",
                        "metrics_path": "/metrics",
                        "static_configs": [{"targets": [target]}],
                    }
                ],
            }
        )
    )
    log = open(tmp_path / "prometheus.log", "w")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_prometheus_scrapes_the_web_server_and_counts_the_trades(prometheus, tmp_path):
    for i in range(5):
        make_trade(i, "PCRStrategy" if i % 2 else "MaxPainStrategy")
    make_order(1)
    assert _wait_for(prometheus, 'up{job="desk-web"}', 1.0) == 1.0, (tmp_path / "prometheus.log").read_text()
    assert _wait_for(prometheus, "sum(trading_trades_total)", float(Trade.objects.count())) == 5.0
    assert _wait_for(prometheus, 'sum(trading_trades_total{strategy="PCRStrategy"})', 2.0) == 2.0
    assert _wait_for(prometheus, "sum(trading_orders_total)", 1.0) == 1.0

    make_trade(9, "PCRStrategy")  # the next scrapes see it
    assert _wait_for(prometheus, "sum(trading_trades_total)", 6.0) == 6.0

    # Every dashboard expression and alert rule is valid PromQL against a real server.
    variables = {
        "$__rate_interval": "1m",
        "$__range": "1h",
        "$__interval": "1m",
        "$mode": "PAPER",
        "$strategy": ".*",
    }
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    exprs = _dashboard_exprs() + [(r["alert"], r["expr"]) for g in rules["groups"] for r in g["rules"]]
    for where, expr in exprs:
        for name, value in variables.items():
            expr = expr.replace(name, value)
        answer = _query(prometheus, expr)
        assert answer["status"] == "success", (where, expr, answer)
