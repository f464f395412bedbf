"""The /desk/ page and its inline controls: a login and the viewer permission to see it, operators
only for the controls, which go through the audited services and become events."""

from __future__ import annotations

import pytest

from tests.helpers import user_with_role
from trading import outbox
from trading.audit import ControlAudit
from trading.execution.models import TradingState

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer():
    return user_with_role("viewer", "viewer", password="pw")


@pytest.fixture
def staff():
    return user_with_role("operator", "boss", password="pw")


def test_the_page_needs_a_login_and_shows_the_controls_to_operators_only(client, viewer, staff):
    assert client.get("/desk/").status_code == 302
    client.force_login(viewer)
    page = client.get("/desk/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="desk"' in html and "livedesk/desk.js" in html and "vendor/chart.umd.min.js" in html
    assert 'id="kill-button"' not in html and "Only an operator" in html
    assert '<a href="/desk/">Desk</a>' in html  # in the nav
    assert 'href="/desk/" id="live-desk-link"' in client.get("/").content.decode()  # and on the home page
    client.force_login(staff)
    html = client.get("/desk/").content.decode()
    assert 'id="kill-button"' in html and '<dialog id="confirm">' in html
    assert "cdn" not in html.lower()


def test_the_inline_controls_are_audited_and_told_as_events(client, viewer, staff):
    client.force_login(viewer)
    assert client.post("/desk/kill-switch/", {"on": "1"}).status_code == 403
    assert not ControlAudit.objects.exists()
    client.force_login(staff)
    answer = client.post("/desk/kill-switch/", {"on": "1", "reason": "news at 14:00", "index": "NIFTY"})
    assert answer.status_code == 200 and answer.json() == {"index": "NIFTY", "kill_switch": True}
    assert TradingState.objects.get(index="NIFTY").kill_switch
    audit = ControlAudit.objects.get(action="kill_switch")
    assert (audit.user, audit.new_value, audit.detail) == (staff, "on", "news at 14:00")
    event = outbox.latest(outbox.KILL_SWITCH, index="NIFTY")
    assert event.data == {"index": "NIFTY", "on": True, "reason": "news at 14:00", "user": "boss"}
    assert client.post("/desk/breaker-reset/", {"reason": "checked"}).status_code == 200
    assert ControlAudit.objects.filter(action="circuit_breaker_reset", user=staff).exists()
    assert outbox.latest(outbox.BREAKER, index="NIFTY").data["on"] is False
    assert client.get("/desk/kill-switch/").status_code == 405
