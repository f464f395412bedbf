"""/metrics: open on loopback, a bearer token for anything else."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def _get(remote: str, **headers):
    return Client(REMOTE_ADDR=remote).get("/metrics", **headers)


@pytest.mark.parametrize("remote", ["127.0.0.1", "127.0.0.53", "::1"])
def test_loopback_reads_metrics_without_a_token(remote, settings):
    settings.METRICS_TOKEN = "s3cret"
    response = _get(remote)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    assert b"trading_trades_total" in response.content


def test_remote_without_a_configured_token_is_forbidden(settings):
    settings.METRICS_TOKEN = ""
    response = _get("10.1.2.3")
    assert response.status_code == 403
    assert b"trading_" not in response.content


@pytest.mark.parametrize(
    "header",
    [None, "Bearer wrong", "Basic czNjcmV0", "Bearer", "s3cret", "Bearer s3cret-and-more"],
)
def test_remote_needs_the_right_bearer_token(settings, header):
    settings.METRICS_TOKEN = "s3cret"
    extra = {"HTTP_AUTHORIZATION": header} if header is not None else {}
    response = _get("10.1.2.3", **extra)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"trading_" not in response.content


def test_remote_with_the_token_reads_metrics(settings):
    settings.METRICS_TOKEN = "s3cret"
    response = _get("10.1.2.3", HTTP_AUTHORIZATION="Bearer s3cret")
    assert response.status_code == 200
    assert b"trading_trades_total" in response.content
    assert _get("10.1.2.3", HTTP_AUTHORIZATION="bearer s3cret").status_code == 200


def test_a_request_relayed_by_a_local_proxy_is_not_loopback(settings):
    settings.METRICS_TOKEN = "s3cret"
    assert _get("127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 401
    assert _get("127.0.0.1", HTTP_FORWARDED="for=203.0.113.9").status_code == 401
    settings.METRICS_TOKEN = ""
    assert _get("127.0.0.1", HTTP_X_FORWARDED_FOR="127.0.0.1").status_code == 403


def test_only_get_is_served():
    assert Client(REMOTE_ADDR="127.0.0.1").post("/metrics").status_code == 405


def test_the_token_can_come_from_a_file(tmp_path, monkeypatch):
    import importlib

    import tradingsite.settings as desk_settings

    token = tmp_path / "metrics_token"
    token.write_text("from-a-file\n")
    monkeypatch.delenv("METRICS_TOKEN", raising=False)
    monkeypatch.setenv("METRICS_TOKEN_FILE", str(token))
    try:
        assert importlib.reload(desk_settings).METRICS_TOKEN == "from-a-file"
    finally:
        monkeypatch.delenv("METRICS_TOKEN_FILE")
        importlib.reload(desk_settings)
