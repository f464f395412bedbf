"""Deployment: `manage.py check --deploy` is clean with the documented production environment
(deploy/systemd/desk.env.example, a random SECRET_KEY in place of its placeholder); a weak or short
SECRET_KEY is refused with DEBUG off; HTTPS redirect, HSTS, secure cookies and the proxy header
follow the environment."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ENV_EXAMPLE = ROOT / "deploy" / "systemd" / "desk.env.example"
HTTPS_VARIABLES = (
    "SECURE_PROXY_SSL_HEADER",
    "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
)


def documented_environment() -> dict[str, str]:
    """The variables of deploy/systemd/desk.env.example (systemd's EnvironmentFile format)."""
    env = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name.strip()] = value.strip()
    return env


def manage(tmp_path, env_over: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """``manage.py *args`` in a fresh process with only ``env_over`` on top of a clean environment
    (no pytest, no developer variables), SQLite under ``tmp_path``."""
    keep = ("PATH", "HOME", "LANG", "TMPDIR", "PYTHONPATH")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(env_over)
    env.update(VAR_DIR=str(tmp_path), DATABASE_URL=f"sqlite:///{tmp_path / 'deploy.sqlite3'}")
    env.pop("REDIS_URL", None)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_is_clean_with_the_documented_production_environment(tmp_path):
    env = documented_environment()
    assert set(HTTPS_VARIABLES) <= set(env) and env["DEBUG"] == "0"
    env["SECRET_KEY"] = secrets.token_urlsafe(50)  # the example's placeholder is refused (below)
    out = manage(tmp_path, env, "check", "--deploy", "--fail-level", "WARNING")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "System check identified no issues" in out.stdout


def test_without_the_https_variables_check_deploy_complains(tmp_path):
    env = {k: v for k, v in documented_environment().items() if k not in HTTPS_VARIABLES}
    env["SECRET_KEY"] = secrets.token_urlsafe(50)
    out = manage(tmp_path, env, "check", "--deploy", "--fail-level", "WARNING")
    assert out.returncode != 0
    for code in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert code in out.stdout + out.stderr


@pytest.mark.parametrize(
    "key",
    [
        "change-me",  # the placeholder of the documented environment
        "x" * 64,  # long, one distinct character
        "django-insecure-" + secrets.token_urlsafe(50),  # Django's generated development key
        secrets.token_urlsafe(50)[:49],  # one character short
    ],
    ids=["placeholder", "one-character", "django-insecure", "49-characters"],
)
def test_a_weak_secret_key_is_refused_with_debug_off(tmp_path, key):
    env = {**documented_environment(), "SECRET_KEY": key}
    out = manage(tmp_path, env, "check")
    assert out.returncode != 0
    [line] = [line for line in out.stderr.splitlines() if "SECRET_KEY is too weak" in line]
    assert "secrets.token_urlsafe(50)" in line and key not in line  # the key itself is never printed


def test_development_accepts_a_weak_secret_key(tmp_path):
    env = {**documented_environment(), "SECRET_KEY": "change-me", "DEBUG": "1"}
    assert manage(tmp_path, env, "check").returncode == 0


@pytest.mark.django_db
def test_https_settings_follow_the_environment(client, settings):
    """What the documented variables do: plain HTTP is redirected (health and metrics excepted), the
    proxy's X-Forwarded-Proto marks a request secure, HSTS and secure cookies are sent."""
    from tradingsite.settings import _proxy_ssl_header

    assert _proxy_ssl_header("X-Forwarded-Proto") == ("HTTP_X_FORWARDED_PROTO", "https")
    assert _proxy_ssl_header("") is None
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = _proxy_ssl_header("X-Forwarded-Proto")
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    settings.CSRF_COOKIE_SECURE = settings.SESSION_COOKIE_SECURE = True
    plain = client.get("/accounts/login/")
    assert plain.status_code == 301 and plain["Location"].startswith("https://")
    secure = client.get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https")
    assert secure.status_code == 200
    assert secure["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert secure.cookies["csrftoken"]["secure"]  # the login form's CSRF cookie only over HTTPS
    assert client.get("/healthz").status_code == 200  # not redirected: fetched over the private network


@pytest.mark.parametrize("explicit", [None, "30"])
def test_the_asgi_server_keeps_no_persistent_database_connections(tmp_path, explicit):
    """Under ASGI a persistent connection is not reused by the next request but left open until it
    ages out; under load a web process then exhausts PostgreSQL's clients (CI saw "too many clients
    already"). The ASGI entry point turns persistence off unless DB_CONN_MAX_AGE says otherwise; the
    WSGI one (gunicorn, manage.py) keeps its 60 s. Without persistence the ASGI server keeps the
    connections of finished requests for the next ones instead (tradingsite/postgresql/base.py)."""
    keep = ("PATH", "HOME", "LANG", "TMPDIR", "PYTHONPATH")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(VAR_DIR=str(tmp_path), DEBUG="1", DATABASE_URL="postgres://nobody@127.0.0.1:1/none")
    if explicit is not None:
        env["DB_CONN_MAX_AGE"] = explicit
    code = (
        "import {m}; from django.conf import settings; db = settings.DATABASES['default'];"
        " print(db['CONN_MAX_AGE'], db['ENGINE'])"
    )

    def age(module: str) -> tuple[int, str]:
        run = subprocess.run(
            [sys.executable, "-c", code.format(m=module)], cwd=ROOT, env=env, capture_output=True, text=True,
            timeout=120,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr[-2000:]
        seconds, engine = run.stdout.strip().splitlines()[-1].split()
        return int(seconds), engine

    plain = "django_prometheus.db.backends.postgresql"
    assert age("tradingsite.asgi") == ((int(explicit), plain) if explicit else (0, "tradingsite.postgresql"))
    assert age("tradingsite.wsgi") == (int(explicit) if explicit else 60, plain)
