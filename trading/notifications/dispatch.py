"""The notifier: a consumer of the outbox of its own, never part of a cycle.

It reads the outbox after its cursor (``OutboxCursor`` "notifications", started at the head the first
time: history is not news), turns each event of a notification type into a message, and sends it on
every channel that opted into that type - each channel behind its own rate limit (a token bucket;
Telegram's 429 ``retry_after`` honoured), a failure retried with backoff, then logged and counted
(``trading_notifications_total``) and left behind. Nothing it does raises into the engine: it runs
in a thread beside ``runtrader`` (embedded: Celery tasks run eagerly inside the cycle there, so a
task would not do) or as the ``trading.tasks.notify`` task on its own queue (distributed).

Beside the outbox it watches the spool (``journal.spool``: writes waiting longer than
``NOTIFY_SPOOL_ALERT_SECONDS`` while the database is away - which is also when no event can be
written) and, on the wall clock, sends the day's summary at ``NOTIFY_DAILY_SUMMARY_AT`` IST when the
session's close was not seen in the outbox (a loop stopped early).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from datetime import time as clock_time

from django.conf import settings
from django.db import close_old_connections, transaction
from django.utils import timezone

from journal import spool
from journal.models import Trade
from trading import metrics, outbox
from trading.core import calendar as market_calendar
from trading.notifications import messages
from trading.notifications.transports import (
    EmailTransport,
    Message,
    PermanentFailure,
    RateLimited,
    TelegramTransport,
    TemporaryFailure,
    Transport,
)

log = logging.getLogger(__name__)

CURSOR = "notifications"
MAX_WAIT_SECONDS = 120.0  # the longest one message waits for a rate limit before it is given up


class TokenBucket:
    """At most ``per_minute`` messages a minute, in bursts of up to ``burst``; ``hold(seconds)`` when
    the channel itself asks for a pause."""

    def __init__(
        self, per_minute: float, burst: int = 3, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = max(per_minute, 0.01) / 60.0
        self.capacity = float(max(burst, 1))
        self.tokens = self.capacity
        self.clock = clock
        self.stamp = clock()
        self.until = 0.0

    def wait_time(self) -> float:
        """Seconds until a message may go (0: now)."""
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        held = max(self.until - now, 0.0)
        return max(held, 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate)

    def take(self) -> None:
        self.wait_time()
        self.tokens -= 1

    def hold(self, seconds: float) -> None:
        self.until = max(self.until, self.clock() + seconds)


@dataclass
class Channel:
    """A transport, the notification types it wants, and its rate limit."""

    transport: Transport
    types: frozenset[str]
    bucket: TokenBucket


@dataclass
class Outcome:
    """What one ``Notifier.run_once`` did."""

    events: int = 0
    sent: int = 0
    failed: int = 0
    position: int = 0
    stopped_early: bool = False
    errors: list[str] = field(default_factory=list)


def channels_from_settings() -> list[Channel]:
    """The channels configured in settings (Telegram needs a token and a chat; e-mail recipients)."""
    out = []
    if settings.TELEGRAM_BOT_TOKEN and settings.TELEGRAM_CHAT_ID:
        out.append(
            Channel(
                TelegramTransport(
                    token=settings.TELEGRAM_BOT_TOKEN,
                    chat_id=settings.TELEGRAM_CHAT_ID,
                    base_url=settings.TELEGRAM_API_BASE,
                    timeout=settings.NOTIFY_TIMEOUT,
                ),
                frozenset(settings.TELEGRAM_EVENTS) & frozenset(messages.TYPES),
                TokenBucket(settings.TELEGRAM_MESSAGES_PER_MINUTE),
            )
        )
    if settings.NOTIFY_EMAIL_TO:
        out.append(
            Channel(
                EmailTransport(recipients=settings.NOTIFY_EMAIL_TO, sender=settings.DEFAULT_FROM_EMAIL),
                frozenset(settings.NOTIFY_EMAIL_EVENTS) & frozenset(messages.TYPES),
                TokenBucket(settings.NOTIFY_EMAILS_PER_MINUTE),
            )
        )
    return out


class Notifier:
    """The outbox's notification consumer (see the module docstring)."""

    def __init__(
        self,
        channels: list[Channel] | None = None,
        *,
        retries: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = timezone.now,
        index: str | None = None,
    ) -> None:
        self.channels = channels_from_settings() if channels is None else channels
        self.retries = settings.NOTIFY_RETRIES if retries is None else retries
        self.sleep = sleep
        self.now = now
        self.index = (index or settings.TRADING_INDEX).upper()
        self._spool_since: float | None = None
        self._spool_alerted = False
        # Each channel's outcomes exist at 0 before its first message (rate() then sees that one).
        metrics.preset(notification_channels=[channel.transport.name for channel in self.channels])

    # --- sending ---
    def deliver(self, channel: Channel, message: Message, *, deadline: float) -> bool:
        """Send ``message`` on ``channel`` within its rate limit: retried with backoff (1, 2, 4 s ...)
        on a temporary failure, after the pause a 429 asks for; False when given up (logged, counted)."""
        if channel.transport.name == "telegram" and message.kind == messages.DAILY_SUMMARY:
            message = messages.telegram_html(message)
        attempt = 0
        while True:
            wait = channel.bucket.wait_time()
            if wait > 0:
                if time.monotonic() + wait > deadline:
                    raise _OutOfTime
                self.sleep(wait)
            channel.bucket.take()
            try:
                channel.transport.send(message)
            except RateLimited as exc:
                metrics.notification(channel.transport.name, "rate_limited")
                log.warning(
                    "%s: rate limited, retrying after %.1f s", channel.transport.name, exc.retry_after
                )
                channel.bucket.hold(exc.retry_after)
                if exc.retry_after > MAX_WAIT_SECONDS:
                    return self._give_up(channel, message, exc)
                continue  # a requested pause is not a failed attempt
            except TemporaryFailure as exc:
                attempt += 1
                if attempt > self.retries:
                    return self._give_up(channel, message, exc)
                metrics.notification(channel.transport.name, "retried")
                log.warning("%s: %s (attempt %d, retrying)", channel.transport.name, exc, attempt)
                channel.bucket.hold(min(2 ** (attempt - 1), 30))
                continue
            except PermanentFailure as exc:
                return self._give_up(channel, message, exc)
            except Exception as exc:  # noqa: BLE001 - a bug in a transport must not stop the others
                return self._give_up(channel, message, exc)
            metrics.notification(channel.transport.name, "sent")
            return True

    def _give_up(self, channel: Channel, message: Message, exc: BaseException) -> bool:
        metrics.notification(channel.transport.name, "failed")
        log.error("%s: notification %r not sent: %s", channel.transport.name, message.subject, exc)
        return False

    def notify(self, message: Message, *, deadline: float, skip: frozenset[str] = frozenset()) -> list[str]:
        """Send ``message`` on every channel that opted into its type (except ``skip``); returns the
        names of the channels that are done with it (sent or given up)."""
        done = []
        for channel in self.channels:
            if message.kind in channel.types and channel.transport.name not in skip:
                self.deliver(channel, message, deadline=deadline)
                done.append(channel.transport.name)
        return done

    def send_test(self, channel_name: str) -> bool:
        """A test message on one channel, now (the staff page); True when it was accepted."""
        for channel in self.channels:
            if channel.transport.name == channel_name:
                message = Message(
                    "test", "Options desk: test message", f"Sent at {timezone.now():%Y-%m-%d %H:%M:%S %Z}."
                )
                return self.deliver(channel, message, deadline=time.monotonic() + 30)
        raise ValueError(f"no channel {channel_name!r} is configured")

    # --- the cursor ---
    def _cursor(self) -> outbox.OutboxCursor:
        cursor = outbox.OutboxCursor.objects.filter(name=CURSOR).first()
        if cursor is None:
            cursor, _ = outbox.OutboxCursor.objects.get_or_create(
                name=CURSOR, defaults={"position": outbox.head()}
            )
        return cursor

    def _save(self, cursor: outbox.OutboxCursor) -> None:
        with transaction.atomic():
            outbox.OutboxCursor.objects.filter(pk=cursor.pk).update(
                position=cursor.position, state=cursor.state
            )

    # --- one pass ---
    def run_once(self, *, budget: float = 30.0) -> Outcome:
        """Everything new since the cursor, the spool watch and the wall-clock summary, within about
        ``budget`` seconds; never raises."""
        outcome = Outcome()
        deadline = time.monotonic() + budget
        try:
            cursor = self._cursor()
            self._events(cursor, outcome, deadline)
            self._wall_clock_summary(cursor, deadline)
            outcome.position = cursor.position
        except _OutOfTime:
            outcome.stopped_early = True
        except Exception as exc:  # noqa: BLE001 - the notifier logs, counts and goes on
            log.exception("notifier pass failed")
            metrics.system_error("notifications")
            outcome.errors.append(f"{type(exc).__name__}: {exc}")
        try:
            self._watch_spool(deadline)
        except _OutOfTime:
            outcome.stopped_early = True
        except Exception as exc:  # noqa: BLE001
            log.exception("spool watch failed")
            outcome.errors.append(f"{type(exc).__name__}: {exc}")
        return outcome

    def _events(self, cursor: outbox.OutboxCursor, outcome: Outcome, deadline: float) -> None:
        while True:
            batch = outbox.read(cursor.position, limit=200)
            if not batch:
                return
            for event in batch:
                outcome.events += 1
                message = self._message(event, cursor)
                if message is not None:
                    self._send_once(message, event, cursor, deadline)
                    outcome.sent += 1
                cursor.position = event.seq
                cursor.state.pop("partial", None)
                self._save(cursor)

    def _send_once(
        self, message: Message, event: outbox.OutboxEvent, cursor: outbox.OutboxCursor, deadline: float
    ) -> None:
        """Each opted-in channel once: the channels done are kept in the cursor's state, so a pass that
        runs out of time resumes this event with the others only."""
        partial = cursor.state.get("partial") or {}
        done = set(partial.get("done", [])) if partial.get("seq") == event.seq else set()
        for channel in self.channels:
            name = channel.transport.name
            if message.kind not in channel.types or name in done:
                continue
            try:
                self.deliver(channel, message, deadline=deadline)
            except _OutOfTime:
                cursor.state["partial"] = {"seq": event.seq, "done": sorted(done)}
                self._save(cursor)
                raise
            done.add(name)

    def _message(self, event: outbox.OutboxEvent, cursor: outbox.OutboxCursor) -> Message | None:
        kind = messages.type_of(event)
        if kind is None or not any(kind in channel.types for channel in self.channels):
            return None
        if kind == messages.DAILY_SUMMARY:
            session = date.fromisoformat(event.data["session"])
            return self._summary(event.index or self.index, session, cursor)
        return messages.message_of(event)

    def _summary(self, index: str, session: date, cursor: outbox.OutboxCursor) -> Message | None:
        """The day's summary once per session and index (remembered in the cursor's state)."""
        sent = cursor.state.setdefault("summaries", [])
        tag = f"{index}:{session.isoformat()}"
        if tag in sent:
            return None
        sent.append(tag)
        del sent[:-30]
        trades = Trade.objects.filter(symbol=index, trade_date=session).exclude(entry_mode="BACKTEST")
        return messages.daily_summary(index, session, trades.order_by("exit_time", "id"))

    def _wall_clock_summary(self, cursor: outbox.OutboxCursor, deadline: float) -> None:
        now = self.now().astimezone(market_calendar.IST)
        at = clock_time.fromisoformat(settings.NOTIFY_DAILY_SUMMARY_AT)
        today = now.date()
        if now.time() < at or not market_calendar.is_trading_day(today):
            return
        trades = Trade.objects.filter(symbol=self.index, trade_date=today).exclude(entry_mode="BACKTEST")
        if not trades.exists() or not any(messages.DAILY_SUMMARY in c.types for c in self.channels):
            return
        message = self._summary(self.index, today, cursor)
        if message is not None:
            self.notify(message, deadline=deadline)
            self._save(cursor)

    def _watch_spool(self, deadline: float) -> None:
        depth = spool.depth()
        if depth == 0:
            if self._spool_alerted:
                self.notify(messages.spool_drained_message(), deadline=deadline)
            self._spool_since, self._spool_alerted = None, False
            return
        now = time.monotonic()
        if self._spool_since is None:
            self._spool_since = now
        waited = now - self._spool_since
        if not self._spool_alerted and waited >= settings.NOTIFY_SPOOL_ALERT_SECONDS:
            self._spool_alerted = True
            self.notify(messages.spool_message(depth, waited), deadline=deadline)

    # --- the embedded thread ---
    def run_forever(self, stop: threading.Event, *, poll: float | None = None) -> None:
        """Run passes until ``stop`` is set (the thread beside ``runtrader``)."""
        poll = settings.NOTIFY_POLL_SECONDS if poll is None else poll
        while not stop.is_set():
            self.run_once(budget=max(poll * 30, 30.0))
            close_old_connections()
            stop.wait(poll)


class _OutOfTime(Exception):
    """The pass's budget ran out while waiting for a rate limit: stop, resume next pass."""


def start_thread(stop: threading.Event, notifier: Notifier | None = None) -> threading.Thread | None:
    """Start the notifier in a daemon thread (embedded mode); None when no channel is configured."""
    notifier = notifier or Notifier()
    if not notifier.channels:
        return None
    thread = threading.Thread(target=notifier.run_forever, args=(stop,), name="notifier", daemon=True)
    thread.start()
    return thread


def notify_pending(budget: float = 40.0) -> Outcome:
    """One pass of the notifier (the distributed task's body)."""
    return Notifier().run_once(budget=budget)
