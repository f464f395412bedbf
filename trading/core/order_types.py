"""What the engine and every broker exchange: the order request, the broker's answer, the errors.

Pure: the engine in ``trading.core`` builds ``OrderRequest`` values and reads ``BrokerOrder`` answers;
``trading.brokers`` implement the ``Broker`` contract (``trading.brokers.base``) over the same types.

A module of its own, not part of ``trading.core.orders``: ``orders`` (state machine, client order
ids, contract selection) is imported by ``trading.core.fills``, and these types need ``fills`` (order
kinds, the freeze-quantity split, a split parent's status); one module holding both would import
itself in a circle. Statuses are ``trading.core.orders``'s, reason codes the fill model's
(``fills.R_INVALID_PRICE``, ``R_PRICE_BAND``, ``R_INVALID_QUANTITY``, ``R_NO_QUOTE``) and the
broker's own below.

Times are aware datetimes (UTC), prices ``Decimal`` rupees, quantities units.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal

from trading.core import calendar, contracts, fills
from trading.core import orders as order_states

R_MAX_RETRIES = "max_retries_exceeded"
R_RATE_LIMITED = "rate_limited"
R_BROKER_REJECTED = "broker_rejected"
R_CANCELLED = "cancelled"


class BrokerError(Exception):
    """Base class of the errors a broker raises."""


class NotWrittenAhead(Exception):
    """Raised by an order hook's ``before_submit``: the order's row could not be stored before the
    send (the database went away mid-cycle), so the order must not be sent - an entry the desk could
    not find again after a restart would be a position nobody exits."""


class InvalidOrderRequest(BrokerError, ValueError):
    """The request itself is malformed (bad client order id, side, order type): nothing was sent."""


class BrokerNotConfigured(BrokerError):
    """Credentials missing, or the broker refused them (Kite ``TokenException``: log in again)."""


class BrokerUnavailable(BrokerError):
    """The broker could not be reached; an order's fate is unknown until it is looked up by tag."""


class OrderNotFound(BrokerError, KeyError):
    """No order with that client order id at this broker."""


@dataclass(frozen=True)
class OrderRequest:
    """One order the engine wants (the parent, before any freeze-quantity split).

    ``client_order_id`` is unique and deterministic (``trading.core.orders``), at most 20 letters and
    digits: it is Kite's ``tag``. ``order_type`` MARKET means "fill now" (paper: at the touch; Kite:
    a marketable LIMIT chased up to N times); LIMIT carries ``price``. ``lot_size`` and
    ``freeze_quantity`` default (0) to ``trading.core.contracts`` for the contract. ``created_at`` is
    the market-clock time of the order (the paper broker's order time; default: the bar's time).
    """

    client_order_id: str
    index: str
    tradingsymbol: str
    exchange: str
    option_type: str
    strike: Decimal
    expiry: date
    transaction_type: str
    quantity: int
    order_type: str = fills.MARKET
    price: Decimal | None = None
    product: str = "MIS"
    lot_size: int = 0
    freeze_quantity: int = 0
    created_at: datetime | None = None

    def __post_init__(self) -> None:
        if not order_states.is_valid_client_order_id(self.client_order_id or ""):
            raise InvalidOrderRequest(
                f"client_order_id {self.client_order_id!r}: 1-20 ASCII letters and digits (Kite tag)"
            )
        side = str(self.transaction_type).upper()
        if side not in (fills.BUY, fills.SELL):
            raise InvalidOrderRequest(f"transaction_type {self.transaction_type!r}: expected BUY or SELL")
        kind = str(self.order_type).upper()
        if kind not in (fills.MARKET, fills.LIMIT):
            raise InvalidOrderRequest(f"order_type {self.order_type!r}: expected MARKET or LIMIT")
        option_type = str(self.option_type).upper()
        if option_type not in contracts.OPTION_TYPES:
            raise InvalidOrderRequest(f"option_type {self.option_type!r}: expected CE or PE")
        object.__setattr__(self, "transaction_type", side)
        object.__setattr__(self, "order_type", kind)
        object.__setattr__(self, "option_type", option_type)
        object.__setattr__(self, "strike", Decimal(str(self.strike)))
        if self.price is not None and not isinstance(self.price, Decimal):
            object.__setattr__(self, "price", Decimal(str(self.price)))
        if self.lot_size <= 0:
            object.__setattr__(self, "lot_size", contracts.lot_size(self.index, self.expiry))
        if self.freeze_quantity <= 0:
            # The limit in force on the IST day the order is placed (freeze quantities are dated).
            on = calendar.ist_date(self.created_at) if self.created_at else self.expiry
            object.__setattr__(self, "freeze_quantity", contracts.freeze_quantity(self.index, on))

    @property
    def quantity_problem(self) -> str:
        """'' when the quantity is a positive whole number of lots, else a description."""
        if self.quantity <= 0 or self.quantity % self.lot_size:
            return f"quantity {self.quantity} is not a positive whole number of lots of {self.lot_size}"
        if self.lot_size > self.freeze_quantity:
            return f"one lot of {self.lot_size} exceeds the freeze quantity {self.freeze_quantity}"
        return ""

    def needs_split(self) -> bool:
        """True when the quantity exceeds the freeze quantity (and is a valid number of lots)."""
        return not self.quantity_problem and self.quantity > self.freeze_quantity

    def split(self) -> list[OrderRequest]:
        """The whole-lot child requests of this order (``fills.split_quantity``), each with its own
        deterministic id ``child_order_id(parent, i)``; ``[self]`` when no split is needed."""
        if not self.needs_split():
            return [self]
        sizes = fills.split_quantity(self.quantity, self.lot_size, self.freeze_quantity)
        return [
            replace(self, client_order_id=child_order_id(self.client_order_id, i), quantity=size)
            for i, size in enumerate(sizes)
        ]


def child_order_id(parent_client_order_id: str, i: int) -> str:
    """The client order id (Kite tag) of child ``i`` of a split parent: deterministic, 20 chars."""
    return order_states.client_order_id("C", parent_client_order_id, i)


@dataclass
class BrokerOrder:
    """The broker's view of one order (or of a split parent, whose ``children`` are the real orders).

    ``fills`` are ``(quantity, price, time)`` executions; ``average_price`` is their weighted mean.
    ``reason`` is a stable code (``price_band``, ``invalid_price``, ``max_retries_exceeded``,
    ``rate_limited``, ``broker_rejected``...), ``message`` the broker's own words. ``price`` is the
    current limit price at the broker, ``modifications`` how many times it was re-priced.
    """

    client_order_id: str
    broker_order_id: str = ""
    status: str = order_states.NEW
    filled_quantity: int = 0
    average_price: Decimal | None = None
    fills: list[tuple[int, Decimal, datetime]] = field(default_factory=list)
    reason: str = ""
    children: list[BrokerOrder] = field(default_factory=list)
    quantity: int = 0
    price: Decimal | None = None
    modifications: int = 0
    message: str = ""
    updated_at: datetime | None = None

    def copy(self) -> BrokerOrder:
        """An independent copy (what ``deepcopy`` gives, cheaply): the fills are tuples of immutable
        values, so new lists of them suffice; the children are copied the same way."""
        copied = object.__new__(type(self))  # the fields as they are: BrokerOrder has no checks to run
        copied.__dict__.update(self.__dict__)
        copied.fills = list(self.fills)
        copied.children = [child.copy() for child in self.children]
        return copied

    @property
    def is_terminal(self) -> bool:
        """FILLED, CANCELLED, REJECTED or EXPIRED."""
        return order_states.is_terminal(self.status)

    @property
    def pending_quantity(self) -> int:
        """Units still to fill (0 once terminal)."""
        return 0 if self.is_terminal else max(self.quantity - self.filled_quantity, 0)

    @classmethod
    def parent_of(cls, client_order_id: str, children: list[BrokerOrder]) -> BrokerOrder:
        """A split parent summing ``children``: status by ``fills.parent_status``, every fill, the
        weighted average, the first child's reason."""
        all_fills = sorted((fill for child in children for fill in child.fills), key=lambda fill: fill[2])
        status = fills.parent_status(
            [(child.status, child.filled_quantity, child.quantity) for child in children]
        )
        reasons = [child.reason for child in children if child.reason]
        return cls(
            client_order_id=client_order_id,
            status=status,
            filled_quantity=sum(child.filled_quantity for child in children),
            average_price=fills.average_price(all_fills),
            fills=all_fills,
            reason=reasons[0] if reasons else "",
            children=list(children),
            quantity=sum(child.quantity for child in children),
            message="; ".join(child.message for child in children if child.message),
            updated_at=max((child.updated_at for child in children if child.updated_at), default=None),
        )
