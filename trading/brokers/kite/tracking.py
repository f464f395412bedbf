"""The orders one Kite broker works on, each brought up to date from what Kite reports.

A ``WorkingOrder`` is one real Kite order (a split parent is only the list of its children's tags):
our request, Kite's order id, the limit price it rests at, the price band's reference and the
re-pricings done. ``OrderTracker`` holds them by tag and reads Kite's order book (adopting an order
found by tag), ``order_history`` (the latest state) and ``order_trades`` (the fills).
"""

from __future__ import annotations

import logging
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from trading.brokers.kite.client import KiteClient
from trading.brokers.kite.status import (
    MODIFICATION_STATUS,
    kite_time,
    map_status,
    positive_price,
    rejection_reason,
)
from trading.core.order_types import R_CANCELLED, BrokerOrder, BrokerUnavailable, OrderRequest
from trading.core.orders import CANCELLED, REJECTED

log = logging.getLogger(__name__)

LEFT_WORKING = -1  # ``WorkingOrder.retries`` of an order no longer chased (cancelled by us, or left OPEN)


@dataclass
class WorkingOrder:
    """One real Kite order being worked: its request (None for one adopted by ``find_by_tag`` alone),
    what we know of its state, Kite's id, the current limit price, the band reference and the
    re-pricings done (``LEFT_WORKING`` once no longer chased)."""

    request: OrderRequest | None
    state: BrokerOrder
    order_id: str = ""
    price: Decimal | None = None
    reference: Decimal | None = None
    retries: int = 0
    history: list[dict] = field(default_factory=list)

    @property
    def refused_unsent(self) -> bool:
        """Refused here before it was ever sent (a bad price, no quote): nothing exists at Kite."""
        return not self.order_id and self.state.is_terminal

    @property
    def being_chased(self) -> bool:
        """Sent, not terminal, and still ours to re-price or cancel."""
        return bool(self.order_id) and not self.state.is_terminal and self.retries != LEFT_WORKING

    def snapshot(self) -> BrokerOrder:
        """A copy of the state, safe to hand out."""
        return deepcopy(self.state)


class OrderTracker:
    """The working orders by tag (``working``), the children's tags of each split parent
    (``parents``), and the reads that update them."""

    def __init__(self, client: KiteClient) -> None:
        self.client = client
        self.working: dict[str, WorkingOrder] = {}
        self.parents: dict[str, list[str]] = {}

    def find(self, tag: str) -> WorkingOrder | None:
        """The order tagged ``tag`` at Kite, adopted (kept under its tag), None when there is none."""
        raw = self.client.find_tagged(tag)
        if raw is None:
            return None
        working = self.working.get(tag)
        if working is None:
            working = WorkingOrder(request=None, state=BrokerOrder(client_order_id=tag))
            self.working[tag] = working
        self.adopt(working, raw)
        return working

    def read(self, order_id: str) -> WorkingOrder | None:
        """Kite's order ``order_id`` from its history (and trades), under the tag Kite holds for it;
        not kept among the working orders. None when the history is empty."""
        history = self.client.order_history(order_id)
        if not history:
            return None
        last = history[-1]
        working = WorkingOrder(request=None, state=BrokerOrder(client_order_id=str(last.get("tag") or "")))
        working.order_id = order_id
        working.state.broker_order_id = order_id
        working.state.quantity = int(last.get("quantity") or 0)
        working.history = history
        self._apply(working, last)
        return working

    def adopt_if_placed(self, working: WorkingOrder) -> bool:
        """Adopt the order carrying ``working``'s tag if Kite has one (Kite does not deduplicate:
        looked up before every resend); True when found."""
        raw = self.client.find_tagged(working.state.client_order_id)
        if raw is None:
            return False
        self.adopt(working, raw)
        return True

    def adopt(self, working: WorkingOrder, raw: dict) -> None:
        """Take over an order found at Kite: its id, price, history and fills."""
        working.order_id = str(raw["order_id"])
        working.state.broker_order_id = working.order_id
        working.price = positive_price(raw.get("price"))
        working.state.quantity = int(raw.get("quantity") or working.state.quantity)
        self._apply(working, raw)
        if not working.state.is_terminal:
            self.refresh(working)

    def refresh(self, working: WorkingOrder) -> None:
        """Read ``order_history`` and apply its last entry (and new fills)."""
        history = self.client.order_history(working.order_id)
        if not history:
            return
        working.history = history
        modifications = sum(1 for entry in history if entry.get("status") == MODIFICATION_STATUS)
        working.state.modifications = max(working.state.modifications, modifications)
        self._apply(working, history[-1])

    def _apply(self, working: WorkingOrder, raw: dict) -> None:
        """One Kite order entry (book or history) onto the state: status, fills, reason."""
        filled = int(raw.get("filled_quantity") or 0)
        status = map_status(raw.get("status", ""), filled)
        state = working.state
        state.status = status
        state.filled_quantity = filled
        state.average_price = positive_price(raw.get("average_price")) if filled else None
        updated = kite_time(raw.get("exchange_update_timestamp") or raw.get("order_timestamp"))
        state.updated_at = updated or state.updated_at
        if raw.get("price"):
            state.price = positive_price(raw.get("price"))
        if status == REJECTED:
            state.message = str(raw.get("status_message") or "")
            state.reason = rejection_reason(state.message)
        elif status == CANCELLED and not state.reason:
            state.reason = R_CANCELLED
        if filled > sum(quantity for quantity, _, _ in state.fills):
            self._load_fills(working)

    def _load_fills(self, working: WorkingOrder) -> None:
        """The executions from ``order_trades``, oldest first (kept as they were when unreachable)."""
        try:
            trades = self.client.order_trades(working.order_id)
        except BrokerUnavailable as exc:
            log.warning("Kite order_trades %s: %s", working.order_id, exc)
            return
        working.state.fills = sorted(
            (
                (
                    int(trade["quantity"]),
                    Decimal(str(trade["average_price"])),
                    kite_time(trade.get("fill_timestamp") or trade.get("exchange_timestamp"))
                    or datetime.now(UTC),
                )
                for trade in trades
            ),
            key=lambda fill: fill[2],
        )
