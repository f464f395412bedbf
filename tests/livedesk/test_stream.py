"""The desk's WebSocket on a real uvicorn process: who may connect, a snapshot then every event in
order, a resume that misses nothing, a fresh snapshot past the pruning horizon, the metrics - and, on
PostgreSQL + Redis, two web processes fanned out through channels-redis, surviving the death of the
one that relays."""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import timedelta

import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.helpers import user_with_role
from tests.livedesk.servers import WebServer, child_env, wait_for
from trading import outbox
from trading.outbox import OutboxEvent

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def user():
    return user_with_role("viewer", "viewer", password="pw")


@pytest.fixture
def token(user) -> str:
    return Token.objects.create(user=user).key


@pytest.fixture
def web(tmp_path):
    server = WebServer(child_env(tmp_path), tmp_path / "web.log").start()
    yield server
    server.stop()


def emit(n: int, prefix: str = "e") -> list[int]:
    """``n`` events, committed in transactions of up to 10; returns the ids."""
    ids = []
    for start in range(0, n, 10):
        with transaction.atomic():
            for i in range(start, min(start + 10, n)):
                ids.append(outbox.emit(outbox.FEED, key=f"{prefix}{i}", index="NIFTY", data={"i": i}).id)
    return ids


def frames(ws, *, until: int, timeout: float = 20.0) -> list[dict]:
    """The events received until the client's position reaches ``until``."""
    got: list[dict] = []
    deadline = time.monotonic() + timeout
    position = -1
    while position < until:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"position {position} < {until} after {timeout}s; got {len(got)} events")
        message = json.loads(ws.recv(timeout=left))
        if message["type"] == "events":
            got.extend(message["events"])
        position = message["position"]
    return got


def desk(server: WebServer, token: str, after: int | None = None):
    query = f"?after={after}" if after is not None else ""
    return connect(
        server.ws_url + query, additional_headers={"Authorization": f"Token {token}"}, open_timeout=20
    )


def test_only_a_viewer_connects_by_token_or_by_its_session_from_this_site(web, user, token):
    with pytest.raises(InvalidStatus) as refused:
        connect(web.ws_url, open_timeout=20)
    assert refused.value.response.status_code == 403
    with pytest.raises(InvalidStatus):
        connect(web.ws_url + "?token=not-a-token", open_timeout=20)
    with desk(web, token) as ws:
        assert json.loads(ws.recv(timeout=20))["type"] == "snapshot"

    browser = Client()
    assert browser.login(username="viewer", password="pw")
    cookie = f"sessionid={browser.cookies['sessionid'].value}"
    with pytest.raises(InvalidStatus):  # another site riding the cookie
        connect(
            web.ws_url, additional_headers={"Cookie": cookie}, origin="http://evil.example", open_timeout=20
        )
    with connect(web.ws_url, additional_headers={"Cookie": cookie}, origin=web.url, open_timeout=20) as ws:
        assert json.loads(ws.recv(timeout=20))["type"] == "snapshot"
    user.is_active = False
    user.save()
    with pytest.raises(InvalidStatus):
        desk(web, token)


def test_snapshot_then_every_event_in_order_and_a_resume_misses_nothing(web, token):
    emit(5, "before")
    with desk(web, token) as ws:
        snapshot = json.loads(ws.recv(timeout=20))
        assert snapshot["type"] == "snapshot" and snapshot["position"] == outbox.head()
        start = snapshot["position"]
        emit(30, "live")
        got = frames(ws, until=start + 30)
    assert [e["seq"] for e in got] == list(range(start + 1, start + 31))
    assert [e["key"] for e in got] == [f"live{i}" for i in range(30)]
    assert all(e["kind"] == "feed" and e["data"]["i"] == i for i, e in enumerate(got))

    # Away for a while: 25 events happen; back with ?after=<last position>: exactly those, no snapshot.
    left_at = got[-1]["seq"]
    emit(25, "missed")
    with desk(web, token, after=left_at) as ws:
        first = json.loads(ws.recv(timeout=20))
        assert first["type"] == "events" and first["events"][0]["seq"] == left_at + 1
        rest = (
            first["events"] + frames(ws, until=left_at + 25)
            if first["position"] < left_at + 25
            else first["events"]
        )
    assert [e["key"] for e in rest] == [f"missed{i}" for i in range(25)]

    # A position the outbox no longer keeps (pruned), or one it never had: a fresh snapshot.
    OutboxEvent.objects.filter(seq__lte=left_at).update(created_at=timezone.now() - timedelta(days=30))
    assert outbox.prune(7) > 0
    for stale in (start, outbox.head() + 100):
        with desk(web, token, after=stale) as ws:
            message = json.loads(ws.recv(timeout=20))
            assert message["type"] == "snapshot" and message["position"] == outbox.head()


def _metric(server: WebServer, name: str) -> float:
    text = urllib.request.urlopen(server.url + "/metrics", timeout=20).read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def test_connections_messages_and_send_lag_are_measured(web, token):
    with desk(web, token) as a, desk(web, token) as b:
        for ws in (a, b):
            ws.recv(timeout=20)
        assert _metric(web, "trading_websocket_connections") == 2
        start = outbox.head()
        emit(12, "m")
        for ws in (a, b):
            frames(ws, until=start + 12)
        assert _metric(web, 'trading_websocket_messages_sent_total{kind="feed"}') == 24
        assert _metric(web, 'trading_websocket_messages_sent_total{kind="snapshot"}') == 2
        assert _metric(web, "trading_websocket_event_lag_seconds_count") >= 2
    wait_for(lambda: _metric(web, "trading_websocket_connections") == 0, 20, "the gauge back at 0")


@pytest.mark.services
def test_two_web_processes_fan_out_through_redis_and_survive_the_relay_dying(tmp_path, token):
    import redis
    from django.conf import settings

    url = settings.CHANNELS_REDIS_URL
    assert url, "CHANNELS_REDIS_URL or REDIS_URL"
    redis.Redis.from_url(url).delete("desk:relay:leader", "desk:relay:position")
    one = WebServer(child_env(tmp_path, redis=url), tmp_path / "web1.log").start()
    two = WebServer(child_env(tmp_path, redis=url), tmp_path / "web2.log").start()
    try:
        with desk(one, token) as a, desk(two, token) as b:
            start = min(
                json.loads(a.recv(timeout=20))["position"], json.loads(b.recv(timeout=20))["position"]
            )
            emit(40, "both")
            got_a, got_b = frames(a, until=start + 40), frames(b, until=start + 40)
            assert [e["key"] for e in got_a] == [e["key"] for e in got_b] == [f"both{i}" for i in range(40)]
            b_at = got_b[-1]["seq"]
        # The relay may be in either process: kill one, the other goes on (taking over the lease).
        one.kill()
        with desk(two, token, after=b_at) as b:
            emit(30, "after")
            got = frames(b, until=b_at + 30, timeout=30)
            assert [e["key"] for e in got] == [f"after{i}" for i in range(30)]
        one.start()
        with desk(one, token, after=b_at) as a:  # back: resumes from where it was, nothing missed
            assert [e["key"] for e in frames(a, until=b_at + 30)] == [f"after{i}" for i in range(30)]
            emit(10, "again")
            assert [e["key"] for e in frames(a, until=b_at + 40)] == [f"again{i}" for i in range(10)]
    finally:
        one.stop()
        two.stop()
