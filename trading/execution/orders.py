"""Writes of orders: the one walk of the order state machine (``order_transition``), the order row
written ahead of the broker (``order_create``) and a stored order brought to the engine's record
(``order_sync``). Every status change is stored as an ``OrderEvent``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from trading.core import orders
from trading.core.results import OrderRecord
from trading.execution.events import emit_order
from trading.execution.mapping import broker_order_of, order_fields, order_request_of
from trading.execution.models import Order, OrderEvent, OrderStatus, Position
from trading.strategies.models import Signal

log = logging.getLogger(__name__)


def order_transition(
    *,
    order: Order,
    to_status: str,
    at: datetime,
    reason: str = "",
    filled_quantity: int | None = None,
    average_price: Decimal | None = None,
    broker_order_id: str | None = None,
) -> OrderEvent:
    """Move ``order`` one legal step of the state machine and store the event (time, reason, fills).

    Raises ``orders.IllegalTransition`` (nothing written) for an edge the machine does not have.
    """
    orders.check_transition(order.status, to_status)
    event = OrderEvent(
        order=order,
        from_status=order.status,
        to_status=to_status,
        at=at,
        reason=(reason or "")[:200],
        filled_quantity=filled_quantity if filled_quantity is not None else order.filled_quantity,
        price=average_price,
    )
    order.status = to_status
    order.status_reason = (reason or "")[:120]
    if filled_quantity is not None:
        order.filled_quantity = filled_quantity
    if average_price is not None:
        order.average_price = average_price
    if broker_order_id:
        order.broker_order_id = broker_order_id
    if to_status == OrderStatus.FILLED and order.filled_at is None:
        order.filled_at = at
    # No savepoint: inside the caller's transaction (order_sync) a failure fails it all.
    with transaction.atomic(savepoint=False):
        order.save()
        event.save()
        emit_order(order, from_status=event.from_status, at=at)
    return event


def order_walk(
    order: Order,
    target: str,
    *,
    at: datetime,
    reason: str = "",
    filled_quantity: int | None = None,
    average_price: Decimal | None = None,
    broker_order_id: str | None = None,
    filled_at: datetime | None = None,
) -> int:
    """Walk ``order`` through the legal steps from its status to ``target``; the last step carries the
    reason and the fills (earlier ones read "sent to broker"). Returns the number of steps stored.

    An answer the state machine cannot reach is logged and the order kept as it is (0 steps).
    """
    try:
        path = orders.transition_path(order.status, target, reason)
    except orders.IllegalTransition as exc:
        log.warning("order %s: %s (kept %s)", order.client_order_id, exc, order.status)
        return 0
    for i, step in enumerate(path):
        last = i == len(path) - 1
        order_transition(
            order=order,
            to_status=step,
            at=(filled_at if last and step == OrderStatus.FILLED and filled_at else at),
            reason=reason if last else "sent to broker",
            filled_quantity=filled_quantity if last else None,
            average_price=average_price if last else None,
            broker_order_id=broker_order_id,
        )
    return len(path)


def order_create(
    *,
    record: OrderRecord,
    mode: str,
    broker_name: str,
    parent: Order | None = None,
    signal: Signal | None = None,
) -> Order:
    """The order row of ``record`` (status NEW, with its creation event); the existing one if the
    client order id is already stored - submitting twice never makes two orders."""
    client_order_id = record.request.client_order_id
    existing = Order.objects.filter(client_order_id=client_order_id).first()
    if existing is not None:
        return existing
    position = Position.objects.filter(position_id=record.position_id).first() if record.position_id else None
    order = Order(
        **order_fields(record),
        parent=parent,
        broker=broker_name,
        mode=mode,
        signal=signal,
        position=position,
        status=OrderStatus.NEW,
        status_reason="created",
        created_at=record.created_at or record.request.created_at or timezone.now(),
    )
    try:
        with transaction.atomic():
            order.save()
            OrderEvent.objects.create(
                order=order, from_status="", to_status=OrderStatus.NEW, at=order.created_at, reason="created"
            )
            emit_order(order, from_status="", at=order.created_at)
    except IntegrityError:
        # A concurrent run stored the same client order id first: theirs is the order.
        return Order.objects.get(client_order_id=client_order_id)
    return order


def order_sync(*, record: OrderRecord, mode: str, broker_name: str, parent: Order | None = None) -> Order:
    """Bring the stored order (and its freeze-quantity children) to the state in ``record``, through
    legal transitions from what is stored; idempotent."""
    order = order_create(record=record, mode=mode, broker_name=broker_name, parent=parent)
    at = record.transitions[-1].at if record.transitions else (record.created_at or timezone.now())
    target = record.status
    moved = target != order.status or (
        target == OrderStatus.PARTIALLY_FILLED and record.filled_quantity > order.filled_quantity
    )
    if moved:
        order_walk(
            order,
            target,
            at=at,
            reason=record.reason,
            filled_quantity=record.filled_quantity,
            average_price=record.average_price,
            broker_order_id=record.broker_order_id or None,
            filled_at=record.filled_at,
        )
    elif record.broker_order_id and not order.broker_order_id:
        order.broker_order_id = record.broker_order_id
        order.save(update_fields=["broker_order_id", "updated_at"])
    for child in record.children:
        order_sync(record=child, mode=mode, broker_name=broker_name, parent=order)
    return order


def broker_book_restore(broker, *, index: str, mode: str, broker_name: str) -> int:
    """Put a desk's stored orders (of the last 400 days) back into a broker that keeps its book in
    memory (the paper broker), so that its idempotency on client order ids spans restarts. Returns
    how many were restored; 0 for a broker without ``restore``."""
    restore = getattr(broker, "restore", None)
    if restore is None:
        return 0
    restored = 0
    since = timezone.now() - timedelta(days=400)
    stored = Order.objects.filter(index=index, mode=mode, broker=broker_name, updated_at__gte=since)
    # An order still NEW without a broker id never reached the broker (a process killed between the
    # write-ahead row and the send): the book must not claim it has it, or it would sit there until
    # cancelled as stale instead of being sent (``core.engine.settle_orders``).
    stored = stored.exclude(status=OrderStatus.NEW, broker_order_id="")
    for order in stored.select_related("parent").order_by("id"):
        try:
            restore(
                order_request_of(order),
                broker_order_of(order),
                order.parent.client_order_id if order.parent else "",
            )
            restored += 1
        except Exception as exc:  # noqa: BLE001 - one bad row must not stop the others
            log.warning("could not restore order %s into the broker: %s", order.client_order_id, exc)
    return restored
