"""Order updates from the broker applied to the stored orders, through the one walk of the state
machine (``orders.order_walk``): Kite postbacks, and the reconcile of one order by its tag.

A Kite postback is signed over ``order_id`` + ``order_timestamp`` only, so nothing else in it is
believed: the order is found by the broker's ``order_id``, the tag must match the stored order's
client order id (and the tag Kite holds for that id), and status, filled quantity and average price
come from Kite's own ``order_history``/``order_trades`` (``KiteOrderReader``). Kite's record is the
state, so a replayed postback changes nothing. A postback for an order id not stored yet (the
placement's answer was lost) changes nothing and triggers a reconcile by its tag.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils import timezone

from trading.brokers.kite.reader import KiteOrderReader
from trading.core import fills
from trading.core import orders as order_states
from trading.core.order_types import BrokerOrder
from trading.execution import dispatch
from trading.execution.config import broker_config, setting
from trading.execution.kite_session import kite_order_reader
from trading.execution.models import Order
from trading.execution.orders import order_walk

log = logging.getLogger(__name__)


def _move(
    order: Order,
    *,
    status: str,
    filled_quantity: int | None,
    average_price: Decimal | None,
    reason: str,
    at: datetime,
    broker_order_id: str = "",
) -> bool:
    """Walk ``order`` to ``status``; False (nothing written) when the update is stale or illegal (an
    OPEN arriving after FILLED, fewer fills than stored)."""
    if filled_quantity is not None and filled_quantity < order.filled_quantity:
        return False
    more_fills = filled_quantity is not None and filled_quantity > order.filled_quantity
    if status == order.status and not (status == order_states.PARTIALLY_FILLED and more_fills):
        return False
    steps = order_walk(
        order,
        status,
        at=at,
        reason=reason,
        filled_quantity=filled_quantity,
        average_price=average_price,
        broker_order_id=broker_order_id or None,
    )
    return steps > 0


def _refresh_parent(parent: Order, at: datetime) -> None:
    """A split parent follows its children: status by ``fills.parent_status``, summed fills."""
    children = list(parent.children.all())
    if not children:
        return
    status = fills.parent_status(
        [(child.status, child.filled_quantity, child.quantity) for child in children]
    )
    filled = sum(child.filled_quantity for child in children)
    value = sum(
        (
            Decimal(child.average_price) * child.filled_quantity
            for child in children
            if child.average_price is not None
        ),
        Decimal(0),
    )
    average = (value / filled).quantize(Decimal("0.01")) if filled else None
    reasons = [
        child.status_reason
        for child in children
        if child.status_reason and child.status in order_states.TERMINAL_STATES
    ]
    _move(
        parent,
        status=status,
        filled_quantity=filled,
        average_price=average,
        reason=reasons[0] if reasons else "children",
        at=at,
    )


def _update(
    *,
    client_order_id: str,
    broker_order_id: str = "",
    status: str,
    filled_quantity: int | None = None,
    average_price: Decimal | None = None,
    reason: str = "",
    at: datetime | None = None,
) -> tuple[Order | None, bool]:
    """``apply_broker_update``, also saying whether anything was written."""
    if status not in order_states.STATUSES:
        raise ValueError(f"unknown order status {status!r}")
    at = at or timezone.now()
    with transaction.atomic():
        order = Order.objects.select_for_update().filter(client_order_id=client_order_id).first()
        if order is None:
            return None, False
        if broker_order_id and order.broker_order_id and order.broker_order_id != broker_order_id:
            log.warning(
                "broker update for %s refused: broker id %s, stored %s",
                client_order_id,
                broker_order_id,
                order.broker_order_id,
            )
            return order, False
        moved = _move(
            order,
            status=status,
            filled_quantity=filled_quantity,
            average_price=average_price,
            reason=reason,
            at=at,
            broker_order_id=broker_order_id,
        )
        if not moved and broker_order_id and not order.broker_order_id:
            order.broker_order_id = broker_order_id
            order.save(update_fields=["broker_order_id", "updated_at"])
            moved = True
        if moved and order.parent_id:
            parent = Order.objects.select_for_update().get(pk=order.parent_id)
            _refresh_parent(parent, at)
    return order, moved


def apply_broker_update(
    *,
    client_order_id: str,
    broker_order_id: str = "",
    status: str,
    filled_quantity: int | None = None,
    average_price: Decimal | None = None,
    reason: str = "",
    at: datetime | None = None,
) -> Order | None:
    """Bring the stored order ``client_order_id`` to what the broker itself reports and return it
    (None when the id is not ours). The caller vouches that the figures are the broker's own (its
    order history, its trades, a poll) - never a payload's.

    ``status`` is one of ours (``core.orders.STATUSES``). Intermediate states are filled in
    (NEW -> FILLED is stored as SUBMITTED, FILLED). A stale or impossible update (an OPEN after
    FILLED, fewer fills than stored) changes nothing; so does a ``broker_order_id`` other than the
    one stored (it is stored when none is). A child's update also moves its split parent. Raises
    ValueError for an unknown status.
    """
    order, _ = _update(
        client_order_id=client_order_id,
        broker_order_id=broker_order_id,
        status=status,
        filled_quantity=filled_quantity,
        average_price=average_price,
        reason=reason,
        at=at,
    )
    return order


def _apply_truth(client_order_id: str, truth: BrokerOrder) -> tuple[Order | None, bool]:
    """Kite's own record of an order (``KiteOrderReader``) onto the stored one."""
    average = truth.average_price.quantize(Decimal("0.01")) if truth.average_price is not None else None
    return _update(
        client_order_id=client_order_id,
        broker_order_id=truth.broker_order_id,
        status=truth.status,
        filled_quantity=truth.filled_quantity,
        average_price=average if truth.filled_quantity else None,
        reason=truth.reason or f"kite {truth.status.lower()}",
        at=truth.updated_at,
    )


def reconcile_tag(tag: str, *, reader: KiteOrderReader | None = None) -> Order | None:
    """The stored order ``tag`` (its client order id) brought to the order carrying that tag at Kite
    (its history and trades), its Kite id stored when none was. Nothing happens when the tag is not
    ours, when Kite has no order with it, or when Kite's order has another id than the one stored.
    Returns the stored order (None when not ours). Raises ``BrokerUnavailable``,
    ``BrokerNotConfigured``."""
    if not Order.objects.filter(client_order_id=tag).exists():
        return None
    truth = (reader or kite_order_reader()).find_by_tag(tag)
    order, _ = _apply_truth(tag, truth) if truth is not None else (None, False)
    return order or Order.objects.filter(client_order_id=tag).first()


def _reconcile_tag_soon(tag: str) -> None:
    """Reconcile ``tag`` now (embedded: tasks run in-process) or on a worker (``trading.tasks
    .reconcile_order``, sent by name: the tasks module sits above this layer)."""
    if not tag or not Order.objects.filter(client_order_id=tag).exists():
        return
    if setting("CELERY_TASK_ALWAYS_EAGER", True):
        try:
            reconcile_tag(tag)
        except Exception as exc:  # noqa: BLE001 - the periodic reconcile catches up
            log.warning("reconcile of %s after a postback failed: %s", tag, exc)
        return
    transaction.on_commit(lambda: _send_reconcile(tag))


def _send_reconcile(tag: str) -> None:
    try:
        dispatch.send("trading.tasks.reconcile_order", tag)
    except Exception as exc:  # noqa: BLE001 - the broker away: the periodic reconcile catches up
        log.warning("reconcile of %s after a postback not queued: %s", tag, exc)


# --- Kite postbacks -------------------------------------------------------------------------------------


class PostbackError(Exception):
    """A postback that changes nothing; ``http_status`` is the answer (the message says why)."""

    http_status = 400


class PostbackInvalid(PostbackError):
    """Not a Kite postback: not JSON, a field missing, of the wrong type or out of range (400)."""


class PostbackForged(PostbackError):
    """The checksum is wrong (403)."""

    http_status = 403


class PostbackMismatch(PostbackError):
    """Signed, but its tag is not the stored order's (or not the one Kite holds for it) (409)."""

    http_status = 409


@dataclass(frozen=True)
class Postback:
    """The fields of a postback that are read: Kite's order id, the tag, the signed timestamp."""

    order_id: str
    tag: str
    order_timestamp: str
    status: str
    checksum: str


@dataclass(frozen=True)
class PostbackResult:
    """What a postback did: ``applied`` (Kite's record stored), ``unchanged`` (the stored order
    already says what Kite says: a replay), ``unknown_order`` (no stored order has that Kite id: a
    reconcile by tag was triggered)."""

    outcome: str
    order: Order | None = None


ORDER_ID = re.compile(r"[0-9A-Za-z]{1,64}")
TAG = re.compile(r"[0-9A-Za-z]{1,20}")  # Kite's tags: alphanumeric, at most 20 (our client order ids)
CHECKSUM = re.compile(r"[0-9a-fA-F]{64}")
QUANTITIES = (
    "quantity",
    "filled_quantity",
    "pending_quantity",
    "unfilled_quantity",
    "cancelled_quantity",
    "disclosed_quantity",
)
PRICES = ("price", "trigger_price", "average_price")
MAX_QUANTITY = 10**9  # units
MAX_PRICE = Decimal(10**7)  # rupees
MAX_TEXT = 64


def _text(
    payload: dict,
    name: str,
    *,
    pattern: re.Pattern | None = None,
    required: bool = True,
    numeric_ok: bool = False,
) -> str:
    value = payload.get(name)
    if value is None or value == "":
        if required:
            raise PostbackInvalid(f"{name}: required")
        return ""
    kinds = (str, int) if numeric_ok else (str,)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise PostbackInvalid(f"{name}: expected text")
    text = str(value)
    if pattern is not None:
        if not pattern.fullmatch(text):
            raise PostbackInvalid(f"{name}: unexpected characters or length")
    elif len(text) > MAX_TEXT or not (text.isascii() and text.isprintable()):
        raise PostbackInvalid(f"{name}: expected printable text of at most {MAX_TEXT} characters")
    return text


def _check_quantity(payload: dict, name: str) -> None:
    value = payload.get(name)
    if value is None:
        return
    if isinstance(value, str) and value.isdigit() and value.isascii():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_QUANTITY:
        raise PostbackInvalid(f"{name}: expected a whole number of units from 0 to {MAX_QUANTITY}")


def _check_price(payload: dict, name: str) -> None:
    value = payload.get(name)
    if value is None:
        return
    problem = f"{name}: expected a price in rupees from 0 to {MAX_PRICE}"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise PostbackInvalid(problem)
    if isinstance(value, float) and not math.isfinite(value):
        raise PostbackInvalid(problem)
    try:
        price = Decimal(str(value).strip())
    except InvalidOperation:
        raise PostbackInvalid(problem) from None
    if not price.is_finite() or not 0 <= price <= MAX_PRICE:
        raise PostbackInvalid(problem)


def postback_parse(body: bytes | str) -> Postback:
    """The postback in ``body``, every field checked (the numbers too, though they are not used: a
    malformed one means this is not Kite speaking). Raises ``PostbackInvalid`` naming the field."""
    try:
        payload = json.loads(body or b"")
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise PostbackInvalid("body: not JSON") from None
    if not isinstance(payload, dict):
        raise PostbackInvalid("body: expected a JSON object")
    postback = Postback(
        order_id=_text(payload, "order_id", pattern=ORDER_ID, numeric_ok=True),
        tag=_text(payload, "tag", pattern=TAG, required=False),
        order_timestamp=_text(payload, "order_timestamp"),
        status=_text(payload, "status"),
        checksum=_text(payload, "checksum", pattern=CHECKSUM),
    )
    for name in QUANTITIES:
        _check_quantity(payload, name)
    for name in PRICES:
        _check_price(payload, name)
    return postback


def postback_checksum_ok(payload: dict[str, Any] | Postback, api_secret: str) -> bool:
    """True when the checksum is SHA-256(order_id + order_timestamp + api_secret)."""
    if not api_secret:
        return False
    if isinstance(payload, Postback):
        order_id, stamp, checksum = payload.order_id, payload.order_timestamp, payload.checksum
    else:
        order_id = payload.get("order_id", "")
        stamp, checksum = payload.get("order_timestamp", ""), payload.get("checksum", "")
    expected = hashlib.sha256(f"{order_id}{stamp}{api_secret}".encode()).hexdigest()
    return hmac.compare_digest(expected, str(checksum).lower())


def kite_postback(body: bytes | str, *, reader: KiteOrderReader | None = None) -> PostbackResult:
    """Apply one Kite postback (the raw request body) to the stored order: see the module docstring.

    Raises ``PostbackInvalid`` (400), ``PostbackForged`` (403), ``PostbackMismatch`` (409) - each
    with nothing changed - and ``BrokerUnavailable``/``BrokerNotConfigured`` when Kite's record
    cannot be read (nothing changed: Kite may post again)."""
    postback = postback_parse(body)
    if not postback_checksum_ok(postback, broker_config().kite.api_secret):
        log.warning("Kite postback for order %s refused: bad checksum", postback.order_id)
        raise PostbackForged("bad checksum")
    stored = Order.objects.filter(broker_order_id=postback.order_id).first()
    if stored is None:
        _reconcile_tag_soon(postback.tag)
        return PostbackResult("unknown_order")
    if postback.tag != stored.client_order_id:
        log.warning(
            "Kite postback for order %s refused: tag %r is not its tag", postback.order_id, postback.tag
        )
        raise PostbackMismatch(f"tag {postback.tag!r} is not the tag of order {postback.order_id}")
    truth = (reader or kite_order_reader()).order(postback.order_id)
    if truth is None:
        log.warning("Kite postback for order %s: Kite does not know that order", postback.order_id)
        return PostbackResult("unchanged", stored)
    if truth.client_order_id != stored.client_order_id:
        log.error(
            "Kite postback for order %s refused: Kite holds tag %r, stored %r",
            postback.order_id,
            truth.client_order_id,
            stored.client_order_id,
        )
        raise PostbackMismatch(f"Kite holds another tag for order {postback.order_id}")
    order, moved = _apply_truth(stored.client_order_id, truth)
    return PostbackResult("applied" if moved else "unchanged", order)
