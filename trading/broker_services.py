"""The Django side of the brokers: broker order updates (postback, polling) and the Kite daily login.

Services (writes) take keyword arguments; every state change of an order goes through
``trading.services.order_transition`` one legal step at a time (``core.orders.transition_path``).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from trading.core import calendar as market_calendar
from trading.core import fills
from trading.core import orders as order_states
from trading.models import ControlAudit, Order, TradingState

log = logging.getLogger(__name__)

# A Kite access token is valid until the next morning (Zerodha expires sessions at ~06:00 IST).
KITE_TOKEN_EXPIRES_AT = time(6, 0)


class KiteLoginFailed(Exception):
    """The request token could not be exchanged for an access token (the message says why)."""


# --- order updates -------------------------------------------------------------------------------------


def _find_order(client_order_id: str, broker_order_id: str) -> Order | None:
    qs = Order.objects.select_for_update()
    if client_order_id:
        order = qs.filter(client_order_id=client_order_id).first()
        if order is not None:
            return order
    if broker_order_id:
        return qs.filter(broker_order_id=broker_order_id).first()
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
    """Walk ``order`` to ``status`` through legal steps; False (nothing written) when the update is
    stale or illegal (an OPEN arriving after FILLED, fewer fills than stored)."""
    from trading.services import order_transition

    if filled_quantity is not None and filled_quantity < order.filled_quantity:
        return False
    more_fills = filled_quantity is not None and filled_quantity > order.filled_quantity
    if status == order.status and not (status == order_states.PARTIALLY_FILLED and more_fills):
        return False
    try:
        path = order_states.transition_path(order.status, status, reason)
    except order_states.IllegalTransition as exc:
        log.info("broker update for %s ignored: %s", order.client_order_id, exc)
        return False
    for i, step in enumerate(path):
        last = i == len(path) - 1
        order_transition(
            order=order,
            to_status=step,
            at=at,
            reason=reason if last else "sent to broker",
            filled_quantity=filled_quantity if last else None,
            average_price=average_price if last else None,
            broker_order_id=broker_order_id or None,
        )
    return bool(path)


def _refresh_parent(parent: Order, at: datetime) -> None:
    """A split parent follows its children: status by ``fills.parent_status``, summed fills."""
    kids = list(parent.children.all())
    if not kids:
        return
    status = fills.parent_status([(k.status, k.filled_quantity, k.quantity) for k in kids])
    filled = sum(k.filled_quantity for k in kids)
    value = sum(
        (Decimal(k.average_price) * k.filled_quantity for k in kids if k.average_price is not None),
        Decimal(0),
    )
    avg = (value / filled).quantize(Decimal("0.01")) if filled else None
    reasons = [k.status_reason for k in kids if k.status_reason and k.status in order_states.TERMINAL_STATES]
    _move(
        parent,
        status=status,
        filled_quantity=filled,
        average_price=avg,
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
    from trading.brokers.kite import kite_time, map_status, rejection_reason

    filled = int(payload.get("filled_quantity") or 0)
    status = map_status(str(payload.get("status", "")), filled)
    message = str(payload.get("status_message") or "")
    if status == order_states.REJECTED:
        reason = rejection_reason(message)
    elif status == order_states.CANCELLED:
        reason = "cancelled"
    else:
        reason = f"kite {payload.get('status', '')}".strip()
    avg = payload.get("average_price")
    return apply_broker_update(
        client_order_id=str(payload.get("tag") or ""),
        broker_order_id=str(payload.get("order_id") or ""),
        status=status,
        filled_quantity=filled,
        average_price=Decimal(str(avg)).quantize(Decimal("0.01")) if filled and avg else None,
        reason=reason,
        at=kite_time(payload.get("exchange_update_timestamp") or payload.get("order_timestamp")),
    )


# --- Kite session ----------------------------------------------------------------------------------------


def kite_client(**kwargs: Any):
    """A ``KiteConnect`` for the configured API key and root URL (no access token)."""
    from kiteconnect import KiteConnect

    kite = KiteConnect(api_key=settings.KITE_API_KEY, root=settings.KITE_ROOT_URL, **kwargs)
    kite._default_login_uri = settings.KITE_LOGIN_URL  # login_url() reads it; configurable for tests
    return kite


def kite_token_expires(token_date) -> datetime:
    """When a token obtained on ``token_date`` stops working: the next morning, 06:00 IST."""
    return datetime.combine(token_date + timedelta(days=1), KITE_TOKEN_EXPIRES_AT, tzinfo=market_calendar.IST)


def kite_token_state(*, now: datetime | None = None) -> TradingState | None:
    """The trading state holding the newest Kite token still valid at ``now``, None if there is none."""
    now = now or timezone.now()
    state = (
        TradingState.objects.exclude(kite_access_token="")
        .exclude(kite_token_date=None)
        .order_by("-kite_token_date", "-updated_at")
        .first()
    )
    if state is None or now >= kite_token_expires(state.kite_token_date):
        return None
    return state


def kite_access_token(*, now: datetime | None = None) -> str:
    """Today's Kite access token ('' when nobody has logged in since the last expiry)."""
    state = kite_token_state(now=now)
    return state.kite_access_token if state else ""


def kite_session_create(
    *, request_token: str, user, index: str | None = None, kite=None, now: datetime | None = None
) -> TradingState:
    """Exchange a login ``request_token`` for an access token (``generate_session``) and store it on
    the index's ``TradingState`` with today's IST date; audited (``kite_login``, or
    ``kite_login_failed``). Raises ``KiteLoginFailed``."""
    from kiteconnect import exceptions as kex

    index = index or settings.TRADING_INDEX
    now = now or timezone.now()
    if not settings.KITE_API_KEY or not settings.KITE_API_SECRET:
        raise KiteLoginFailed("KITE_API_KEY and KITE_API_SECRET must be set")
    kite = kite or kite_client()
    try:
        session = kite.generate_session(request_token=request_token, api_secret=settings.KITE_API_SECRET)
    except (kex.KiteException, OSError, ValueError) as exc:
        ControlAudit.objects.create(user=user, index=index, action="kite_login_failed", detail=str(exc)[:500])
        raise KiteLoginFailed(str(exc)) from exc
    token = session.get("access_token") or ""
    if not token:
        ControlAudit.objects.create(
            user=user, index=index, action="kite_login_failed", detail="no access_token"
        )
        raise KiteLoginFailed("Kite returned no access token")
    with transaction.atomic():
        state, _ = TradingState.objects.select_for_update().get_or_create(index=index)
        old = state.kite_token_date
        state.kite_access_token = token
        state.kite_token_date = market_calendar.ist_date(now)
        state.save(update_fields=["kite_access_token", "kite_token_date", "updated_at"])
        # The token itself never goes into the audit: only who logged in, when, and as which Kite user.
        ControlAudit.objects.create(
            user=user,
            index=index,
            action="kite_login",
            old_value=old.isoformat() if old else "",
            new_value=state.kite_token_date.isoformat(),
            detail=f"Kite user {session.get('user_id', '?')}; valid until "
            f"{kite_token_expires(state.kite_token_date):%Y-%m-%d %H:%M} IST",
        )
    return state
