"""Kite's own record of an order, read only: what a postback or a reconcile by tag believes.

``KiteOrderReader`` reads ``order_history`` and ``order_trades`` (one order by Kite's id) and the
order book (the order carrying a tag) through the same rate-limited client and tracker as the broker,
and never places, modifies or cancels anything: it is not a broker, so it needs no LIVE clearance -
only the API key and today's access token.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from kiteconnect import KiteConnect
from kiteconnect import exceptions as kite_errors

from trading.brokers.base import TokenProvider
from trading.brokers.config import KiteConfig
from trading.brokers.kite.client import KiteClient, KiteLimiters, connect
from trading.brokers.kite.tracking import OrderTracker
from trading.core.order_types import BrokerOrder, BrokerUnavailable


class KiteOrderReader:
    """Reads Kite's orders for ``config``'s account with ``access_token`` (a token or a function
    returning today's). Raises ``BrokerNotConfigured`` without an API key or a token."""

    def __init__(
        self,
        config: KiteConfig,
        *,
        access_token: str | TokenProvider | None = None,
        kite: KiteConnect | None = None,
        limiters: KiteLimiters | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        session = kite if kite is not None else connect(config, access_token)
        self._tracker = OrderTracker(KiteClient(session, config, limiters or KiteLimiters(), sleep))

    def order(self, order_id: str) -> BrokerOrder | None:
        """Kite's order ``order_id`` from its history and trades: status, fills, average price, and
        in ``client_order_id`` the tag Kite holds for it ('' when untagged). None when Kite does not
        know the id. Raises ``BrokerUnavailable``, ``BrokerNotConfigured``."""
        try:
            working = self._tracker.read(order_id)
        except BrokerUnavailable as exc:
            if isinstance(exc.__cause__, kite_errors.InputException):
                return None  # "Couldn't find that order_id"
            raise
        return working.snapshot() if working is not None else None

    def find_by_tag(self, tag: str) -> BrokerOrder | None:
        """The order carrying ``tag`` in Kite's order book (brought up to date from its history and
        trades), None when there is none. Raises ``BrokerUnavailable``, ``BrokerNotConfigured``."""
        working = self._tracker.find(tag)
        return working.snapshot() if working is not None else None
