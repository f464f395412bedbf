"""The outbox: every event a trader watches, written in the same transaction as the change it describes,
read back in commit order. A leaf that every layer above ``trading.core`` may write to (Django and the
standard library only; nothing else of the project).

Writers call ``emit(kind, key=..., index=..., at=..., data={...})`` inside their transaction: the event
commits with the change or not at all. Readers (the live desk's WebSocket relay, the notifier) read
events by **position** (``seq``), never by ``id``:

* ``id`` is handed out when a row is inserted, not when it commits. On PostgreSQL two transactions can
  commit out of order (id 6 before id 5), and a reader taking ``id > last`` after seeing 6 would skip
  5 for ever.
* ``seq`` is given to committed rows only, in one place at a time - "one writer per sequence":
  on PostgreSQL the reader's ``sequence()`` numbers the committed rows that have none yet, in id order,
  under an advisory lock (a row still in flight is invisible to it and gets a later number once it
  commits); SQLite has one writer at a time (immediate transactions), so ids already follow commit
  order there and ``emit`` numbers its row in the same statement. Readers only read numbered rows, so
  a position once read is never followed by a smaller one.

Events older than ``OUTBOX_RETENTION_DAYS`` are pruned (``prune``); the newest is always kept, so
positions keep growing. A reader whose position is older than the oldest kept event must start again
from a snapshot (``horizon``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection, models, transaction
from django.db.models import Max, Min, Q
from django.utils import timezone

# The event kinds (``OutboxEvent.kind``) and the id each carries in ``key``.
BAR = "bar"  # key: the bar's time; data: spot, VIX, PCR, max pain, ATM IV, expiry, today's P&L
SIGNAL = "signal"  # key: the signal's id; data: strategy, direction, status, reason codes
ORDER = "order"  # key: the client order id; data: from -> to status, reason, fills
FILL = "fill"  # key: the client order id; data: quantity and price filled
POSITION_OPENED = "position.opened"  # key: position_id (= the journal's trade_id)
POSITION_MARKED = "position.marked"  # key: position_id; data: mark, unrealised P&L, Greeks, levels
POSITION_CLOSED = "position.closed"  # key: position_id
TRADE_RECORDED = "trade.recorded"  # key: trade_id; data: net P&L and the trade's facts
BREAKER = "breaker"  # key: the index; data: on/off and the reason
KILL_SWITCH = "kill_switch"  # key: the index; data: on/off, who, why
MODE = "mode"  # key: the index; data: the mode and what changed it
FEED = "feed"  # key: the index; data: state up / down / stale
SESSION_CLOSED = "session.closed"  # key: the session date; data: the index
KINDS = (
    BAR,
    SIGNAL,
    ORDER,
    FILL,
    POSITION_OPENED,
    POSITION_MARKED,
    POSITION_CLOSED,
    TRADE_RECORDED,
    BREAKER,
    KILL_SWITCH,
    MODE,
    FEED,
    SESSION_CLOSED,
)

SEQUENCER_LOCK = 0x6F7574626F78  # "outbox": the PostgreSQL advisory lock of the sequencer


class OutboxEvent(models.Model):
    """One event a trader watches, committed with the change it describes. ``seq`` is its position in
    commit order (null until the sequencer numbers it); ``at`` the market-clock time of what happened,
    ``created_at`` the wall clock of the write."""

    seq = models.BigIntegerField(null=True, blank=True, unique=True)
    kind = models.CharField(max_length=24)
    index = models.CharField(max_length=20, blank=True, default="")
    key = models.CharField(max_length=64, blank=True, default="", help_text="The id a client needs")
    at = models.DateTimeField(null=True, blank=True, help_text="Market-clock time of the event")
    created_at = models.DateTimeField(help_text="Wall-clock time the event was written")
    data = models.JSONField(default=dict)

    class Meta:
        app_label = "trading"
        ordering = ["seq"]
        indexes = [
            models.Index(fields=["id"], condition=Q(seq__isnull=True), name="outbox_unsequenced"),
            models.Index(fields=["kind", "key"], name="outbox_kind_key"),
            models.Index(fields=["kind", "index", "at"], name="outbox_kind_index_at"),
            models.Index(fields=["created_at"], name="outbox_created"),
        ]

    def __str__(self) -> str:
        return f"{self.seq or '-'} {self.kind} {self.key}"

    def as_message(self) -> dict[str, Any]:
        """The event as a client receives it (JSON-ready)."""
        return {
            "seq": self.seq,
            "kind": self.kind,
            "index": self.index,
            "key": self.key,
            "at": self.at.isoformat() if self.at else None,
            "created": self.created_at.timestamp(),
            "data": self.data,
        }


class OutboxCursor(models.Model):
    """How far a named consumer of the outbox (the notifier) has read, and its own small state."""

    name = models.CharField(max_length=40, unique=True)
    position = models.BigIntegerField(default=0)
    state = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "trading"

    def __str__(self) -> str:
        return f"{self.name} at {self.position}"


# --- writing -----------------------------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """``value`` as JSON types: Decimals as strings (exact, as the API shows them), times in ISO 8601,
    NaN and infinities as null."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [plain(v) for v in value]
    if isinstance(value, Decimal):
        return str(value) if value.is_finite() else None
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if value is None or isinstance(value, str | int | bool):
        return value
    if hasattr(value, "item"):  # numpy scalars
        return plain(value.item())
    return str(value)


_suppressed: ContextVar[bool] = ContextVar("outbox_suppressed", default=False)


@contextmanager
def suppressed() -> Iterator[None]:
    """``with outbox.suppressed(): ...`` writes no events in this thread or task meanwhile: for bulk
    loads that are history, not news (a journal import)."""
    token = _suppressed.set(True)
    try:
        yield
    finally:
        _suppressed.reset(token)


def emit(
    kind: str,
    *,
    key: object = "",
    index: str = "",
    at: datetime | None = None,
    data: Mapping[str, Any] | None = None,
) -> OutboxEvent | None:
    """Write one event in the caller's transaction (call it inside the ``transaction.atomic`` that
    writes the change). ``key`` is the id a client needs (trade_id, client order id, position_id);
    ``at`` the market-clock time. Returns the row (its ``seq`` is set on SQLite, later on PostgreSQL)."""
    if _suppressed.get():
        return None
    if kind not in KINDS:
        raise ValueError(f"unknown outbox event kind {kind!r}")
    event = OutboxEvent(
        kind=kind,
        key=str(key)[:64],
        index=(index or "")[:20],
        at=at,
        created_at=timezone.now(),
        data=plain(dict(data or {})),
    )
    with transaction.atomic(savepoint=False):
        event.save()
        if connection.vendor == "sqlite":
            # One writer at a time: this row's id follows every committed one, so it is its position.
            OutboxEvent.objects.filter(pk=event.pk).update(seq=event.pk)
            event.seq = event.pk
    return event


# --- reading ------------------------------------------------------------------------------------------------


def sequence() -> int:
    """Number the committed events that have no position yet, in id order, after the last position
    (PostgreSQL; on SQLite ``emit`` already did). Only one sequencer runs at a time (an advisory lock;
    a caller that finds it taken returns at once - the holder numbers them). Returns how many it numbered.
    """
    if connection.vendor != "postgresql":
        return 0
    table = OutboxEvent._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [SEQUENCER_LOCK])
        if not cursor.fetchone()[0]:
            return 0
        cursor.execute(
            f"""
            UPDATE {table} AS o SET seq = n.base + n.rn
            FROM (
                SELECT id, row_number() OVER (ORDER BY id) AS rn,
                       (SELECT COALESCE(MAX(seq), 0) FROM {table}) AS base
                FROM {table} WHERE seq IS NULL
            ) AS n
            WHERE o.id = n.id
            """  # noqa: S608 - the table name is ours
        )
        return cursor.rowcount


@dataclass(frozen=True)
class Horizon:
    """The positions a reader can resume from: events ``oldest``..``head`` are kept (0, 0: none)."""

    oldest: int
    head: int

    def can_resume(self, position: int | None) -> bool:
        """True when every event after ``position`` is still kept (so nothing would be missed)."""
        if position is None or position < 0 or position > self.head:
            return False
        return self.oldest == 0 or position >= self.oldest - 1


def horizon() -> Horizon:
    """The oldest kept and the newest position (after numbering what has committed)."""
    sequence()
    bounds = OutboxEvent.objects.filter(seq__isnull=False).aggregate(oldest=Min("seq"), head=Max("seq"))
    return Horizon(bounds["oldest"] or 0, bounds["head"] or 0)


def head() -> int:
    """The newest position (after numbering what has committed); 0 when there is none."""
    sequence()
    return OutboxEvent.objects.filter(seq__isnull=False).aggregate(head=Max("seq"))["head"] or 0


def events_after(position: int, *, limit: int = 500, upto: int | None = None) -> list[OutboxEvent]:
    """Up to ``limit`` numbered events after ``position`` (and up to ``upto``), in position order.
    Call ``sequence()`` (or ``head()``) first to include what committed since."""
    rows = OutboxEvent.objects.filter(seq__gt=position)
    if upto is not None:
        rows = rows.filter(seq__lte=upto)
    return list(rows.order_by("seq")[:limit])


def read(position: int, *, limit: int = 500) -> list[OutboxEvent]:
    """Number what has committed, then the events after ``position`` (``limit`` at most)."""
    sequence()
    return events_after(position, limit=limit)


def latest(kind: str, *, index: str = "", keys: Iterable[str] | None = None) -> OutboxEvent | None:
    """The newest event of ``kind`` (of ``index``; with one of ``keys``), None if none."""
    sequence()
    rows = OutboxEvent.objects.filter(kind=kind, seq__isnull=False)
    if index:
        rows = rows.filter(index=index)
    if keys is not None:
        rows = rows.filter(key__in=list(keys))
    return rows.order_by("-seq").first()


# --- pruning ------------------------------------------------------------------------------------------------


def prune(days: float, *, now: datetime | None = None) -> int:
    """Delete the events written more than ``days`` ago, except the newest (positions never restart).
    Returns how many were deleted."""
    cutoff = (now or timezone.now()) - timedelta(days=days)
    newest = OutboxEvent.objects.aggregate(newest=Max("id"))["newest"]
    if newest is None:
        return 0
    deleted, _ = OutboxEvent.objects.filter(created_at__lt=cutoff, id__lt=newest).delete()
    return deleted


def dumps(message: Mapping[str, Any]) -> str:
    """A message as compact JSON text (what goes on the wire)."""
    return json.dumps(message, separators=(",", ":"))
