"""The broker contract: what the engine asks of a broker and what it gets back.

One interface, two brokers (``paper`` and ``kite``), found by name through ``trading.brokers.registry``
and built from a frozen ``trading.brokers.config.BrokerConfig`` (``Broker.from_config``): no broker
reads Django settings. The engine never knows which one it talks to: PAPER vs LIVE lives behind this
class, not in ``if`` statements elsewhere. The request and answer types and the errors
(``OrderRequest``, ``BrokerOrder``, ``BrokerError``...) are the pure core's:
``trading.core.order_types``.

Contract of every broker (``Broker``):

* ``place_order(request, market=None) -> BrokerOrder`` is **idempotent on**
  ``request.client_order_id``: the broker looks the id (Kite's ``tag``) up before any submission or
  resubmission and returns the existing order instead of placing a second one. Business outcomes
  come back as a status with a reason, never as exceptions: ``REJECTED`` (``invalid_price``,
  ``price_band``, ``invalid_quantity``, ``no_quote``, ``rate_limited``, the broker's own refusal),
  ``CANCELLED`` (``max_retries_exceeded``), ``OPEN`` / ``PARTIALLY_FILLED`` / ``FILLED``. An order
  above ``request.freeze_quantity`` is split into whole-lot child orders: the returned parent carries
  them in ``children`` and sums their fills. Raises ``InvalidOrderRequest`` for a malformed request
  (a programming error, nothing sent), ``BrokerNotConfigured`` when credentials are missing or
  refused, ``BrokerUnavailable`` when the broker cannot be reached and the order's fate is unknown
  (place it again later with the same request: the tag lookup makes that safe).
* ``order_status(client_order_id) -> BrokerOrder | None``: the latest state, None if the broker never
  saw that id. Raises ``BrokerUnavailable``.
* ``cancel_order(client_order_id) -> BrokerOrder``: cancels what is still open and returns the
  result (an order already terminal is returned unchanged: FILLED stays FILLED). Raises
  ``OrderNotFound`` for an unknown id, ``BrokerUnavailable``.
* ``find_by_tag(tag) -> BrokerOrder | None``: the order carrying that tag at the broker (the
  reconciliation and resubmission lookup). Raises ``BrokerUnavailable``.
* ``positions() -> list[dict]``: net positions, one dict per contract with ``tradingsymbol``,
  ``exchange``, ``product``, ``quantity`` (net, + long / - short), ``buy_quantity``,
  ``sell_quantity``, ``buy_value``, ``sell_value`` and ``average_price`` (Decimals for money).
  Raises ``BrokerUnavailable``.
* ``poll(market=None) -> list[BrokerOrder]``: advance the orders still working and return those that
  changed (paper: resting LIMITs tried against the new bar; Kite: ``order_history`` polled). Call it
  every bar.

Times are aware datetimes (UTC). Prices are ``Decimal`` rupees. Quantities are units.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from trading.brokers.config import BrokerConfig
from trading.core.bars import MarketBar
from trading.core.order_types import BrokerOrder, OrderRequest

TokenProvider = Callable[[], str]
"""Returns the broker session's access token ('' when nobody has logged in): the caller's, since
the token lives in the database and a broker reads no database."""


class Broker:
    """Base class of the brokers; see the module docstring for the contract every method keeps."""

    name: str = ""
    simulated: bool = False
    """True for a broker that sends nothing anywhere (paper). Any other broker - plugins included,
    unless they say otherwise - is treated as live: only LIVE mode may build it."""

    @classmethod
    def from_config(
        cls, config: BrokerConfig, *, access_token: str | TokenProvider | None = None, **collaborators: Any
    ) -> Broker:
        """A broker built from ``config`` (its own section of it) and runtime ``collaborators`` (hooks,
        clocks, clients). ``access_token`` is for brokers with a session (Kite); others ignore it.
        The default, for a plugin without configuration: ``cls(**collaborators)``."""
        return cls(**collaborators)

    def place_order(self, request: OrderRequest, market: MarketBar | None = None) -> BrokerOrder:
        """Place ``request`` (idempotent on its client order id) against ``market``'s quotes."""
        raise NotImplementedError

    def order_status(self, client_order_id: str) -> BrokerOrder | None:
        """The latest state of an order, None when the broker never saw that id."""
        raise NotImplementedError

    def cancel_order(self, client_order_id: str) -> BrokerOrder:
        """Cancel what is still open of an order; return its final state."""
        raise NotImplementedError

    def find_by_tag(self, tag: str) -> BrokerOrder | None:
        """The order carrying ``tag`` at the broker, None when there is none."""
        raise NotImplementedError

    def positions(self) -> list[dict]:
        """Net positions at the broker (see the module docstring for the keys)."""
        raise NotImplementedError

    def poll(self, market: MarketBar | None = None) -> list[BrokerOrder]:
        """Advance working orders (a new bar, or a status poll); return the orders that changed."""
        return []

    def basket_margin(self, requests: list[OrderRequest]) -> Decimal | None:
        """Rupees of margin the orders ``requests`` need together (a combo's legs, with the hedge
        benefit), None when the broker cannot say (the engine then uses its estimate)."""
        return None
