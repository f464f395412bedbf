"""Order updates the broker pushes or the desk polls (Kite postbacks, ``order_history``) applied to the
stored orders, through the one walk of the state machine (``orders.order_walk``).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from trading.brokers.kite.status import kite_time, map_status, rejection_reason
from trading.core import fills
from trading.core import orders as order_states
from trading.execution.models import Order
from trading.execution.orders import order_walk

log = logging.getLogger(__name__)


def _find_order(client_order_id: str, broker_order_id: str) -> Order | None:
    queryset = Order.objects.select_for_update()
    if client_order_id:
        order = queryset.filter(client_order_id=client_order_id).first()
        if order is not None:
            return order
    if broker_order_id:
        return queryset.filter(broker_order_id=broker_order_id).first()
    return None


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


def apply_broker_update(
    *,
    client_order_id: str = "",
    broker_order_id: str = "",
    status: str,
    filled_quantity: int | None = None,
    average_price: Decimal | None = None,
    reason: str = "",
    at: datetime | None = None,
) -> Order | None:
    """Bring the stored order to what the broker reports (postback or poll) and return it.

    Found by ``client_order_id`` (the tag), else by ``broker_order_id``; None when neither is ours.
    ``status`` is one of ours (``core.orders.STATUSES``). Intermediate states are filled in
    (NEW -> FILLED is stored as SUBMITTED, FILLED). A stale or impossible update (an OPEN after
    FILLED, fewer fills than stored) changes nothing. A child's update also moves its split parent.
    Raises ValueError for an unknown status.
    """
    if status not in order_states.STATUSES:
        raise ValueError(f"unknown order status {status!r}")
    at = at or timezone.now()
    with transaction.atomic():
        order = _find_order(client_order_id, broker_order_id)
        if order is None:
            return None
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
        if moved and order.parent_id:
            parent = Order.objects.select_for_update().get(pk=order.parent_id)
            _refresh_parent(parent, at)
    return order


def postback_checksum_ok(payload: dict[str, Any], api_secret: str) -> bool:
    """True when ``payload['checksum']`` is SHA-256(order_id + order_timestamp + api_secret)."""
    if not api_secret:
        return False
    expected = hashlib.sha256(
        f"{payload.get('order_id', '')}{payload.get('order_timestamp', '')}{api_secret}".encode()
    ).hexdigest()
    return hmac.compare_digest(expected, str(payload.get("checksum", "")))


def apply_kite_postback(*, payload: dict[str, Any]) -> Order | None:
    """Apply one verified Kite postback (the caller checked its checksum) to the stored order."""
    filled = int(payload.get("filled_quantity") or 0)
    status = map_status(str(payload.get("status", "")), filled)
    message = str(payload.get("status_message") or "")
    if status == order_states.REJECTED:
        reason = rejection_reason(message)
    elif status == order_states.CANCELLED:
        reason = "cancelled"
    else:
        reason = f"kite {payload.get('status', '')}".strip()
    average = payload.get("average_price")
    return apply_broker_update(
        client_order_id=str(payload.get("tag") or ""),
        broker_order_id=str(payload.get("order_id") or ""),
        status=status,
        filled_quantity=filled,
        average_price=Decimal(str(average)).quantize(Decimal("0.01")) if filled and average else None,
        reason=reason,
        at=kite_time(payload.get("exchange_update_timestamp") or payload.get("order_timestamp")),
    )
