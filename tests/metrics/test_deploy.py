"""deploy/: promtool passes the config, the rules and their unit tests (every alert tested), the
scraped text; Grafana's dashboards only name metrics that exist; compose runs the whole stack."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
import yaml
from prometheus_client import REGISTRY

from tests.metrics.helpers import DEPLOY, make_order, make_trade, require_tool, scrape
from trading import metrics
from trading.monitoring.families import all_families

DASHBOARDS = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
BUILTIN = {"up", "scrape_duration_seconds", "scrape_samples_scraped", "ALERTS", "ALERTS_FOR_STATE"}
KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool",
    "offset", "inf", "nan", "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk",
    "quantile", "count_values", "group",
}  # fmt: skip


def _promtool(*args: str) -> subprocess.CompletedProcess:
    tool = require_tool("promtool")
    return subprocess.run([tool, *args], capture_output=True, text=True, timeout=120)


def test_promtool_check_config(tmp_path):
    # The config names the token file relative to itself (compose mounts it beside the config).
    copy = tmp_path / "deploy"
    shutil.copytree(DEPLOY, copy, ignore=shutil.ignore_patterns("secrets"))
    (copy / "metrics_token").write_text("t0ken\n")
    result = _promtool("check", "config", str(copy / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout
    syntax = _promtool("check", "config", "--syntax-only", str(DEPLOY / "prometheus.yml"))
    assert syntax.returncode == 0, syntax.stdout + syntax.stderr


def test_promtool_check_rules():
    result = _promtool("check", "rules", str(DEPLOY / "prometheus" / "alerts.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_test_rules_and_every_alert_has_a_firing_test():
    result = _promtool("test", "rules", str(DEPLOY / "prometheus" / "tests.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    tests = yaml.safe_load((DEPLOY / "prometheus" / "tests.yml").read_text())
    fired = {
        case["alertname"]
        for t in tests["tests"]
        for case in t.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert alerts >= {
        "DeskCircuitBreakerTripped",
        "DeskDailyLossBeyondLimit",
        "DeskNoMarketData",
        "DeskSpoolNotDraining",
        "DeskHighErrorRate",
        "DeskWorkerDown",
    }
    assert alerts == fired, f"alerts without a firing unit test: {alerts - fired}"


@pytest.mark.django_db
def test_promtool_check_metrics_on_the_scraped_text():
    make_trade(1, "PCRStrategy")
    make_trade(2, "MaxPainStrategy", side="SHORT")
    make_order(1, "PCRStrategy", "REJECTED", status_reason="price_band")
    metrics.signal_seen("PCRStrategy", "REJECTED", "cooldown")
    metrics.broker_call("place_order", 0.12, broker="paper")
    text = scrape()
    tool = require_tool("promtool")
    result = subprocess.run(
        [tool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "" and result.stderr.strip() == "", result.stdout + result.stderr


def _metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (a small lexer, enough for our dashboards)."""
    expr = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)  # strings
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    expr = re.sub(r"\$\w+", "", expr)  # Grafana variables
    names = set()
    for m in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(\s*\()?", expr):
        word, call = m.group(1), m.group(2)
        if call or word in KEYWORDS or re.fullmatch(r"\d+[smhdwy]", word):
            continue
        names.add(word)
    return names


def _known_series_names() -> set[str]:
    names = set(BUILTIN)
    for name, kind, _labels in all_families():
        names |= {
            "counter": {f"{name}_total"},
            "histogram": {f"{name}_bucket", f"{name}_sum", f"{name}_count"},
        }.get(kind, {name})
    for family in REGISTRY.collect():  # django-prometheus's families, defined in this process
        if family.type == "counter":
            names.add(f"{family.name}_total")
        elif family.type == "histogram":
            names |= {f"{family.name}_bucket", f"{family.name}_sum", f"{family.name}_count"}
        else:
            names.add(family.name)
    return names


def _dashboard_exprs() -> list[tuple[str, str]]:
    out = []
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                out.append((f"{path.name}: {panel['title']}", target["expr"]))
        for var in board.get("templating", {}).get("list", []):
            query = var.get("query", {})
            query = query.get("query", "") if isinstance(query, dict) else query
            m = re.match(r"label_values\((\w+)", query)
            if m:
                out.append((f"{path.name}: ${var['name']}", m.group(1)))
    return out


def test_the_lexer_finds_metric_names():
    assert _metric_names(
        'histogram_quantile(0.95, sum by (le, endpoint) (rate(x_bucket{a="b"}[$__rate_interval])))'
    ) == {"x_bucket"}
    assert _metric_names('100 * sum(a_total{mode="$mode"}) / sum(b_total) and on() c == 1') == {
        "a_total",
        "b_total",
        "c",
    }
    assert _metric_names("time() - max by (symbol) (ts_seconds)") == {"ts_seconds"}


def test_dashboards_name_only_metrics_that_exist():
    known = _known_series_names()
    exprs = _dashboard_exprs()
    assert len(exprs) > 60
    unknown = {(where, n) for where, e in exprs for n in _metric_names(e) if n not in known}
    assert not unknown, unknown


def test_alert_rules_name_only_metrics_that_exist():
    known = _known_series_names()
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    unknown = {
        (r["alert"], n)
        for g in rules["groups"]
        for r in g["rules"]
        for n in _metric_names(r["expr"])
        if n not in known
    }
    assert not unknown, unknown


def test_dashboards_cover_the_four_views_and_are_provisioned():
    titles = {json.loads(p.read_text())["title"] for p in DASHBOARDS}
    assert titles == {
        "Desk - trading overview",
        "Desk - orders and fills",
        "Desk - strategies",
        "Desk - system health",
    }
    uids = [json.loads(p.read_text())["uid"] for p in DASHBOARDS]
    assert len(set(uids)) == len(uids)
    overview = json.loads((DEPLOY / "grafana" / "dashboards" / "trading-overview.json").read_text())
    exprs = " ".join(t["expr"] for p in overview["panels"] for t in p.get("targets", []))
    for needle in (
        "trading_daily_pnl_rupees",
        "trading_trades_total",
        "trading_winning_trades_total",
        "trading_positions_open",
    ):
        assert needle in exprs  # P&L, trades, win rate, open positions
    datasources = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )
    uid = datasources["datasources"][0]["uid"]
    for p in DASHBOARDS:
        board = json.loads(p.read_text())
        for panel in board["panels"]:
            if panel["type"] != "row":
                assert panel["datasource"]["uid"] == uid
    provider = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "dashboards" / "desk.yml").read_text())
    path = provider["providers"][0]["options"]["path"]
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./grafana/dashboards:{path}:ro" in mounts


def test_compose_runs_the_whole_stack():
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "web", "worker", "beat", "prometheus", "grafana"} <= set(services)
    assert services["worker"]["environment"]["WORKER_METRICS_PORT"] == "9808"
    prom = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in prom["scrape_configs"]}
    assert jobs["desk-web"]["static_configs"][0]["targets"] == ["web:8000"]
    assert jobs["desk-web"]["authorization"]["credentials_file"] == "metrics_token"
    assert jobs["desk-worker"]["dns_sd_configs"][0]["port"] == 9808
    assert "./secrets/metrics_token:/etc/prometheus/metrics_token:ro" in services["prometheus"]["volumes"]
    # Each container keeps its own multiprocess directory (pids mean nothing across containers).
    for name in ("web", "worker", "beat"):
        assert any(t.startswith("/run/desk-metrics") for t in services[name]["tmpfs"])
    assert (DEPLOY / "Dockerfile").exists()
