"""Kite's words in ours: order statuses, rejection texts, timestamps and prices.

Kite statuses -> ours (``map_status``): PUT ORDER REQ RECEIVED / VALIDATION PENDING / OPEN PENDING ->
SUBMITTED; OPEN / TRIGGER PENDING / MODIFY VALIDATION PENDING / MODIFY PENDING / MODIFIED / CANCEL
PENDING -> OPEN (PARTIALLY_FILLED once something filled); COMPLETE -> FILLED; CANCELLED ->
CANCELLED; REJECTED -> REJECTED; LAPSED / EXPIRED -> EXPIRED.

Used by the broker (polling) and by the postback handler of the execution layer.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal

from trading.core import calendar, fills
from trading.core.order_types import R_BROKER_REJECTED
from trading.core.orders import CANCELLED, EXPIRED, FILLED, OPEN, PARTIALLY_FILLED, REJECTED, SUBMITTED

log = logging.getLogger(__name__)

STATUS_MAP: dict[str, str] = {
    "PUT ORDER REQ RECEIVED": SUBMITTED,
    "VALIDATION PENDING": SUBMITTED,
    "OPEN PENDING": SUBMITTED,
    "AMO REQ RECEIVED": SUBMITTED,
    "OPEN": OPEN,
    "TRIGGER PENDING": OPEN,
    "MODIFY VALIDATION PENDING": OPEN,
    "MODIFY PENDING": OPEN,
    "MODIFIED": OPEN,
    "CANCEL PENDING": OPEN,
    "COMPLETE": FILLED,
    "CANCELLED": CANCELLED,
    "CANCELLED AMO": CANCELLED,
    "REJECTED": REJECTED,
    "LAPSED": EXPIRED,
    "EXPIRED": EXPIRED,
}

# Kite's history entry of each modification request (counted against its 25 per order).
MODIFICATION_STATUS = "MODIFY VALIDATION PENDING"


def map_status(kite_status: str, filled_quantity: int = 0) -> str:
    """Our status for a Kite order status (see the module docstring); an unknown status counts as
    SUBMITTED (still working), a live one with fills as PARTIALLY_FILLED."""
    ours = STATUS_MAP.get(str(kite_status or "").strip().upper())
    if ours is None:
        log.warning("unknown Kite order status %r: treated as SUBMITTED", kite_status)
        ours = SUBMITTED
    if ours in (SUBMITTED, OPEN) and filled_quantity > 0:
        return PARTIALLY_FILLED
    return ours


def rejection_reason(message: str) -> str:
    """A stable reason code for Kite's rejection text: ``invalid_price`` (tick), ``price_band``
    (circuit / price band / limit price protection), ``insufficient_margin``, ``freeze_quantity``,
    ``invalid_quantity``, else ``broker_rejected``."""
    text = (message or "").lower()
    if "tick" in text:
        return fills.R_INVALID_PRICE
    if any(word in text for word in ("circuit", "price band", "price range", "price protection", "lpp")):
        return fills.R_PRICE_BAND
    if "margin" in text or "insufficient funds" in text:
        return "insufficient_margin"
    if "freeze" in text:
        return "freeze_quantity"
    if "lot size" in text or "quantity" in text:
        return fills.R_INVALID_QUANTITY
    return R_BROKER_REJECTED


def kite_time(value: object) -> datetime | None:
    """Kite's timestamps are IST without a zone ('2026-05-05 10:00:01' or a naive datetime); the
    aware UTC time, None when missing or unreadable."""
    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=calendar.IST)
    return value.astimezone(UTC)


def positive_price(value: object) -> Decimal | None:
    """A price field of Kite as Decimal rupees; None when missing or not positive (Kite sends 0 for
    "no price": a MARKET order's price, an average before any fill)."""
    if value in (None, ""):
        return None
    price = Decimal(str(value))
    return price if price > 0 else None
