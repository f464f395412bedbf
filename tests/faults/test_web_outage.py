"""The web app while PostgreSQL is stopped: every page and endpoint of ``tests/test_access.ROUTES``
answers 503 with a body that says so (JSON under /api/), never 500; ``/metrics`` keeps answering with
``trading_metrics_database_up 0``; ``/healthz`` says 503; all of it answers again once the database is
back. A real server (uvicorn) on the suite's own cluster; a session and an API token of an operator.
"""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
import time

import pytest
import requests
from django.urls import reverse

from tests.faults.conftest import ROOT, WEB_PORT, kill_group, process_env, start_web, wait_for, web_login
from tests.test_access import PUBLIC, ROUTES

pytestmark = [pytest.mark.faults, pytest.mark.slow]

BASE = f"http://127.0.0.1:{WEB_PORT}"
PASSWORD = secrets.token_urlsafe(16)  # a fresh test password each run
# The stored objects ``tests/test_access`` names in its routes (the database is down: any id will do).
ARGS = {"pk": 1, "trade_id": "T-1", "run": 1, "sweep": 1, "combo_id": "C-1"}


def _operator(env) -> str:
    """An operator with a password and an API token (``manage.py deskuser``); the token."""
    out = subprocess.run(
        [sys.executable, "manage.py", "deskuser", "ops", "--role", "operator", "--token", "--password-stdin"],
        cwd=ROOT,
        env=env,
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return re.search(r"\b([0-9a-f]{40})\b", out).group(1)


def _ask(web: requests.Session, token: str, route) -> requests.Response:
    url = BASE + reverse(route.name, args=[ARGS.get(a, a) for a in route.args])
    headers = {"Authorization": f"Token {token}"} if route.api else {}
    if route.method != "get":
        headers["X-CSRFToken"] = web.cookies.get("csrftoken", "")
        headers["Referer"] = BASE + "/"
    body = {"json": route.data or {}} if route.api else {"data": route.data or {}}
    return getattr(web, route.method)(url, headers=headers, timeout=30, allow_redirects=False, **body)


def test_every_route_answers_503_while_the_database_is_down(cluster, database, tmp_path):
    env = process_env(tmp_path, cluster.url(database), PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prom"))
    token = _operator(env)
    server = start_web(env, tmp_path / "server.log")
    try:
        web = web_login("ops", PASSWORD)
        assert "trading_metrics_database_up 1.0" in web.get(f"{BASE}/metrics", timeout=30).text
        schema = web.get(
            f"{BASE}/api/schema/", headers={"Accept": "application/vnd.oai.openapi+json"}, timeout=30
        ).json()
        # Between requests the server keeps a connection for the next one (tradingsite/postgresql):
        # the outage cuts it, and the answers below must still come at once.
        kept = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
        assert cluster.query(database, kept, (database,))[0][0] >= 1
        cluster.stop()
        answers = {route.name: _ask(web, token, route) for route in ROUTES}
        metrics = web.get(f"{BASE}/metrics", timeout=30)
        cluster.start()
        back = time.monotonic()
        wait_for(lambda: _up(f"{BASE}/healthz"), 30, "the server to see the database again")
        recovered = time.monotonic() - back
        again = web.get(BASE + reverse("journal:list"), timeout=30, allow_redirects=False)
    finally:
        kill_group(server, 15)
        if not cluster.running():
            cluster.start()
    errors = {
        name: a.status_code for name, a in answers.items() if a.status_code >= 500 and a.status_code != 503
    }
    assert not errors, errors
    for route in ROUTES:
        answer = answers[route.name]
        if route.name == "metrics":
            continue
        if route.least == PUBLIC and route.name != "healthz":
            continue  # the login page, logout, Kite's postback: anything but a server error
        assert answer.status_code == 503, (route.name, answer.status_code, answer.text[:200])
        assert "database is unreachable" in answer.text.lower() or route.name == "healthz", answer.text[:200]
        if route.api:
            assert answer.headers["Content-Type"].startswith("application/json")
    # The API documents the answer on every operation.
    for path, item in schema["paths"].items():
        for method, spec in item.items():
            if method in ("get", "post", "patch", "put", "delete"):
                assert "application/json" in spec["responses"]["503"]["content"], (path, method)
    assert metrics.status_code == 200
    assert "trading_metrics_database_up 0.0" in metrics.text
    assert again.status_code == 200
    print(
        f"\n[faults] web while PostgreSQL is down: {sum(a.status_code == 503 for a in answers.values())} "
        f"of {len(answers)} routes 503, none 500; /metrics 200 with database_up 0; healthy again "
        f"{recovered:.1f}s after the database"
    )


def _up(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False
