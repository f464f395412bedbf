"""The live broker: Zerodha Kite Connect through the official ``kiteconnect`` client.

How an order is worked (``place_order``):

1. **Lookup first.** The client order id is the Kite ``tag``. Kite does not deduplicate, so before
   any submission or resubmission ``kite.orders()`` is searched for the tag; an order found there is
   adopted (and worked on) instead of placing a second one.
2. **Price.** MARKET means "fill now": Kite gets a LIMIT at a marketable price (best ask + ``buffer_ticks``
   for a BUY, best bid - buffer for a SELL, on the 0.05 tick, inside the price band), from the bar's
   chain or, without one, from ``kite.quote``. A LIMIT's own price is checked for tick and price band
   and refused before it is sent (REJECTED ``invalid_price``; the detail in ``message``). With
   ``market_orders=True`` MARKET orders go as MARKET with ``market_protection`` (required since
   2026-04-01).
3. **Send**, through the in-process limiter (10 orders/s; ``ratelimit``), keyword arguments only, with
   ``algo_id`` when configured. HTTP 429 -> back off and retry; a timeout or network error -> wait
   ``lookup_delay`` (the order may exist), look the tag up, then retry. Kite's own refusal -> REJECTED with a reason code (``rejection_reason``).
4. **Chase.** Poll ``order_history`` for up to ``wait_seconds``; not filled -> re-price to the current
   marketable price (at least ``reprice_step_ticks`` further) with ``modify_order``, up to
   ``max_retries`` times (Kite allows 25 modifications: ``max_retries <= 25``); then cancel and
   report CANCELLED ``max_retries_exceeded`` (with whatever filled). An explicit LIMIT is chased too
   unless ``chase_limit_orders=False`` (then it is left OPEN).
5. An order above the freeze quantity is split into whole-lot children (own tags, placed together,
   chased together); the parent sums them.

Order updates also arrive by postback (``trading.kite_views.kite_postback``) and by ``poll()``.

Kite statuses -> ours (``map_status``): PUT ORDER REQ RECEIVED / VALIDATION PENDING / OPEN PENDING ->
SUBMITTED; OPEN / TRIGGER PENDING / MODIFY VALIDATION PENDING / MODIFY PENDING / MODIFIED / CANCEL
PENDING -> OPEN (PARTIALLY_FILLED once something filled); COMPLETE -> FILLED; CANCELLED ->
CANCELLED; REJECTED -> REJECTED; LAPSED / EXPIRED -> EXPIRED.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import requests
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kex

from trading import metrics
from trading.brokers import ratelimit
from trading.brokers.base import Broker
from trading.core import calendar, fills
from trading.core.bars import MarketBar
from trading.core.order_types import (
    CANCELLED,
    EXPIRED,
    FILLED,
    OPEN,
    PARTIALLY_FILLED,
    R_BROKER_REJECTED,
    R_CANCELLED,
    R_INVALID_PRICE,
    R_INVALID_QUANTITY,
    R_MAX_RETRIES,
    R_NO_QUOTE,
    R_RATE_LIMITED,
    REJECTED,
    SUBMITTED,
    BrokerNotConfigured,
    BrokerOrder,
    BrokerUnavailable,
    OrderNotFound,
    OrderRequest,
)

log = logging.getLogger(__name__)

MAX_MODIFICATIONS = 25  # Kite's limit per order

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
    m = (message or "").lower()
    if "tick" in m:
        return R_INVALID_PRICE
    if any(w in m for w in ("circuit", "price band", "price range", "price protection", "lpp")):
        return fills.R_PRICE_BAND
    if "margin" in m or "insufficient funds" in m:
        return "insufficient_margin"
    if "freeze" in m:
        return "freeze_quantity"
    if "lot size" in m or "quantity" in m:
        return R_INVALID_QUANTITY
    return R_BROKER_REJECTED


def _setting(name: str, default: Any) -> Any:
    try:
        from django.conf import settings

        value = getattr(settings, name, None)
    except Exception:  # noqa: BLE001 - outside Django the defaults apply
        value = None
    return default if value in (None, "") else value


def kite_time(value: object) -> datetime | None:
    """Kite's timestamps are IST without a zone ('2026-05-05 10:00:01' or a naive datetime)."""
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


def _dec(value: object) -> Decimal | None:
    if value in (None, ""):
        return None
    d = Decimal(str(value))
    return d if d > 0 else None


@dataclass
class _Working:
    """One real Kite order being worked: its request, Kite id, current price and counters."""

    req: OrderRequest | None
    state: BrokerOrder
    order_id: str = ""
    price: Decimal | None = None
    reference: Decimal | None = None
    retries: int = 0
    history: list[dict] = field(default_factory=list)


class KiteBroker(Broker):
    """Orders through Kite Connect (see the module docstring for how an order is worked).

    Configuration (keyword arguments, else settings, else defaults): ``api_key`` / ``access_token``
    / ``root`` (``KITE_API_KEY``, the token stored by the daily login, ``KITE_ROOT_URL``);
    ``algo_id`` (``KITE_ALGO_ID``); ``max_retries`` re-pricings (``KITE_MAX_RETRIES``, 5, at most 25);
    ``wait_seconds`` per attempt (``KITE_RETRY_WAIT_SECONDS``, 2.0); ``poll_interval``
    (``KITE_POLL_SECONDS``, 0.5); ``buffer_ticks`` over the touch (``KITE_PRICE_BUFFER_TICKS``, 2).
    ``kite`` may be a ready ``KiteConnect``. Raises ``BrokerNotConfigured`` without an API key or an
    access token, ValueError for ``max_retries`` > 25.
    """

    name = "kite"

    def __init__(
        self,
        *,
        kite: KiteConnect | None = None,
        api_key: str | None = None,
        access_token: str | None = None,
        root: str | None = None,
        timeout: float | None = None,
        algo_id: str | None = None,
        max_retries: int | None = None,
        wait_seconds: float | None = None,
        poll_interval: float | None = None,
        buffer_ticks: int | None = None,
        reprice_step_ticks: int = 1,
        chase_limit_orders: bool = True,
        market_orders: bool = False,
        market_protection: int = -1,
        variety: str = "regular",
        validity: str = "DAY",
        refresh_quotes: bool = True,
        max_submit_attempts: int = 4,
        backoff_seconds: float = 0.25,
        lookup_delay: float = 1.0,
        order_limiter: ratelimit.RateLimiter | None = None,
        request_limiter: ratelimit.RateLimiter | None = None,
        quote_limiter: ratelimit.RateLimiter | None = None,
        band: fills.BandRule = fills.DEFAULT_BAND,
        tick: Decimal = fills.TICK_SIZE,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if kite is None:
            api_key = api_key or _setting("KITE_API_KEY", "")
            if not api_key:
                raise BrokerNotConfigured("KITE_API_KEY is not set")
            if not access_token:
                from trading.broker_services import kite_access_token

                access_token = kite_access_token()
            if not access_token:
                raise BrokerNotConfigured("no Kite access token for today: log in on the Kite page")
            kite = KiteConnect(
                api_key=api_key,
                access_token=access_token,
                root=root or _setting("KITE_ROOT_URL", None),
                timeout=timeout or _setting("KITE_TIMEOUT", None),
            )
        self.kite = metrics.instrument_kite(kite)  # every REST call timed by route, errors counted
        self.algo_id = algo_id if algo_id is not None else _setting("KITE_ALGO_ID", "")
        self.max_retries = int(max_retries if max_retries is not None else _setting("KITE_MAX_RETRIES", 5))
        if not 0 <= self.max_retries <= MAX_MODIFICATIONS:
            raise ValueError(
                f"max_retries {self.max_retries}: Kite allows 0..{MAX_MODIFICATIONS} modifications"
            )
        self.wait_seconds = float(
            wait_seconds if wait_seconds is not None else _setting("KITE_RETRY_WAIT_SECONDS", 2.0)
        )
        self.poll_interval = float(
            poll_interval if poll_interval is not None else _setting("KITE_POLL_SECONDS", 0.5)
        )
        self.buffer_ticks = int(
            buffer_ticks if buffer_ticks is not None else _setting("KITE_PRICE_BUFFER_TICKS", 2)
        )
        self.reprice_step_ticks = max(int(reprice_step_ticks), 1)
        self.chase_limit_orders = chase_limit_orders
        self.market_orders = market_orders
        if market_protection == 0 or not -1 <= market_protection <= 100:
            raise ValueError("market_protection must be -1 or 1..100 (0 is rejected by Kite)")
        self.market_protection = market_protection
        self.variety = variety
        self.validity = validity
        self.refresh_quotes = refresh_quotes
        self.max_submit_attempts = max(int(max_submit_attempts), 1)
        self.backoff_seconds = backoff_seconds
        self.lookup_delay = lookup_delay
        self.order_limiter = order_limiter or ratelimit.ORDER_LIMITER
        self.request_limiter = request_limiter or ratelimit.REQUEST_LIMITER
        self.quote_limiter = quote_limiter or ratelimit.QUOTE_LIMITER
        self.band = band
        self.tick = tick
        self._sleep = sleep
        self._clock = clock
        self._working: dict[str, _Working] = {}
        self._parents: dict[str, list[str]] = {}
        self._quotes: dict[str, fills.Quote | None] = {}  # one quote per contract per round (1 req/s)

    # --- the contract ---------------------------------------------------------------------------------

    def place_order(self, req: OrderRequest, market: MarketBar | None = None) -> BrokerOrder:
        """Place and work ``req`` until it is filled, refused, or cancelled after ``max_retries``
        re-pricings (idempotent on the tag). Raises ``BrokerUnavailable``/``BrokerNotConfigured``."""
        if req.quantity_problem:
            return BrokerOrder(
                client_order_id=req.client_order_id,
                status=REJECTED,
                reason=R_INVALID_QUANTITY,
                message=req.quantity_problem,
                quantity=req.quantity,
            )
        children = req.split()
        if len(children) > 1:
            self._parents[req.client_order_id] = [c.client_order_id for c in children]
        self._quotes.clear()
        batch = [self._start(child, market) for child in children]
        self._work(batch, market)
        if len(children) > 1:
            return BrokerOrder.parent_of(req.client_order_id, [deepcopy(w.state) for w in batch])
        return deepcopy(batch[0].state)

    def order_status(self, client_order_id: str) -> BrokerOrder | None:
        """The latest state from ``order_history`` (a parent: from its children); an id this
        process has not seen is looked up by tag. None when Kite has no such order."""
        if client_order_id in self._parents:
            kids = [self.order_status(c) for c in self._parents[client_order_id]]
            return BrokerOrder.parent_of(client_order_id, [k for k in kids if k is not None])
        w = self._working.get(client_order_id)
        if w is None or not w.order_id:
            found = self.find_by_tag(client_order_id)
            if found is None:
                return deepcopy(w.state) if w is not None else None
            w = self._working[client_order_id]
        self._refresh(w)
        return deepcopy(w.state)

    def cancel_order(self, client_order_id: str) -> BrokerOrder:
        """Cancel a live order (or every live child of a parent) and wait briefly for Kite to confirm.
        Raises ``OrderNotFound``, ``BrokerUnavailable``."""
        if client_order_id in self._parents:
            kids = [self.cancel_order(c) for c in self._parents[client_order_id]]
            return BrokerOrder.parent_of(client_order_id, kids)
        w = self._working.get(client_order_id)
        if w is not None and not w.order_id and w.state.is_terminal:
            return deepcopy(w.state)  # refused before it was sent: nothing to cancel
        if (w is None or not w.order_id) and self.find_by_tag(client_order_id) is None:
            raise OrderNotFound(client_order_id)
        w = self._working[client_order_id]
        self._refresh(w)
        if not w.state.is_terminal:
            self._cancel(w, R_CANCELLED)
        return deepcopy(w.state)

    def find_by_tag(self, tag: str) -> BrokerOrder | None:
        """The order tagged ``tag`` in ``kite.orders()`` (with its fills), None when there is none."""
        raw = self._find_raw(tag)
        if raw is None:
            return None
        w = self._working.get(tag)
        if w is None:
            w = _Working(req=None, state=BrokerOrder(client_order_id=tag))
            self._working[tag] = w
        self._adopt(w, raw)
        return deepcopy(w.state)

    def positions(self) -> list[dict]:
        """Kite's net positions, normalised (money as Decimal)."""
        data = self._read(self.kite.positions) or {}
        out = []
        for p in data.get("net", []):
            out.append(
                {
                    "exchange": p.get("exchange", ""),
                    "tradingsymbol": p.get("tradingsymbol", ""),
                    "product": p.get("product", ""),
                    "quantity": int(p.get("quantity") or 0),
                    "buy_quantity": int(p.get("buy_quantity") or 0),
                    "sell_quantity": int(p.get("sell_quantity") or 0),
                    "buy_value": Decimal(str(p.get("buy_value") or 0)),
                    "sell_value": Decimal(str(p.get("sell_value") or 0)),
                    "average_price": Decimal(str(p.get("average_price") or 0)).quantize(Decimal("0.01")),
                }
            )
        return out

    def poll(self, market: MarketBar | None = None) -> list[BrokerOrder]:
        """Refresh every live order this process works on from ``order_history``; return the ones
        whose status or fills changed, then their split parents."""
        changed = []
        for w in list(self._working.values()):
            if not w.order_id or w.state.is_terminal:
                continue
            before = (w.state.status, w.state.filled_quantity)
            try:
                self._refresh(w)
            except BrokerUnavailable:
                continue
            if (w.state.status, w.state.filled_quantity) != before:
                changed.append(deepcopy(w.state))
        ids = {c.client_order_id for c in changed}
        for pid, kids in self._parents.items():
            if ids.intersection(kids):
                changed.append(self.order_status(pid))  # type: ignore[arg-type]
        return changed

    # --- starting an order ----------------------------------------------------------------------------

    def _start(self, req: OrderRequest, market: MarketBar | None) -> _Working:
        """Adopt the order already carrying the tag, or price and send a new one."""
        known = self._working.get(req.client_order_id)
        if known is not None and not known.order_id and known.state.is_terminal:
            return known  # refused here before: never sent, refused again the same way
        w = _Working(req=req, state=BrokerOrder(client_order_id=req.client_order_id, quantity=req.quantity))
        raw = self._find_raw(req.client_order_id)
        if raw is not None:
            self._working[req.client_order_id] = w
            self._adopt(w, raw)
            log.info(
                "order %s found at Kite by tag (%s): adopted, not resent",
                req.client_order_id,
                raw["order_id"],
            )
            return w
        quote = fills.quote_from_bar(market, req.expiry, req.strike, req.option_type)
        if quote is None or quote.reference is None:
            quote = self._fresh_quote(req) or quote
        w.reference = quote.reference if quote else None
        if req.order_type == fills.LIMIT:
            problem = fills.price_reject_reason(req.price, w.reference, tick=self.tick, band=self.band)
            if problem:
                return self._refused(w, R_INVALID_PRICE, self._price_detail(problem, req.price, w.reference))
            price: Decimal | None = req.price
        elif self.market_orders:
            price = None
        else:
            price = (
                fills.marketable_limit_price(
                    req.transaction_type,
                    quote,
                    buffer_ticks=self.buffer_ticks,
                    tick=self.tick,
                    band=self.band,
                )
                if quote
                else None
            )
            if price is None:
                return self._refused(
                    w, R_NO_QUOTE, f"no {req.transaction_type} side quote for {req.tradingsymbol}"
                )
        self._working[req.client_order_id] = w
        self._submit(w, price)
        return w

    def _price_detail(self, problem: str, price: Decimal | None, reference: Decimal | None) -> str:
        if problem == fills.R_PRICE_BAND and reference is not None:
            low, high = fills.price_band(reference, self.band, self.tick)
            return f"price_band: {price} outside {low}-{high} around {reference}"
        return f"{problem}: {price} is not a positive multiple of {self.tick}"

    def _refused(self, w: _Working, reason: str, message: str) -> _Working:
        """Refused before anything was sent: REJECTED, no Kite order id."""
        w.state.status = REJECTED
        w.state.reason = reason
        w.state.message = message
        w.state.price = w.req.price
        self._working.setdefault(w.req.client_order_id, w)
        return w

    def _submit(self, w: _Working, price: Decimal | None) -> None:
        """Send the order (limiter, back-off on 429, tag lookup before every resend)."""
        req = w.req
        params: dict[str, Any] = dict(
            variety=self.variety,
            exchange=req.exchange,
            tradingsymbol=req.tradingsymbol,
            transaction_type=req.transaction_type,
            quantity=req.quantity,
            product=req.product,
            order_type=fills.LIMIT if price is not None else fills.MARKET,
            validity=self.validity,
            tag=req.client_order_id,
        )
        if price is not None:
            params["price"] = float(price)
        else:
            params["market_protection"] = self.market_protection
        if self.algo_id:
            params["algo_id"] = self.algo_id
        rate_limited = False
        for attempt in range(self.max_submit_attempts):
            if attempt:
                raw = self._find_raw(req.client_order_id)  # Kite does not deduplicate: look before resending
                if raw is not None:
                    self._adopt(w, raw)
                    return
            self.order_limiter.acquire()
            try:
                order_id = self.kite.place_order(**params)
            except (kex.TokenException, kex.PermissionException) as exc:
                raise BrokerNotConfigured(f"Kite refused the session: {exc}") from exc
            except (kex.InputException, kex.OrderException) as exc:
                # Refused synchronously: nothing was placed.
                w.state.status = REJECTED
                w.state.reason = rejection_reason(str(exc))
                w.state.message = str(exc)
                w.state.price = price
                return
            except (kex.KiteException, requests.RequestException) as exc:
                rate_limited = getattr(exc, "code", None) == 429
                log.warning("Kite place_order %s attempt %d: %s", req.client_order_id, attempt + 1, exc)
                backoff = self.backoff_seconds * 2**attempt
                # After a timeout the order may exist: give Kite's order book time to show it
                # before the tag lookup that precedes any resend.
                self._sleep(backoff if rate_limited else max(backoff, self.lookup_delay))
                continue
            w.order_id = str(order_id)
            w.price = price
            w.state.broker_order_id = w.order_id
            w.state.status = SUBMITTED
            w.state.price = price
            return
        raw = self._find_raw(req.client_order_id)
        if raw is not None:
            self._adopt(w, raw)
            return
        if rate_limited:
            w.state.status = REJECTED
            w.state.reason = R_RATE_LIMITED
            w.state.message = f"HTTP 429 after {self.max_submit_attempts} attempts"
            return
        raise BrokerUnavailable(f"could not place {req.client_order_id}: Kite unreachable")

    # --- working an order -----------------------------------------------------------------------------

    def _work(self, batch: list[_Working], market: MarketBar | None) -> None:
        """Wait, re-price, and finally cancel the live orders of ``batch`` (see step 4)."""
        while True:
            # retries < 0: cancelled by us, or an order we leave working (not chased)
            live = self._wait([w for w in batch if w.order_id and not w.state.is_terminal and w.retries >= 0])
            if not live:
                return
            self._quotes.clear()
            for w in live:
                assert w.req is not None
                chase = w.price is not None and (w.req.order_type == fills.MARKET or self.chase_limit_orders)
                if not chase:
                    w.retries = -1
                elif w.retries >= self.max_retries or w.state.modifications >= MAX_MODIFICATIONS:
                    self._cancel(w, R_MAX_RETRIES)
                else:
                    self._reprice(w)

    def _wait(self, live: list[_Working]) -> list[_Working]:
        """Poll ``live`` orders for up to ``wait_seconds``; return those still working."""
        deadline = self._clock() + self.wait_seconds
        while live:
            for w in live:
                try:
                    self._refresh(w)
                except BrokerUnavailable as exc:
                    log.warning("Kite order_history %s: %s", w.order_id, exc)
            live = [w for w in live if not w.state.is_terminal]
            if not live or self._clock() >= deadline:
                break
            self._sleep(self.poll_interval)
        return live

    def _reprice(self, w: _Working) -> None:
        """Move the limit to the current marketable price, at least one step further; modify."""
        w.retries += 1
        assert w.price is not None and w.req is not None
        step = self.tick * self.reprice_step_ticks
        side = w.req.transaction_type
        quote = self._fresh_quote(w.req)
        target = (
            fills.marketable_limit_price(
                side, quote, buffer_ticks=self.buffer_ticks, tick=self.tick, band=self.band
            )
            if quote
            else None
        )
        if quote is not None and quote.reference is not None:
            w.reference = quote.reference
        if side == fills.BUY:
            new = max(target or w.price, w.price + step)
        else:
            new = max(min(target or w.price, w.price - step), self.tick)
        if w.reference is not None:
            low, high = fills.price_band(w.reference, self.band, self.tick)
            new = min(max(new, low), high)
        if new == w.price:
            return  # at the band edge: nothing better to offer, the attempt still counts
        self.order_limiter.acquire()
        try:
            self.kite.modify_order(
                variety=self.variety, order_id=w.order_id, price=float(new), order_type=fills.LIMIT
            )
        except (kex.TokenException, kex.PermissionException) as exc:
            raise BrokerNotConfigured(f"Kite refused the session: {exc}") from exc
        except (kex.KiteException, requests.RequestException) as exc:
            # Filled or cancelled meanwhile, 25 modifications reached, 429, network: the next
            # poll shows where the order stands; the attempt counts.
            log.warning("Kite modify_order %s -> %s: %s", w.order_id, new, exc)
            return
        w.price = new
        w.state.price = new
        w.state.modifications += 1

    def _cancel(self, w: _Working, reason: str) -> None:
        """Cancel at Kite and wait (``wait_seconds``) for the final state; ``reason`` if CANCELLED."""
        for attempt in range(self.max_submit_attempts):
            self.order_limiter.acquire()
            try:
                self.kite.cancel_order(variety=self.variety, order_id=w.order_id)
                break
            except (kex.TokenException, kex.PermissionException) as exc:
                raise BrokerNotConfigured(f"Kite refused the session: {exc}") from exc
            except (kex.InputException, kex.OrderException) as exc:
                log.info("Kite cancel_order %s: %s", w.order_id, exc)  # already terminal
                break
            except (kex.KiteException, requests.RequestException) as exc:
                log.warning("Kite cancel_order %s attempt %d: %s", w.order_id, attempt + 1, exc)
                self._sleep(self.backoff_seconds * 2**attempt)
        else:
            raise BrokerUnavailable(f"could not cancel {w.state.client_order_id} ({w.order_id})")
        deadline = self._clock() + max(self.wait_seconds, self.poll_interval)
        while True:
            self._refresh(w)
            if w.state.is_terminal or self._clock() >= deadline:
                break
            self._sleep(self.poll_interval)
        if w.state.status == CANCELLED:
            w.state.reason = reason
        w.retries = -1

    # --- reading Kite ---------------------------------------------------------------------------------

    def _read(
        self, fn: Callable[..., Any], limiter: ratelimit.RateLimiter | None = None, **kwargs: Any
    ) -> Any:
        """``fn(**kwargs)`` (a read) through the request limiter, with back-off on 429 and errors.
        Raises ``BrokerNotConfigured`` on a token error, ``BrokerUnavailable`` when it keeps failing."""
        last: Exception | None = None
        for attempt in range(self.max_submit_attempts):
            (limiter or self.request_limiter).acquire()
            try:
                return fn(**kwargs)
            except (kex.TokenException, kex.PermissionException) as exc:
                raise BrokerNotConfigured(f"Kite refused the session: {exc}") from exc
            except (kex.KiteException, requests.RequestException) as exc:
                last = exc
                if isinstance(exc, kex.InputException):
                    break
                self._sleep(self.backoff_seconds * 2**attempt)
        raise BrokerUnavailable(f"Kite {getattr(fn, '__name__', fn)}: {last}") from last

    def _find_raw(self, tag: str) -> dict | None:
        """The order carrying ``tag`` in the order book (a working or filled one before a refused
        one, then the latest)."""
        orders = self._read(self.kite.orders) or []
        mine = [o for o in orders if o.get("tag") == tag or tag in (o.get("tags") or [])]
        if not mine:
            return None

        def rank(o: dict) -> tuple:
            dead = o.get("status") in ("REJECTED", "CANCELLED")
            return (not dead, str(o.get("order_timestamp") or ""), str(o.get("order_id")))

        return max(mine, key=rank)

    def _adopt(self, w: _Working, raw: dict) -> None:
        """Take over an order found at Kite: its id, price, history and fills."""
        w.order_id = str(raw["order_id"])
        w.state.broker_order_id = w.order_id
        w.price = _dec(raw.get("price"))
        w.state.quantity = int(raw.get("quantity") or w.state.quantity)
        self._apply(w, raw)
        if not w.state.is_terminal:
            self._refresh(w)

    def _refresh(self, w: _Working) -> None:
        """Read ``order_history`` and apply its last entry (and new fills)."""
        history = self._read(self.kite.order_history, order_id=w.order_id) or []
        if not history:
            return
        w.history = history
        w.state.modifications = max(
            w.state.modifications, sum(1 for h in history if h.get("status") == "MODIFY VALIDATION PENDING")
        )
        self._apply(w, history[-1])

    def _apply(self, w: _Working, raw: dict) -> None:
        filled = int(raw.get("filled_quantity") or 0)
        status = map_status(raw.get("status", ""), filled)
        s = w.state
        s.status = status
        s.filled_quantity = filled
        s.average_price = _dec(raw.get("average_price")) if filled else None
        s.updated_at = (
            kite_time(raw.get("exchange_update_timestamp") or raw.get("order_timestamp")) or s.updated_at
        )
        if raw.get("price"):
            s.price = _dec(raw.get("price"))
        if status == REJECTED:
            s.message = str(raw.get("status_message") or "")
            s.reason = rejection_reason(s.message)
        elif status == CANCELLED and not s.reason:
            s.reason = R_CANCELLED
        if filled > sum(q for q, _, _ in s.fills):
            self._load_fills(w)

    def _load_fills(self, w: _Working) -> None:
        try:
            trades = self._read(self.kite.order_trades, order_id=w.order_id) or []
        except BrokerUnavailable as exc:
            log.warning("Kite order_trades %s: %s", w.order_id, exc)
            return
        w.state.fills = sorted(
            (
                (
                    int(t["quantity"]),
                    Decimal(str(t["average_price"])),
                    kite_time(t.get("fill_timestamp") or t.get("exchange_timestamp")) or datetime.now(UTC),
                )
                for t in trades
            ),
            key=lambda f: f[2],
        )

    def _fresh_quote(self, req: OrderRequest) -> fills.Quote | None:
        """Best bid/ask and last price from ``kite.quote`` (1 request/s), None when unavailable."""
        if not self.refresh_quotes:
            return None
        key = f"{req.exchange}:{req.tradingsymbol}"
        if key not in self._quotes:
            self._quotes[key] = self._kite_quote(key)
        return self._quotes[key]

    def _kite_quote(self, key: str) -> fills.Quote | None:
        try:
            # quote() takes instruments as *args only; a list is its documented form
            data = self._read(lambda: self.kite.quote([key]), limiter=self.quote_limiter) or {}
        except BrokerUnavailable as exc:
            log.warning("Kite quote %s: %s", key, exc)
            return None
        q = data.get(key)
        if not q:
            return None
        depth = q.get("depth") or {}
        bids = [d.get("price") for d in depth.get("buy") or [] if d.get("price")]
        asks = [d.get("price") for d in depth.get("sell") or [] if d.get("price")]
        return fills.Quote.of(bids[0] if bids else None, asks[0] if asks else None, q.get("last_price"))
