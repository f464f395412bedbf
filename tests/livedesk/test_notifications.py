"""Notifications: a consumer of the outbox that sends each event type on the channels that opted into
it - Telegram (a local server speaking the Bot API) and e-mail (Django's locmem backend) - rate-limited
(Telegram's 429 ``retry_after`` honoured), retried, failures logged and counted, never raised, never in
a cycle's way; the spool watch, the daily summary's table, and the staff page's test message."""

from __future__ import annotations

import logging
import threading
from decimal import Decimal

import pytest
from django.core import mail
from django.db import transaction

from journal import spool
from journal.models import Trade
from tests.engine.conftest import DAY
from tests.helpers import user_with_role
from tests.livedesk.servers import wait_for
from tests.telegram_server import FakeTelegram
from trading import metrics, outbox
from trading.execution.controls import kill_switch_set
from trading.execution.models import Order, OrderStatus
from trading.notifications import messages
from trading.notifications.dispatch import (
    Channel,
    Notifier,
    TokenBucket,
    channels_from_settings,
    start_thread,
)
from trading.notifications.transports import EmailTransport, TelegramTransport

pytestmark = pytest.mark.django_db


class Sleeps:
    """A ``sleep`` that records what it was asked to wait (and waits nothing)."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def telegram(settings):
    with FakeTelegram() as fake:
        settings.TELEGRAM_BOT_TOKEN = fake.token
        settings.TELEGRAM_CHAT_ID = fake.chat_id
        settings.TELEGRAM_API_BASE = fake.url
        settings.TELEGRAM_EVENTS = ["fill", "trade_closed", "kill_switch", "feed", "spool"]
        settings.TELEGRAM_MESSAGES_PER_MINUTE = 6000.0
        settings.NOTIFY_EMAIL_TO = ["trader@example.com"]
        settings.NOTIFY_EMAIL_EVENTS = ["breaker", "kill_switch", "daily_summary"]
        settings.NOTIFY_EMAILS_PER_MINUTE = 6000.0
        settings.NOTIFY_RETRIES = 2
        yield fake


@pytest.fixture
def staff():
    return user_with_role("operator", "boss", password="pw")


def counted(channel: str, outcome: str) -> float:
    return metrics.NOTIFICATIONS.labels(channel, outcome)._value.get()


def test_the_token_bucket_allows_its_rate_and_honours_a_hold():
    now = [0.0]
    bucket = TokenBucket(per_minute=60, burst=2, clock=lambda: now[0])
    assert bucket.wait_time() == 0
    bucket.take()
    bucket.take()
    assert bucket.wait_time() == pytest.approx(1.0)  # 60 a minute: one a second once the burst is spent
    now[0] += 1.0
    assert bucket.wait_time() == 0
    bucket.hold(7)
    assert bucket.wait_time() == pytest.approx(7.0)


@pytest.mark.slow
def test_each_channel_gets_only_the_event_types_it_opted_into(telegram, paper_desk, source, staff):
    notifier = Notifier(sleep=Sleeps())
    notifier.run_once()  # first start: from the head (history is not news)
    day = source.day(DAY)
    for i in range(len(day)):
        paper_desk.cycle(bar=day.bar(i))
    kill_switch_set(index="NIFTY", on=True, user=staff, reason="drill")
    outcome = notifier.run_once(budget=600)
    assert outcome.position == outbox.head() and not outcome.errors

    texts = [m["text"] for m in telegram.messages]
    filled = Order.objects.filter(status=OrderStatus.FILLED, parent__isnull=True)
    trades = list(Trade.objects.order_by("exit_time"))
    assert sum(t.startswith("Fill:") for t in texts) == filled.count() > 0
    closed = [t for t in texts if t.startswith("Trade closed:")]
    assert len(closed) == len(trades) > 0
    for trade in trades:  # each with its net P&L, as the journal stored it
        assert any(trade.tradingsymbol in t and f"net Rs {trade.net_pnl:,.2f}" in t for t in closed)
    assert sum(t.startswith("Kill switch ON") for t in texts) == 1
    assert not any("summary" in t.lower() for t in texts)  # not a Telegram type here

    subjects = [m.subject for m in mail.outbox]
    assert not any(s.startswith(("Fill", "Trade closed")) for s in subjects)  # not e-mail types here
    assert sum(s.startswith("Kill switch ON") for s in subjects) == 1
    (summary,) = [m for m in mail.outbox if m.subject.startswith("Daily summary")]
    net = sum((t.net_pnl for t in trades), Decimal(0))
    assert f"net Rs {net:,.2f}" in summary.subject
    wins = sum(1 for t in trades if t.net_pnl > 0)
    assert f"{len(trades)} trade(s), {wins} win(s)" in summary.body
    for trade in trades:  # the day's table: a row per trade
        assert any(
            trade.tradingsymbol in line and f"{trade.net_pnl:,.2f}" in line
            for line in summary.body.splitlines()
        )
    html = summary.alternatives[0][0]
    assert html.count("<tr>") == len(trades) + 1

    notifier.run_once()  # nothing new: nothing sent again (the summary once per session)
    assert len(telegram.messages) == len(texts) and len(mail.outbox) == len(subjects)


def _kill_switch_event(staff, on: bool = True) -> None:
    kill_switch_set(index="NIFTY", on=on, user=staff, reason="test")


def test_a_429_is_honoured_by_waiting_its_retry_after_then_sent_once(telegram, staff, settings):
    settings.NOTIFY_EMAIL_TO = []
    sleeps = Sleeps()
    notifier = Notifier(sleep=sleeps)
    notifier.run_once()
    telegram.answers = [429]
    before = counted("telegram", "rate_limited")
    _kill_switch_event(staff)
    notifier.run_once()
    assert len(telegram.requests) == 2 and len(telegram.messages) == 1
    assert sleeps.waits and sleeps.waits[-1] == pytest.approx(telegram.retry_after, abs=0.2)
    assert counted("telegram", "rate_limited") == before + 1


def test_failures_are_retried_then_logged_and_counted_never_raised(telegram, staff, settings, caplog):
    settings.NOTIFY_EMAIL_TO = []
    notifier = Notifier(sleep=Sleeps())
    notifier.run_once()
    telegram.answers = [500] * 10
    failed = counted("telegram", "failed")
    _kill_switch_event(staff)
    with caplog.at_level(logging.ERROR):
        outcome = notifier.run_once()
    assert len(telegram.requests) == 1 + settings.NOTIFY_RETRIES and not telegram.messages
    assert counted("telegram", "failed") == failed + 1
    assert "not sent" in caplog.text and outcome.position == outbox.head()  # left behind, cursor on
    # A permanent failure (a wrong token) is not retried.
    settings.TELEGRAM_BOT_TOKEN = "999:WRONG"
    telegram.answers, telegram.requests = [], []
    _kill_switch_event(staff, on=False)
    Notifier(sleep=Sleeps()).run_once()
    assert len(telegram.requests) == 1 and not telegram.messages


def test_a_pass_out_of_time_resumes_without_sending_twice(telegram, staff, settings):
    telegram.retry_after = 100
    channels = channels_from_settings()
    email = next(c for c in channels if c.transport.name == "email")
    tg = next(c for c in channels if c.transport.name == "telegram")
    Notifier([email, tg]).run_once()
    telegram.answers = [429]
    _kill_switch_event(staff)
    first = Notifier([email, tg], sleep=Sleeps()).run_once(budget=1)
    assert first.stopped_early and len(mail.outbox) == 1 and not telegram.messages
    again = channels_from_settings()
    Notifier(
        [c for c in again if c.transport.name == "email"]
        + [c for c in again if c.transport.name == "telegram"]
    ).run_once()
    assert len(mail.outbox) == 1 and len(telegram.messages) == 1  # e-mail not sent twice


def test_the_feed_going_down_and_the_spool_not_draining_are_told(telegram, settings):
    settings.NOTIFY_SPOOL_ALERT_SECONDS = 0
    notifier = Notifier(sleep=Sleeps())
    notifier.run_once()
    with transaction.atomic():
        outbox.emit(outbox.FEED, key="NIFTY", index="NIFTY", data={"state": "down", "detail": "no bar"})
    spool.append("trade", "T-9", {"trade_id": "T-9"})
    notifier.run_once()
    texts = [m["text"] for m in telegram.messages]
    assert any(t.startswith("Market feed DOWN") and "no bar" in t for t in texts)
    assert any(t.startswith("Spool not draining: 1 write(s) waiting") for t in texts)
    spool.spool_path().write_text("")
    notifier.run_once()
    assert telegram.messages[-1]["text"].startswith("Spool drained")


@pytest.mark.django_db(transaction=True)
def test_a_hanging_telegram_never_holds_up_the_trading_cycles(telegram, paper_desk, source, staff):
    telegram.hold = threading.Event()  # Telegram answers nothing until released
    stop = threading.Event()
    thread = start_thread(stop, Notifier(sleep=Sleeps()))
    try:
        wait_for(lambda: outbox.OutboxCursor.objects.exists(), 20, "the notifier's cursor")
        _kill_switch_event(staff)
        wait_for(lambda: telegram.requests, 20, "the notifier's request")
        _kill_switch_event(staff, on=False)
        day = source.day(DAY)
        for i in range(20):
            paper_desk.cycle(bar=day.bar(i))
        assert len(telegram.requests) == 1 and not telegram.messages  # still stuck meanwhile
        assert outbox.head() > 20
    finally:
        telegram.hold.set()
        stop.set()
        thread.join(20)
    assert not thread.is_alive()


def test_staff_send_a_test_message_from_the_page(telegram, client, staff):
    viewer = user_with_role("viewer", "viewer", password="pw")
    client.force_login(viewer)
    assert client.get("/notifications/").status_code == 403  # operators only
    client.force_login(staff)
    page = client.get("/notifications/")
    assert page.status_code == 200 and b"telegram" in page.content and b"email" in page.content
    answer = client.post("/notifications/", {"channel": "telegram"}, follow=True)
    assert b"Test message sent on telegram" in answer.content
    assert telegram.messages[-1]["text"].startswith("Options desk: test message")
    client.post("/notifications/", {"channel": "email"})
    assert mail.outbox[-1].subject == "Options desk: test message"


def test_transports_speak_the_bot_api_and_the_mail_backend(telegram):
    TelegramTransport(token=telegram.token, chat_id=telegram.chat_id, base_url=telegram.url).send(
        messages.Message("fill", "Subject <x>", "text", "<b>html</b>")
    )
    body = telegram.requests[-1]["body"]
    assert body["parse_mode"] == "HTML" and body["text"].startswith("<b>Subject &lt;x&gt;</b>")
    EmailTransport(recipients=["a@example.com"], sender="desk@example.com").send(
        messages.Message("x", "S", "T")
    )
    assert mail.outbox[-1].to == ["a@example.com"] and mail.outbox[-1].body == "T"
    assert isinstance(channels_from_settings()[0], Channel)
