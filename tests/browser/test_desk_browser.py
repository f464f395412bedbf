"""The live desk in a real browser during a simulated session: ``/desk/`` open while ``runtrader``
trades a day - positions appear, move and close, the P&L curve grows bar by bar, the page survives its
web server being killed mid-session and, once reconnected by itself, shows every event it missed
(checked against the database at the end). Embedded (SQLite, no Redis: the web process tails the
outbox) and, with PostgreSQL + Redis, two web processes fanned out through channels-redis."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from journal.models import Trade
from tests.helpers import user_with_role
from tests.livedesk.servers import Trader, WebServer, child_env, wait_for
from trading import outbox
from trading.audit import ControlAudit
from trading.execution.models import Order, Position
from trading.outbox import OutboxEvent
from trading.strategies.models import Signal

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SESSION = "2025-11-19"
SPEED = "60"  # market minutes per second: a session in about 7 s of trading

# Watches the positions table from the first paint: every mark each position showed, and whether its
# row went away (closed) - so "appear, move, close" is read from the DOM, not from the script's state.
RECORDER = """
window.__seen = {};
document.addEventListener('DOMContentLoaded', () => {
  const body = document.querySelector('#positions tbody');
  const look = () => {
    const present = new Set();
    for (const row of body.querySelectorAll('tr[data-position-id]')) {
      const id = row.dataset.positionId;
      present.add(id);
      const seen = (window.__seen[id] = window.__seen[id] || {marks: [], gone: false});
      const mark = row.querySelector('td.mark').textContent;
      if (seen.marks[seen.marks.length - 1] !== mark) seen.marks.push(mark);
    }
    for (const [id, seen] of Object.entries(window.__seen)) if (!present.has(id)) seen.gone = true;
  };
  new MutationObserver(look).observe(body, {childList: true, subtree: true});
});
"""


def _open_desk(browser, server: WebServer, session_cookie: str):
    context = browser.new_context(viewport={"width": 390, "height": 844})  # a phone
    context.set_default_timeout(30_000)
    context.add_cookies([{"name": "sessionid", "value": session_cookie, "url": server.url}])
    page = context.new_page()
    page.add_init_script(RECORDER)
    page.goto(server.url + "/desk/")
    page.wait_for_function("() => window.desk && window.desk.snapshots === 1")
    assert page.locator("#conn").get_attribute("data-state") == "live"
    return context, page


def _points(page) -> int:
    return int(page.get_attribute("#pnl-chart", "data-points") or 0)


def _check_everything_shown(page, first_position: int) -> None:
    """The page, caught up with the outbox, shows what the database holds."""
    head = outbox.head()
    wait_for(lambda: page.evaluate("() => window.desk.position") == head, 30, f"the page at position {head}")
    page.wait_for_function(f"() => document.getElementById('pnl-chart').dataset.points === '{375}'")
    trades = set(Trade.objects.values_list("trade_id", flat=True))
    assert trades
    shown_trades = set(
        page.eval_on_selector_all("#trades tr[data-trade-id]", "rs => rs.map(r => r.dataset.tradeId)")
    )
    assert shown_trades == trades
    shown_orders = dict(
        page.eval_on_selector_all(
            "#orders tr[data-client-order-id]",
            "rs => rs.map(r => [r.dataset.clientOrderId, r.dataset.status])",
        )
    )
    assert shown_orders == dict(Order.objects.values_list("client_order_id", "status"))
    shown_signals = set(
        page.eval_on_selector_all("#signals li[data-signal-id]", "ls => ls.map(l => l.dataset.signalId)")
    )
    assert shown_signals == {str(pk) for pk in Signal.objects.values_list("pk", flat=True)}
    assert page.locator("#positions tr[data-position-id]").count() == 0  # all squared off at the close
    # Every event after the snapshot was applied once, by kind.
    applied = page.evaluate("() => window.desk.applied")
    expected: dict[str, int] = {}
    for kind in OutboxEvent.objects.filter(seq__gt=first_position).values_list("kind", flat=True):
        expected[kind] = expected.get(kind, 0) + 1
    assert applied == expected
    # Positions appeared, moved (more than one mark shown) and closed.
    seen = page.evaluate("() => window.__seen")
    positions = set(Position.objects.values_list("position_id", flat=True))
    assert set(seen) == positions
    assert all(s["gone"] for s in seen.values())
    assert any(len(s["marks"]) > 1 for s in seen.values())


def _session_cookie(user_model) -> str:
    user_with_role("operator", "boss", password="pw")
    client = Client()
    assert client.login(username="boss", password="pw")
    return client.cookies["sessionid"].value


def test_live_desk_embedded_survives_its_web_server_dying(playwright_browser, tmp_path, screenshot_dir):
    cookie = _session_cookie(get_user_model())
    env = child_env(tmp_path)
    web = WebServer(env, tmp_path / "web.log").start()
    trader = Trader(env, tmp_path / "trader.log", start=SESSION, speed=SPEED)
    context = None
    try:
        context, page = _open_desk(playwright_browser, web, cookie)
        first = page.evaluate("() => window.desk.position")
        assert page.evaluate("() => window.desk.snapshots") == 1
        trader.start()
        wait_for(lambda: _points(page) >= 60, 90, "an hour of the P&L curve")
        grown = [_points(page)]
        time.sleep(0.5)
        grown.append(_points(page))
        assert grown[1] > grown[0]  # the curve grows bar by bar
        page.wait_for_selector("#positions tr[data-position-id]")  # a position appears
        page.screenshot(path=str(screenshot_dir / "desk-open-390.png"), full_page=True)

        web.kill()  # forced disconnect: the server dies mid-session, the loop trades on
        page.wait_for_function("() => document.getElementById('conn').dataset.state === 'reconnecting'")
        missed_from = page.evaluate("() => window.desk.position")
        wait_for(lambda: outbox.head() > missed_from + 200, 60, "events the page cannot see")
        web.start()
        page.wait_for_function("() => document.getElementById('conn').dataset.state === 'live'")
        assert trader.wait(timeout=120) == 0
        _check_everything_shown(page, first)
        assert page.evaluate("() => window.desk.snapshots") == 1  # resumed, not reloaded
        assert page.evaluate("() => window.desk.connects") >= 2
        page.screenshot(path=str(screenshot_dir / "desk-390.png"), full_page=True)
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 390  # nothing wider than the phone (tables scroll inside their cards)

        # The operator's kill switch, inline: a confirmation dialog, the audited service, the event back.
        page.click("#kill-button")
        page.fill("#confirm-reason", "drill from the desk")
        page.click("#confirm-ok")
        page.wait_for_function("() => document.getElementById('kill-state').dataset.on === '1'")
        audit = ControlAudit.objects.get(action="kill_switch")
        assert (audit.user.username, audit.new_value, audit.detail) == ("boss", "on", "drill from the desk")
        page.click("#kill-button")
        page.click("#confirm-form button[value=cancel]")  # cancelled: nothing happens
        time.sleep(0.5)
        assert ControlAudit.objects.filter(action="kill_switch").count() == 1
    finally:
        if context is not None:
            context.close()
        trader.stop()
        web.stop()


@pytest.mark.services
def test_live_desk_on_postgresql_and_redis_with_two_web_processes(playwright_browser, tmp_path):
    import redis
    from django.conf import settings

    cookie = _session_cookie(get_user_model())
    redis.Redis.from_url(settings.CHANNELS_REDIS_URL).delete("desk:relay:leader", "desk:relay:position")
    env = child_env(tmp_path, redis=settings.CHANNELS_REDIS_URL)
    one, two = WebServer(env, tmp_path / "web1.log").spawn(), WebServer(env, tmp_path / "web2.log").spawn()
    one.ready(), two.ready()
    trader = Trader(env, tmp_path / "trader.log", start=SESSION, speed=SPEED)
    contexts = []
    try:
        context_a, page_a = _open_desk(playwright_browser, one, cookie)
        context_b, page_b = _open_desk(playwright_browser, two, cookie)
        contexts = [context_a, context_b]
        firsts = [page.evaluate("() => window.desk.position") for page in (page_a, page_b)]
        trader.start()
        wait_for(lambda: _points(page_a) >= 60 and _points(page_b) >= 60, 90, "the curve on both pages")
        one.kill()  # page A loses its server (and perhaps the relay); page B goes on through the other
        page_a.wait_for_function("() => document.getElementById('conn').dataset.state === 'reconnecting'")
        at = _points(page_b)
        wait_for(lambda: _points(page_b) > at + 30, 60, "page B still live")
        one.start()
        page_a.wait_for_function("() => document.getElementById('conn').dataset.state === 'live'")
        assert trader.wait(timeout=120) == 0
        for page, first in zip((page_a, page_b), firsts):
            _check_everything_shown(page, first)
            assert page.evaluate("() => window.desk.snapshots") == 1
    finally:
        for context in contexts:
            context.close()
        trader.stop()
        one.stop()
        two.stop()
