"""The Kite REST calls the broker makes: each through its rate limiter, with back-off, errors as ours.

A token or permission error is ``BrokerNotConfigured`` (log in again); a call that keeps failing
(network, HTTP 5xx/429) is ``BrokerUnavailable``. Placing, modifying and cancelling report Kite's
own refusals as values, since they are business outcomes, not failures.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import requests
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kite_errors

from trading import metrics
from trading.brokers import ratelimit
from trading.brokers.base import TokenProvider
from trading.brokers.config import KiteConfig
from trading.core import fills
from trading.core.order_types import BrokerNotConfigured, BrokerUnavailable

log = logging.getLogger(__name__)

SESSION_ERRORS = (kite_errors.TokenException, kite_errors.PermissionException)
REFUSALS = (kite_errors.InputException, kite_errors.OrderException)  # Kite said no: nothing happened
FAILURES = (kite_errors.KiteException, requests.RequestException)  # anything else: try again


@dataclass(frozen=True)
class KiteLimiters:
    """The rate limiters of one account: orders (10/s), other requests (10/s), quotes (1/s). The
    defaults are the process-wide ones of ``trading.brokers.ratelimit``, shared by every broker."""

    orders: ratelimit.RateLimiter = field(default_factory=lambda: ratelimit.ORDER_LIMITER)
    requests: ratelimit.RateLimiter = field(default_factory=lambda: ratelimit.REQUEST_LIMITER)
    quotes: ratelimit.RateLimiter = field(default_factory=lambda: ratelimit.QUOTE_LIMITER)


@dataclass(frozen=True)
class PlaceAttempt:
    """One ``place_order`` call: Kite's ``order_id`` when placed, Kite's ``refusal`` text when it
    refused (nothing placed), neither when it failed (``rate_limited``: with HTTP 429)."""

    order_id: str = ""
    refusal: str = ""
    rate_limited: bool = False


def connect(config: KiteConfig, access_token: str | TokenProvider | None) -> KiteConnect:
    """A ``KiteConnect`` session for ``config``'s API key with ``access_token`` (or what the
    provider returns). Raises ``BrokerNotConfigured`` without an API key or a token."""
    if not config.api_key:
        raise BrokerNotConfigured("KITE_API_KEY is not set")
    token = access_token() if callable(access_token) else access_token
    if not token:
        raise BrokerNotConfigured("no Kite access token for today: log in on the Kite page")
    return KiteConnect(
        api_key=config.api_key, access_token=token, root=config.root_url or None, timeout=config.timeout
    )


def _session_refused(exc: Exception) -> BrokerNotConfigured:
    return BrokerNotConfigured(f"Kite refused the session: {exc}")


class KiteClient:
    """The calls of one broker instance. ``kite`` is the ``KiteConnect`` (every REST call timed by
    route, errors counted: ``metrics.instrument_kite``); attempts, back-off and variety come from
    ``config``; ``sleep`` is injectable for tests."""

    def __init__(
        self, kite: KiteConnect, config: KiteConfig, limiters: KiteLimiters, sleep: Callable[[float], None]
    ) -> None:
        self.kite = metrics.instrument_kite(kite)
        self.config = config
        self.limiters = limiters
        self._sleep = sleep

    def _backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt`` (0-based): doubling from the first."""
        return self.config.backoff_seconds * 2**attempt

    # --- reads ----------------------------------------------------------------------------------------

    def read(
        self, call: Callable[..., Any], limiter: ratelimit.RateLimiter | None = None, **kwargs: Any
    ) -> Any:
        """``call(**kwargs)`` (a read) through the request limiter, with back-off on 429 and errors.
        Raises ``BrokerNotConfigured`` on a token error, ``BrokerUnavailable`` when it keeps failing."""
        last: Exception | None = None
        for attempt in range(self.config.max_submit_attempts):
            (limiter or self.limiters.requests).acquire()
            try:
                return call(**kwargs)
            except SESSION_ERRORS as exc:
                raise _session_refused(exc) from exc
            except FAILURES as exc:
                last = exc
                if isinstance(exc, kite_errors.InputException):
                    break
                if attempt + 1 < self.config.max_submit_attempts:
                    metrics.broker_retry(getattr(call, "__name__", "read"), "kite")
                self._sleep(self._backoff(attempt))
        raise BrokerUnavailable(f"Kite {getattr(call, '__name__', call)}: {last}") from last

    def find_tagged(self, tag: str) -> dict | None:
        """The order carrying ``tag`` in the order book (a working or filled one before a refused
        one, then the latest), None when there is none."""
        book = self.read(self.kite.orders) or []
        mine = [entry for entry in book if entry.get("tag") == tag or tag in (entry.get("tags") or [])]
        if not mine:
            return None

        def rank(entry: dict) -> tuple:
            dead = entry.get("status") in ("REJECTED", "CANCELLED")
            return (not dead, str(entry.get("order_timestamp") or ""), str(entry.get("order_id")))

        return max(mine, key=rank)

    def order_history(self, order_id: str) -> list[dict]:
        """Every state of the order, oldest first."""
        return self.read(self.kite.order_history, order_id=order_id) or []

    def order_trades(self, order_id: str) -> list[dict]:
        """The order's executions."""
        return self.read(self.kite.order_trades, order_id=order_id) or []

    def basket_margins(self, orders: list[dict[str, Any]]) -> dict:
        """Kite's margin of ``orders`` taken together (``basket_order_margins``, compact: the
        totals; ``final`` has the hedge benefit), with the account's positions considered."""
        return (
            self.read(self.kite.basket_order_margins, params=orders, consider_positions=True, mode="compact")
            or {}
        )

    def net_positions(self) -> list[dict]:
        """Kite's net positions as Kite sends them."""
        return (self.read(self.kite.positions) or {}).get("net", [])

    def quote(self, key: str) -> fills.Quote | None:
        """Best bid/ask and last price of ``key`` (``"NFO:SYMBOL"``) through the quote limiter
        (1 request/s); None when Kite has none or cannot be reached."""
        try:
            # quote() takes instruments as *args only; a list is its documented form
            data = self.read(lambda: self.kite.quote([key]), limiter=self.limiters.quotes) or {}
        except BrokerUnavailable as exc:
            log.warning("Kite quote %s: %s", key, exc)
            return None
        found = data.get(key)
        if not found:
            return None
        depth = found.get("depth") or {}
        bids = [level.get("price") for level in depth.get("buy") or [] if level.get("price")]
        asks = [level.get("price") for level in depth.get("sell") or [] if level.get("price")]
        return fills.Quote.of(bids[0] if bids else None, asks[0] if asks else None, found.get("last_price"))

    # --- writes ---------------------------------------------------------------------------------------

    def try_place(self, params: dict[str, Any], attempt: int) -> PlaceAttempt:
        """One ``place_order(**params)`` through the order limiter. On a failure it waits before
        returning: the back-off, and after a timeout at least ``lookup_delay`` (the order may exist:
        Kite's order book needs time to show it before the tag lookup that precedes any resend)."""
        self.limiters.orders.acquire()
        try:
            return PlaceAttempt(order_id=str(self.kite.place_order(**params)))
        except SESSION_ERRORS as exc:
            raise _session_refused(exc) from exc
        except REFUSALS as exc:
            return PlaceAttempt(refusal=str(exc))
        except FAILURES as exc:
            rate_limited = getattr(exc, "code", None) == 429
            log.warning("Kite place_order %s attempt %d: %s", params.get("tag"), attempt + 1, exc)
            metrics.broker_retry("place_order", "kite")  # the caller looks the tag up, then resends
            backoff = self._backoff(attempt)
            self._sleep(backoff if rate_limited else max(backoff, self.config.lookup_delay))
            return PlaceAttempt(rate_limited=rate_limited)

    def modify_price(self, order_id: str, price: Decimal) -> bool:
        """Move a LIMIT order to ``price``; False when Kite did not (filled or cancelled meanwhile,
        25 modifications reached, 429, network: the next poll shows where the order stands)."""
        self.limiters.orders.acquire()
        try:
            self.kite.modify_order(
                variety=self.config.variety, order_id=order_id, price=float(price), order_type=fills.LIMIT
            )
        except SESSION_ERRORS as exc:
            raise _session_refused(exc) from exc
        except FAILURES as exc:
            log.warning("Kite modify_order %s -> %s: %s", order_id, price, exc)
            return False
        return True

    def cancel(self, order_id: str, client_order_id: str) -> None:
        """Ask Kite to cancel the order (an order already terminal is left as it is). Raises
        ``BrokerUnavailable`` when every attempt fails."""
        for attempt in range(self.config.max_submit_attempts):
            self.limiters.orders.acquire()
            try:
                self.kite.cancel_order(variety=self.config.variety, order_id=order_id)
                return
            except SESSION_ERRORS as exc:
                raise _session_refused(exc) from exc
            except REFUSALS as exc:
                log.info("Kite cancel_order %s: %s", order_id, exc)  # already terminal
                return
            except FAILURES as exc:
                log.warning("Kite cancel_order %s attempt %d: %s", order_id, attempt + 1, exc)
                if attempt + 1 < self.config.max_submit_attempts:
                    metrics.broker_retry("cancel_order", "kite")
                self._sleep(self._backoff(attempt))
        raise BrokerUnavailable(f"could not cancel {client_order_id} ({order_id})")
