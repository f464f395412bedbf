"""``KiteBroker``: the broker contract (``trading.brokers.base``) on Kite Connect.

See the package docstring (``trading.brokers.kite``) for how an order is worked: lookup by tag,
price, send, chase, cancel.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from kiteconnect import KiteConnect

from trading.brokers.base import Broker, TokenProvider
from trading.brokers.config import MAX_MODIFICATIONS, BrokerConfig, KiteConfig
from trading.brokers.kite import pricing
from trading.brokers.kite.client import KiteClient, KiteLimiters, connect
from trading.brokers.kite.status import rejection_reason
from trading.brokers.kite.tracking import LEFT_WORKING, OrderTracker, WorkingOrder
from trading.core import fills
from trading.core.bars import MarketBar
from trading.core.order_types import (
    R_CANCELLED,
    R_MAX_RETRIES,
    R_RATE_LIMITED,
    BrokerOrder,
    BrokerUnavailable,
    OrderNotFound,
    OrderRequest,
)
from trading.core.orders import CANCELLED, REJECTED, SUBMITTED

log = logging.getLogger(__name__)


def _net_position(entry: dict) -> dict:
    """One of Kite's net positions in the contract's keys (money as Decimal)."""
    return {
        "exchange": entry.get("exchange", ""),
        "tradingsymbol": entry.get("tradingsymbol", ""),
        "product": entry.get("product", ""),
        "quantity": int(entry.get("quantity") or 0),
        "buy_quantity": int(entry.get("buy_quantity") or 0),
        "sell_quantity": int(entry.get("sell_quantity") or 0),
        "buy_value": Decimal(str(entry.get("buy_value") or 0)),
        "sell_value": Decimal(str(entry.get("sell_value") or 0)),
        "average_price": Decimal(str(entry.get("average_price") or 0)).quantize(Decimal("0.01")),
    }


class KiteBroker(Broker):
    """Orders through Kite Connect.

    ``config``: the account and how orders are worked (``KiteConfig``; its defaults when None). The
    session: a ready ``kite`` client, else one made from ``config.api_key`` and ``access_token`` (a
    token, or a function returning today's: the caller's, the token lives in the database).
    ``limiters`` default to the process-wide ones; ``sleep`` and ``clock`` (monotonic seconds) are
    injectable. Raises ``BrokerNotConfigured`` without an API key or an access token.
    """

    name = "kite"

    def __init__(
        self,
        config: KiteConfig | None = None,
        *,
        kite: KiteConnect | None = None,
        access_token: str | TokenProvider | None = None,
        limiters: KiteLimiters | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config or KiteConfig()
        session = kite if kite is not None else connect(self.config, access_token)
        self.client = KiteClient(session, self.config, limiters or KiteLimiters(), sleep)
        self.tracker = OrderTracker(self.client)
        self.quotes = pricing.RoundQuotes(self.client, enabled=self.config.refresh_quotes)
        self._sleep = sleep
        self._clock = clock

    @classmethod
    def from_config(
        cls, config: BrokerConfig, *, access_token: str | TokenProvider | None = None, **collaborators: Any
    ) -> KiteBroker:
        """A Kite broker on ``config.kite`` with the session of ``access_token``."""
        return cls(config.kite, access_token=access_token, **collaborators)

    # --- the contract ---------------------------------------------------------------------------------

    def place_order(self, request: OrderRequest, market: MarketBar | None = None) -> BrokerOrder:
        """Place and work ``request`` until it is filled, refused, or cancelled after ``max_retries``
        re-pricings (idempotent on the tag). Raises ``BrokerUnavailable``/``BrokerNotConfigured``."""
        if request.quantity_problem:
            return BrokerOrder(
                client_order_id=request.client_order_id,
                status=REJECTED,
                reason=fills.R_INVALID_QUANTITY,
                message=request.quantity_problem,
                quantity=request.quantity,
            )
        children = request.split()
        if len(children) > 1:
            self.tracker.parents[request.client_order_id] = [child.client_order_id for child in children]
        self.quotes.clear()
        batch = [self._start(child, market) for child in children]
        self._work(batch)
        if len(children) > 1:
            return BrokerOrder.parent_of(request.client_order_id, [working.snapshot() for working in batch])
        return batch[0].snapshot()

    def order_status(self, client_order_id: str) -> BrokerOrder | None:
        """The latest state from ``order_history`` (a parent: from its children); an id this
        process has not seen is looked up by tag. None when Kite has no such order."""
        if client_order_id in self.tracker.parents:
            states = [self.order_status(child_id) for child_id in self.tracker.parents[client_order_id]]
            return BrokerOrder.parent_of(client_order_id, [state for state in states if state is not None])
        working = self.tracker.working.get(client_order_id)
        if working is None or not working.order_id:
            found = self.tracker.find(client_order_id)
            if found is None:
                return working.snapshot() if working is not None else None
            working = found
        self.tracker.refresh(working)
        return working.snapshot()

    def cancel_order(self, client_order_id: str) -> BrokerOrder:
        """Cancel a live order (or every live child of a parent) and wait briefly for Kite to confirm.
        Raises ``OrderNotFound``, ``BrokerUnavailable``."""
        if client_order_id in self.tracker.parents:
            states = [self.cancel_order(child_id) for child_id in self.tracker.parents[client_order_id]]
            return BrokerOrder.parent_of(client_order_id, states)
        working = self.tracker.working.get(client_order_id)
        if working is not None and working.refused_unsent:
            return working.snapshot()  # refused before it was sent: nothing to cancel
        if working is None or not working.order_id:
            working = self.tracker.find(client_order_id)
            if working is None:
                raise OrderNotFound(client_order_id)
        self.tracker.refresh(working)
        if not working.state.is_terminal:
            self._cancel(working, R_CANCELLED)
        return working.snapshot()

    def find_by_tag(self, tag: str) -> BrokerOrder | None:
        """The order tagged ``tag`` in ``kite.orders()`` (with its fills), None when there is none."""
        working = self.tracker.find(tag)
        return working.snapshot() if working is not None else None

    def basket_margin(self, requests: list[OrderRequest]) -> Decimal | None:
        """Rupees of margin the orders ``requests`` block together, with the hedge benefit (Kite's
        basket margin, ``final.total``); None when Kite gives no total. Raises ``BrokerUnavailable``."""
        orders = [
            {
                "exchange": r.exchange,
                "tradingsymbol": r.tradingsymbol,
                "transaction_type": r.transaction_type,
                "variety": self.config.variety,
                "product": r.product,
                "order_type": fills.LIMIT if r.price is not None else fills.MARKET,
                "quantity": r.quantity,
                "price": float(r.price) if r.price is not None else 0,
            }
            for r in requests
        ]
        total = ((self.client.basket_margins(orders) or {}).get("final") or {}).get("total")
        return None if total is None else Decimal(str(total))

    def positions(self) -> list[dict]:
        """Kite's net positions, normalised (money as Decimal)."""
        return [_net_position(entry) for entry in self.client.net_positions()]

    def poll(self, market: MarketBar | None = None) -> list[BrokerOrder]:
        """Refresh every live order this process works on from ``order_history``; return the ones
        whose status or fills changed, then their split parents."""
        changed = []
        for working in list(self.tracker.working.values()):
            if not working.order_id or working.state.is_terminal:
                continue
            before = (working.state.status, working.state.filled_quantity)
            try:
                self.tracker.refresh(working)
            except BrokerUnavailable:
                continue
            if (working.state.status, working.state.filled_quantity) != before:
                changed.append(working.snapshot())
        changed_ids = {order.client_order_id for order in changed}
        for parent_id, child_ids in self.tracker.parents.items():
            if changed_ids.intersection(child_ids):
                changed.append(self.order_status(parent_id))  # type: ignore[arg-type]
        return changed

    # --- starting an order ----------------------------------------------------------------------------

    def _start(self, request: OrderRequest, market: MarketBar | None) -> WorkingOrder:
        """Adopt the order already carrying the tag, or price and send a new one."""
        tag = request.client_order_id
        known = self.tracker.working.get(tag)
        if known is not None and known.refused_unsent:
            return known  # refused here before: never sent, refused again the same way
        working = WorkingOrder(
            request=request, state=BrokerOrder(client_order_id=tag, quantity=request.quantity)
        )
        raw = self.client.find_tagged(tag)
        if raw is not None:
            self.tracker.working[tag] = working
            self.tracker.adopt(working, raw)
            log.info("order %s found at Kite by tag (%s): adopted, not resent", tag, raw["order_id"])
            return working
        quote = self._opening_quote(request, market)
        working.reference = quote.reference if quote else None
        opening = pricing.opening_price(request, quote, working.reference, self.config)
        if opening.refusal:
            return self._refuse(working, opening)
        self.tracker.working[tag] = working
        self._submit(working, opening.price)
        return working

    def _opening_quote(self, request: OrderRequest, market: MarketBar | None) -> fills.Quote | None:
        """The bar's quote of the contract; Kite's own when the bar has none (or no reference)."""
        quote = fills.quote_from_bar(market, request.expiry, request.strike, request.option_type)
        if quote is None or quote.reference is None:
            quote = self.quotes.get(request) or quote
        return quote

    def _refuse(self, working: WorkingOrder, opening: pricing.Opening) -> WorkingOrder:
        """Refused before anything was sent: REJECTED, no Kite order id."""
        assert working.request is not None
        working.state.status = REJECTED
        working.state.reason = opening.refusal
        working.state.message = opening.message
        working.state.price = working.request.price
        self.tracker.working.setdefault(working.request.client_order_id, working)
        return working

    def _order_params(self, request: OrderRequest, price: Decimal | None) -> dict[str, Any]:
        """``kite.place_order``'s keyword arguments: a LIMIT at ``price``, or MARKET with protection."""
        params: dict[str, Any] = dict(
            variety=self.config.variety,
            exchange=request.exchange,
            tradingsymbol=request.tradingsymbol,
            transaction_type=request.transaction_type,
            quantity=request.quantity,
            product=request.product,
            order_type=fills.LIMIT if price is not None else fills.MARKET,
            validity=self.config.validity,
            tag=request.client_order_id,
        )
        if price is not None:
            params["price"] = float(price)
        else:
            params["market_protection"] = self.config.market_protection
        if self.config.algo_id:
            params["algo_id"] = self.config.algo_id
        return params

    def _submit(self, working: WorkingOrder, price: Decimal | None) -> None:
        """Send the order (limiter, back-off on 429, tag lookup before every resend). Raises
        ``BrokerUnavailable`` when Kite stayed unreachable and has no order with the tag."""
        assert working.request is not None
        params = self._order_params(working.request, price)
        rate_limited = False
        for attempt in range(self.config.max_submit_attempts):
            if attempt and self.tracker.adopt_if_placed(working):  # Kite does not deduplicate
                return
            placed = self.client.try_place(params, attempt)
            if placed.order_id or placed.refusal:
                self._record_placement(working, placed.order_id, placed.refusal, price)
                return
            rate_limited = placed.rate_limited
        if self.tracker.adopt_if_placed(working):
            return
        if not rate_limited:
            raise BrokerUnavailable(f"could not place {working.request.client_order_id}: Kite unreachable")
        working.state.status = REJECTED
        working.state.reason = R_RATE_LIMITED
        working.state.message = f"HTTP 429 after {self.config.max_submit_attempts} attempts"

    @staticmethod
    def _record_placement(working: WorkingOrder, order_id: str, refusal: str, price: Decimal | None) -> None:
        """Kite's answer to a placement: SUBMITTED under ``order_id``, or REJECTED for ``refusal``
        (refused synchronously: nothing was placed)."""
        working.state.price = price
        if refusal:
            working.state.status = REJECTED
            working.state.reason = rejection_reason(refusal)
            working.state.message = refusal
            return
        working.order_id = order_id
        working.price = price
        working.state.broker_order_id = order_id
        working.state.status = SUBMITTED

    # --- working an order -----------------------------------------------------------------------------

    def _work(self, batch: list[WorkingOrder]) -> None:
        """Wait, re-price, and finally cancel the live orders of ``batch`` (step 4)."""
        while True:
            live = self._wait([working for working in batch if working.being_chased])
            if not live:
                return
            self.quotes.clear()
            for working in live:
                self._chase(working)

    def _chase(self, working: WorkingOrder) -> None:
        """One step of the chase of an unfilled order: re-price it, cancel it once the re-pricings
        are spent, or leave it working (an explicit LIMIT when LIMITs are not chased)."""
        assert working.request is not None
        chased = working.request.order_type == fills.MARKET or self.config.chase_limit_orders
        if working.price is None or not chased:
            working.retries = LEFT_WORKING
        elif working.retries >= self.config.max_retries or working.state.modifications >= MAX_MODIFICATIONS:
            self._cancel(working, R_MAX_RETRIES)
        else:
            self._reprice(working)

    def _wait(self, live: list[WorkingOrder]) -> list[WorkingOrder]:
        """Poll ``live`` orders for up to ``wait_seconds``; return those still working."""
        deadline = self._clock() + self.config.wait_seconds
        while live:
            for working in live:
                try:
                    self.tracker.refresh(working)
                except BrokerUnavailable as exc:
                    log.warning("Kite order_history %s: %s", working.order_id, exc)
            live = [working for working in live if not working.state.is_terminal]
            if not live or self._clock() >= deadline:
                break
            self._sleep(self.config.poll_interval)
        return live

    def _reprice(self, working: WorkingOrder) -> None:
        """Move the limit to the current marketable price, at least one step further; modify."""
        assert working.price is not None and working.request is not None
        working.retries += 1
        quote = self.quotes.get(working.request)
        if quote is not None and quote.reference is not None:
            working.reference = quote.reference
        side = working.request.transaction_type
        price = pricing.chase_price(side, working.price, quote, working.reference, self.config)
        if price == working.price:
            return  # at the band edge: nothing better to offer, the attempt still counts
        if self.client.modify_price(working.order_id, price):
            working.price = price
            working.state.price = price
            working.state.modifications += 1

    def _cancel(self, working: WorkingOrder, reason: str) -> None:
        """Cancel at Kite and wait (``wait_seconds``) for the final state; ``reason`` if CANCELLED."""
        self.client.cancel(working.order_id, working.state.client_order_id)
        deadline = self._clock() + max(self.config.wait_seconds, self.config.poll_interval)
        while True:
            self.tracker.refresh(working)
            if working.state.is_terminal or self._clock() >= deadline:
                break
            self._sleep(self.config.poll_interval)
        if working.state.status == CANCELLED:
            working.state.reason = reason
        working.retries = LEFT_WORKING
