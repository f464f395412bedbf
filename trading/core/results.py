"""What one engine cycle decided, for its caller to persist (or a backtest to collect). Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from trading.core.order_types import OrderRequest
from trading.core.state import OpenCombo, OpenPosition, SignalInput


@dataclass(frozen=True)
class Transition:
    """One stored step of an order's state machine."""

    from_status: str
    to_status: str
    at: datetime
    reason: str = ""
    filled_quantity: int = 0
    average_price: Decimal | None = None


@dataclass
class OrderRecord:
    """An order placed or updated in this cycle: the request, what the broker said, the transitions."""

    request: OrderRequest
    purpose: str
    strategy: str
    position_id: str
    status: str
    transitions: list[Transition] = field(default_factory=list)
    broker_order_id: str = ""
    filled_quantity: int = 0
    average_price: Decimal | None = None
    reason: str = ""
    created_at: datetime | None = None
    filled_at: datetime | None = None
    signal_bar_time: datetime | None = None
    signal_direction: str = ""
    signal: SignalInput | None = None
    features: dict | None = None
    exit_type: str = ""
    # The quote the order was decided on (an entry's ask, an exit's bid; None without one): the
    # reference of the fill's slippage, for MARKET orders as for LIMIT ones.
    reference_price: Decimal | None = None
    children: list[OrderRecord] = field(default_factory=list)
    is_new: bool = True


@dataclass
class SignalOutcome:
    """A signal and what the engine did with it (ACCEPTED with its order, or REJECTED with a reason)."""

    signal: SignalInput
    bar_time: datetime
    accepted: bool
    reject_reason: str = ""
    reject_detail: str = ""
    client_order_id: str = ""
    features: dict = field(default_factory=dict)


@dataclass
class ClosedTrade:
    """A position closed in this cycle and the raw facts of its journal trade (``record_trade``)."""

    position: OpenPosition
    exit_price: Decimal
    exit_time: datetime
    exit_type: str
    exit_reason: str
    exit_order_id: str
    gross_pnl: Decimal
    charges: Decimal
    net_pnl: Decimal
    trade: dict


@dataclass
class CycleResult:
    """Everything one cycle decided, for the caller to persist."""

    at: datetime
    bar_time: datetime
    signals: list[SignalOutcome] = field(default_factory=list)
    orders: list[OrderRecord] = field(default_factory=list)
    opened: list[OpenPosition] = field(default_factory=list)
    closed: list[ClosedTrade] = field(default_factory=list)
    marked: list[OpenPosition] = field(default_factory=list)
    breaker_tripped: str = ""
    notes: list[str] = field(default_factory=list)
    combos: list[OpenCombo] = field(default_factory=list)  # combos opened, moved on or closed (repeats)
