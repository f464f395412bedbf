"""The paper broker: fills against the bar's option chain with ``trading.core.fills``. Sends nothing
anywhere.

An in-memory book keyed by client order id. MARKET orders fill at the touch plus slippage; LIMIT
orders are checked for tick and price band, fill at once when marketable, else rest OPEN and are
tried again on every ``poll(market)`` (one call per bar); a resting order still open when a later
session's bar arrives EXPIRES (Kite's DAY validity). Orders above the freeze quantity are split into
whole-lot children.

Persistence: ``on_update(request, order)`` is called after every change of an order (a child's too),
so the caller can store it; after a restart ``restore(request, order)`` puts stored orders back in
the book, which keeps ``place_order`` idempotent across restarts.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from trading import metrics
from trading.brokers.base import Broker, TokenProvider
from trading.brokers.config import BrokerConfig
from trading.core import calendar, fills
from trading.core.bars import MarketBar
from trading.core.order_types import R_CANCELLED, BrokerOrder, OrderNotFound, OrderRequest
from trading.core.orders import CANCELLED, EXPIRED, FILLED, OPEN, REJECTED, is_terminal

UpdateHook = Callable[[OrderRequest, BrokerOrder], None]


@dataclass
class _Entry:
    request: OrderRequest
    order: BrokerOrder
    placed_at: datetime


def _timed(method: Callable) -> Callable:
    """Time a call of the broker contract like the live broker's (``trading_broker_api_*``, broker
    ``paper``): the desk's panels of broker latency and errors read the same for both. A broker with
    ``observed`` False (a backtest's: its orders are not the desk's broker calls) is not timed."""

    @functools.wraps(method)
    def timed(self, *args, **kwargs):
        if not self.observed:
            return method(self, *args, **kwargs)
        with metrics.timed_broker_call(method.__name__, "paper"):
            return method(self, *args, **kwargs)

    return timed


_ID_PREFIX = "PAPER"


class PaperBroker(Broker):
    """Simulated executions (see the module docstring). Thread-safe.

    ``config`` is the fill model (slippage ticks, latency, tick, price band; default
    ``fills.FillConfig()``: no slippage, no latency). ``clock`` gives the order time when a request
    has no ``created_at`` (default: the bar's time).
    """

    name = "paper"
    simulated = True
    observed = True  # its calls count in trading_broker_api_* (False for a backtest's broker)

    def __init__(
        self,
        config: fills.FillConfig | None = None,
        *,
        on_update: UpdateHook | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.config = config or fills.FillConfig()
        self.on_update = on_update
        self.clock = clock
        self._book: dict[str, _Entry] = {}
        self._parents: dict[str, tuple[OrderRequest, list[str]]] = {}
        self._issued = 0  # broker order ids handed out: PAPER0000000001, ...
        self._lock = threading.RLock()

    @classmethod
    def from_config(
        cls,
        config: BrokerConfig,
        *,
        access_token: str | TokenProvider | None = None,
        on_update: UpdateHook | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> PaperBroker:
        """A paper broker on ``config.paper`` (no session: ``access_token`` is ignored)."""
        return cls(config.paper, on_update=on_update, clock=clock)

    # --- the contract ---------------------------------------------------------------------------------

    @_timed
    def place_order(self, request: OrderRequest, market: MarketBar | None = None) -> BrokerOrder:
        """Fill, rest or reject ``request`` against ``market`` (idempotent on its client order id)."""
        with self._lock:
            existing = self._current(request.client_order_id)
            if existing is not None:
                return existing
            at = self._order_time(request, market)
            if request.quantity_problem:
                order = BrokerOrder(
                    client_order_id=request.client_order_id,
                    broker_order_id=self._next_id(),
                    status=REJECTED,
                    reason=fills.R_INVALID_QUANTITY,
                    message=request.quantity_problem,
                    quantity=request.quantity,
                    price=request.price,
                    updated_at=at,
                )
                self._store(request, order, at)
                return order.copy()
            children = request.split()
            if len(children) == 1:
                return self._place_one(request, market, at).copy()
            self._parents[request.client_order_id] = (request, [child.client_order_id for child in children])
            for child in children:
                self._place_one(child, market, at)
            return self._parent(request.client_order_id)

    @_timed
    def order_status(self, client_order_id: str) -> BrokerOrder | None:
        """The order (or split parent) as it stands, None when never placed here."""
        with self._lock:
            return self._current(client_order_id)

    @_timed
    def cancel_order(self, client_order_id: str) -> BrokerOrder:
        """Cancel a live order (every live child of a parent); a terminal one is returned as it is.
        Raises ``OrderNotFound``."""
        with self._lock:
            if client_order_id in self._parents:
                for child_id in self._parents[client_order_id][1]:
                    self._cancel_one(child_id)
                return self._parent(client_order_id)
            if client_order_id not in self._book:
                raise OrderNotFound(client_order_id)
            return self._cancel_one(client_order_id).copy()

    def find_by_tag(self, tag: str) -> BrokerOrder | None:
        """Paper orders are keyed by their tag: the same as ``order_status``."""
        return self.order_status(tag)

    @_timed
    def positions(self) -> list[dict]:
        """Net positions from every paper fill, one dict per (exchange, symbol, product)."""
        with self._lock:
            books: dict[tuple[str, str, str], dict] = {}
            for entry in self._book.values():
                if not entry.order.fills:
                    continue
                key = (entry.request.exchange, entry.request.tradingsymbol, entry.request.product)
                row = books.setdefault(
                    key,
                    {
                        "exchange": key[0],
                        "tradingsymbol": key[1],
                        "product": key[2],
                        "buy_quantity": 0,
                        "sell_quantity": 0,
                        "buy_value": Decimal(0),
                        "sell_value": Decimal(0),
                    },
                )
                side = "buy" if entry.request.transaction_type == fills.BUY else "sell"
                for quantity, price, _ in entry.order.fills:
                    row[f"{side}_quantity"] += quantity
                    row[f"{side}_value"] += price * quantity
            out = []
            for row in books.values():
                net = row["buy_quantity"] - row["sell_quantity"]
                if net > 0:
                    average = row["buy_value"] / row["buy_quantity"]
                elif net < 0:
                    average = row["sell_value"] / row["sell_quantity"]
                else:
                    average = Decimal(0)
                row["quantity"] = net
                row["average_price"] = average.quantize(Decimal("0.01"))
                out.append(row)
            return sorted(out, key=lambda row: (row["exchange"], row["tradingsymbol"], row["product"]))

    @_timed
    def poll(self, market: MarketBar | None = None) -> list[BrokerOrder]:
        """Try every resting LIMIT against ``market`` (filled at its limit when the book reached it;
        EXPIRED when ``market`` is a later session). Returns the changed orders, then the split
        parents they belong to."""
        if market is None:
            return []
        changed: list[BrokerOrder] = []
        with self._lock:
            session = calendar.ist_date(market.time)
            for entry in list(self._book.values()):
                if entry.order.status != OPEN or entry.request.index.upper() != market.index.upper():
                    continue
                if session > calendar.ist_date(entry.placed_at):
                    entry.order.status = EXPIRED
                    entry.order.reason = "end_of_day"
                    entry.order.updated_at = market.time
                else:
                    quote = fills.quote_from_bar(
                        market, entry.request.expiry, entry.request.strike, entry.request.option_type
                    )
                    assert entry.request.price is not None
                    decision = fills.resting_fill(
                        transaction_type=entry.request.transaction_type,
                        limit_price=entry.request.price,
                        quote=quote,
                        at=self._order_time(None, market),
                        config=self.config,
                    )
                    if decision.status != FILLED:
                        continue
                    self._fill(entry.order, decision)
                self._notify(entry)
                changed.append(entry.order.copy())
            parents = {
                parent_id
                for parent_id, (_, child_ids) in self._parents.items()
                if any(order.client_order_id in child_ids for order in changed)
            }
            changed.extend(self._parent(parent_id) for parent_id in sorted(parents))
        return changed

    def forget_finished(self) -> int:
        """Drop every finished order (filled, rejected, cancelled, expired) from the book, and each
        split parent whose children are all gone; returns how many orders went.

        A backtest calls it between sessions when nothing is open or in flight
        (``core.backtest.run_backtest``): its book would otherwise hold every order of the run (a
        year: ~2,800 orders, ~4 MB), and ``poll`` scans the book. What goes is never asked for again:
        the engine asks only about the orders in flight, and a backtest's ids name their bar, so
        none is placed twice. ``positions()`` then nets the fills still in the book: every position
        was flat anyway. The desk's own paper broker keeps its book (it is restored after a restart)."""
        with self._lock:
            done = [cid for cid, entry in self._book.items() if is_terminal(entry.order.status)]
            for cid in done:
                del self._book[cid]
            gone = [pid for pid, (_, kids) in self._parents.items() if not any(k in self._book for k in kids)]
            for parent_id in gone:
                del self._parents[parent_id]
            return len(done)

    # --- persistence ----------------------------------------------------------------------------------

    def restore(self, request: OrderRequest, order: BrokerOrder, parent_client_order_id: str = "") -> None:
        """Put a stored order back in the book (after a restart); ``parent_client_order_id`` links a
        child to its split parent."""
        with self._lock:
            at = order.updated_at or request.created_at or datetime.now(UTC)
            self._book[request.client_order_id] = _Entry(request, order.copy(), at)
            if parent_client_order_id:
                parent = self._parents.setdefault(parent_client_order_id, (request, []))
                if request.client_order_id not in parent[1]:
                    parent[1].append(request.client_order_id)

    # --- internals ------------------------------------------------------------------------------------

    def _next_id(self) -> str:
        with self._lock:
            self._issued += 1
            return f"{_ID_PREFIX}{self._issued:010d}"

    # --- a backtest split in time (``core.parts``) ------------------------------------------------

    def ids_issued(self) -> int:
        """How many broker order ids this broker has handed out (its ids number them from 1)."""
        return self._issued

    def shifted_id(self, broker_order_id: str, by: int) -> str:
        """The id this broker would have given the order ``by`` ids later: a part of a backtest run in
        a process of its own numbers its orders from where that process's broker stood, and the
        merged run renumbers them as one broker would have (``core.parts``)."""
        if not broker_order_id.startswith(_ID_PREFIX):
            return broker_order_id
        return f"{_ID_PREFIX}{int(broker_order_id[len(_ID_PREFIX) :]) + by:010d}"

    def resume_ids(self, issued: int) -> None:
        """Go on numbering after ``issued`` ids (a split backtest's parts merged: ``core.parts``)."""
        with self._lock:
            self._issued = max(self._issued, issued)

    def _order_time(self, request: OrderRequest | None, market: MarketBar | None) -> datetime:
        if request is not None and request.created_at is not None:
            return request.created_at
        if self.clock is not None:
            return self.clock()
        if market is not None:
            return market.time
        return datetime.now(UTC)

    def _current(self, client_order_id: str) -> BrokerOrder | None:
        if client_order_id in self._parents:
            return self._parent(client_order_id)
        entry = self._book.get(client_order_id)
        return entry.order.copy() if entry else None

    def _parent(self, client_order_id: str) -> BrokerOrder:
        _, child_ids = self._parents[client_order_id]
        children = [self._book[child_id].order.copy() for child_id in child_ids if child_id in self._book]
        return BrokerOrder.parent_of(client_order_id, children)

    def _store(self, request: OrderRequest, order: BrokerOrder, at: datetime) -> _Entry:
        entry = _Entry(request, order, at)
        self._book[request.client_order_id] = entry
        self._notify(entry)
        return entry

    def _notify(self, entry: _Entry) -> None:
        if self.on_update is not None:
            self.on_update(entry.request, entry.order.copy())

    def _place_one(self, request: OrderRequest, market: MarketBar | None, at: datetime) -> BrokerOrder:
        quote = fills.quote_from_bar(market, request.expiry, request.strike, request.option_type)
        decision = fills.place_fill(
            transaction_type=request.transaction_type,
            order_type=request.order_type,
            limit_price=request.price,
            quote=quote,
            at=at,
            config=self.config,
        )
        order = BrokerOrder(
            client_order_id=request.client_order_id,
            broker_order_id=self._next_id(),
            status=decision.status,
            reason=decision.reason,
            quantity=request.quantity,
            price=request.price,
            updated_at=at,
        )
        if decision.status == FILLED:
            self._fill(order, decision)
        self._store(request, order, at)
        return order

    @staticmethod
    def _fill(order: BrokerOrder, decision: fills.FillDecision) -> None:
        assert decision.price is not None and decision.at is not None
        order.fills.append((order.quantity - order.filled_quantity, decision.price, decision.at))
        order.filled_quantity = order.quantity
        order.average_price = fills.average_price(order.fills)
        order.status = FILLED
        order.updated_at = decision.at

    def _cancel_one(self, client_order_id: str) -> BrokerOrder:
        entry = self._book[client_order_id]
        if not entry.order.is_terminal:
            entry.order.status = CANCELLED
            entry.order.reason = R_CANCELLED
            self._notify(entry)
        return entry.order
