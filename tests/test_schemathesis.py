"""Schemathesis against the running server (issue 11, item 7): every operation of the OpenAPI schema,
a fixed seed, 100 examples per operation - 0 server errors and 0 schema violations. The operations
are fuzzed in two halves by two schemathesis processes at the same time (``HALVES``), so requests of
the one half meet requests of the other in the server (that found an edit racing a delete).

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

from tests.helpers import user_with_role, uvicorn_command, wait_until_answers
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


# The operations in two halves, each fuzzed by a schemathesis process of its own, at the same time,
# against the one server (two cores: the client's generation is half of the work). Not schemathesis's
# own --workers: threads of one process, where Python 3.11's ast.parse (reached through Hypothesis's
# lambda descriptions) is not thread-safe ("AST constructor recursion depth mismatch"). Each half's
# cases are fixed by the seed, as the whole run's were; every operation is in exactly one half.
FIRST_HALF = r"^/api/(analytics|research|market)/|^/api/trades/export"
HALVES = (("--include-path-regex", FIRST_HALF), ("--exclude-path-regex", FIRST_HALF))


def _start_run(
    tmp_path: Path, config: Path, base: str, token: str, half: tuple[str, str]
) -> subprocess.Popen:
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "schemathesis"), "--config-file", str(config), "run"]
        + [f"{base}/api/schema/", "-H", f"Authorization: Token {token}", *half]
        + ["--checks", ",".join(CHECKS), "--max-examples", str(EXAMPLES), "--seed", str(SEED)]
        + ["--phases", "examples,coverage,fuzzing", "--generation-database", "none", "--no-color"]
        + ["--report", "json", "--report-json-path", str(_report_path(tmp_path, half))]
        + ["--request-timeout", "30"],
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k not in ("DATABASE_URL",)},
        stdout=open(_output_path(tmp_path, half), "w"),  # noqa: SIM115 - closed with the process
        stderr=subprocess.STDOUT,
    )


def _report_path(tmp_path: Path, half: tuple[str, str]) -> Path:
    return tmp_path / f"report-{HALVES.index(half)}.json"


def _output_path(tmp_path: Path, half: tuple[str, str]) -> Path:
    return tmp_path / f"output-{HALVES.index(half)}.txt"


def _report(tmp_path: Path, half: tuple[str, str]) -> dict:
    path = _report_path(tmp_path, half)
    return json.loads(path.read_text()) if path.exists() else {}


def _operations_in_schema(schema: dict) -> int:
    methods = {"get", "put", "post", "patch", "delete", "head", "options", "trace"}
    return sum(1 for ops in schema.get("paths", {}).values() for method in ops if method in methods)


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
        uvicorn_command(port),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "server.log", "wb"),  # noqa: SIM115 - closed with the process
    )
    runs: list[subprocess.Popen] = []
    try:
        wait_until_answers(f"{base}/healthz", server=server, logs=(tmp_path / "server.log").read_text)
        request = urllib.request.Request(
            f"{base}/api/schema/?format=json",
            headers={"Accept": "application/json", "Authorization": f"Token {token}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            base_schema = json.loads(response.read())
        config = tmp_path / "schemathesis.toml"
        _config(config, trades, rows)
        started = time.monotonic()
        runs.extend(_start_run(tmp_path, config, base, token, half) for half in HALVES)
        for run in runs:
            run.wait(timeout=900)  # a hang guard, not a speed check
        seconds = time.monotonic() - started
    finally:
        for run in runs:
            if run.poll() is None:
                run.kill()
                run.wait()
        server.terminate()
        server.wait(timeout=30)
    reports = [_report(tmp_path, half) for half in HALVES]
    counts = {
        "database": connection.vendor,
        "operations": sum(r.get("operations", {}).get("tested") or 0 for r in reports),
        "operations_in_schema": _operations_in_schema(base_schema),
        "cases": sum(r.get("test_cases", {}).get("generated") or 0 for r in reports),
        "cases_with_failures": sum(r.get("test_cases", {}).get("with_failures") or 0 for r in reports),
        "failures": sum(len(r.get("failures", [])) for r in reports),
        "errors": sum(len(r.get("errors", [])) for r in reports),
        "seed": SEED,
        "max_examples": EXAMPLES,
        "processes": len(HALVES),
        "seconds": round(seconds, 1),
    }
    record_property("figures", f"schemathesis {json.dumps(counts)}")
    if os.environ.get("SCHEMATHESIS_REPORT"):
        Path(os.environ["SCHEMATHESIS_REPORT"]).write_text(json.dumps(counts, indent=2) + "\n")
    server_log = (tmp_path / "server.log").read_text(errors="replace")
    for run, half in zip(runs, HALVES, strict=True):
        output = _output_path(tmp_path, half).read_text(errors="replace")
        found = min((i for i in (output.find("ERRORS"), output.find("FAILURES")) if i >= 0), default=-4000)
        assert run.returncode == 0, output[found:][:8000] + server_log[-2000:]
    assert counts["operations"] == counts["operations_in_schema"] >= 19
    assert counts["failures"] == counts["errors"] == counts["cases_with_failures"] == 0
    assert counts["cases"] >= counts["operations"] * 20  # the generators ran, not just one call each
    assert "Traceback" not in server_log, server_log[-3000:]
