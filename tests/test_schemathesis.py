"""Schemathesis against the running server (issue 11, item 7): every operation of the OpenAPI schema,
a fixed seed, 100 examples per operation - 0 server errors and 0 schema violations.

The server is uvicorn in a subprocess on this test's own database (the SQLite file or the PostgreSQL
test database, so it runs everywhere; in CI on PostgreSQL), seeded with trades, orders, positions
and signals whose ids the fuzzer draws from (config: dictionaries of existing ids), and asked as an
operator (every operation reachable). Checks: server errors, status codes, content types, response
headers and bodies against the schema, authentication ignored, methods not allowed. (Not: whether the
schema states every input constraint the server enforces - ``positive_data_acceptance`` and
``negative_data_rejection``.) The counts go to the terminal and to ``SCHEMATHESIS_REPORT`` when set.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token

from tests.helpers import user_with_role
from tests.journal.api_data import make_engine_rows, make_journal
from trading.strategies.services import ensure_strategy_configs

pytestmark = [pytest.mark.slow, pytest.mark.fuzz, pytest.mark.django_db(transaction=True)]

SEED = 20261205
EXAMPLES = 100
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "ignored_auth",
    "unsupported_method",
    "allow_header_conformance",
)
ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    wanted = int(os.environ.get("FUZZ_PORT", "0"))  # a fixed port where ports are assigned
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", wanted))
        return sock.getsockname()[1]


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return (
        f"postgres://{user}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"
    )


def _seed_engine_rows() -> dict[str, list]:
    return {kind: [row.pk for row in items] for kind, items in make_engine_rows().items()}


def _config(path: Path, trades: list[str], rows: dict[str, list[int]]) -> None:
    ids = sorted({pk for pks in rows.values() for pk in pks})
    path.write_text(
        "\n".join(
            [
                "[dictionaries.trade_ids]",
                f"values = {json.dumps(trades)}",
                "[dictionaries.row_ids]",
                f"values = {json.dumps(ids)}",
                "[dictionaries.strategies]",
                'values = ["PCRStrategy", "MaxPainStrategy", "VixMeanReversionStrategy"]',
                "[parameters]",
                '"path.trade_id" = { dictionary = "trade_ids", probability = 0.6 }',
                '"path.id" = { dictionary = "row_ids", probability = 0.6 }',
                '"path.name" = { dictionary = "strategies", probability = 0.6 }',
                "",
            ]
        )
    )


def _wait_until_up(url: str, server: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"the server exited ({server.returncode})")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"the server did not answer {url} within {seconds} s")


def test_schemathesis_finds_no_server_error_and_no_schema_violation(tmp_path, record_property):
    ensure_strategy_configs()
    trades = [t.trade_id for t in make_journal(24)]
    rows = _seed_engine_rows()
    token = Token.objects.create(user=user_with_role("operator", "fuzzer")).key
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "VAR_DIR": str(tmp_path / "var"),
        "DEBUG": "0",
        "TESTING": "1",
        "SECRET_KEY": "fuzz-" + "x" * 60,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
        "TRADE_SPOOL_PATH": str(tmp_path / "spool.jsonl"),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "tradingsite.asgi:application", "--host", "127.0.0.1"]
        + ["--port", str(port), "--log-level", "warning"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "server.log", "wb"),  # noqa: SIM115 - closed with the process
    )
    try:
        _wait_until_up(f"{base}/healthz", server)
        config = tmp_path / "schemathesis.toml"
        _config(config, trades, rows)
        report = tmp_path / "report.json"
        started = time.monotonic()
        run = subprocess.run(
            [str(Path(sys.executable).parent / "schemathesis"), "--config-file", str(config), "run"]
            + [f"{base}/api/schema/", "-H", f"Authorization: Token {token}"]
            + ["--checks", ",".join(CHECKS), "--max-examples", str(EXAMPLES), "--seed", str(SEED)]
            + ["--phases", "examples,coverage,fuzzing", "--generation-database", "none", "--no-color"]
            + ["--report", "json", "--report-json-path", str(report), "--request-timeout", "30"]
            + ["--workers", os.environ.get("FUZZ_WORKERS", "1")],
            cwd=tmp_path,
            env={k: v for k, v in os.environ.items() if k not in ("DATABASE_URL",)},
            capture_output=True,
            text=True,
            timeout=900,  # a hang guard, not a speed check
        )
        seconds = time.monotonic() - started
    finally:
        server.terminate()
        server.wait(timeout=30)
    summary = json.loads(report.read_text()) if report.exists() else {}
    counts = {
        "database": connection.vendor,
        "operations": summary.get("operations", {}).get("tested"),
        "operations_in_schema": summary.get("operations", {}).get("total"),
        "cases": summary.get("test_cases", {}).get("generated"),
        "cases_with_failures": summary.get("test_cases", {}).get("with_failures"),
        "failures": len(summary.get("failures", [])),
        "errors": len(summary.get("errors", [])),
        "seed": summary.get("seed"),
        "max_examples": EXAMPLES,
        "seconds": round(seconds, 1),
    }
    record_property("figures", f"schemathesis {json.dumps(counts)}")
    if os.environ.get("SCHEMATHESIS_REPORT"):
        Path(os.environ["SCHEMATHESIS_REPORT"]).write_text(json.dumps(counts, indent=2) + "\n")
    server_log = (tmp_path / "server.log").read_text(errors="replace")
    failures = run.stdout[run.stdout.find("FAILURES") :] if "FAILURES" in run.stdout else run.stdout[-4000:]
    assert run.returncode == 0, failures[:8000] + run.stderr[-2000:] + server_log[-2000:]
    assert counts["operations"] == counts["operations_in_schema"] >= 19
    assert counts["failures"] == counts["errors"] == counts["cases_with_failures"] == 0
    assert counts["cases"] >= counts["operations"] * 20  # the generators ran, not just one call each
    assert "Traceback" not in server_log, server_log[-3000:]
