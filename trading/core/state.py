"""The engine's configuration, inputs and the state it keeps between cycles. Pure.

Premiums are Decimals on the 0.05 tick, P&L in rupees, times aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from trading.core import orders, risk
from trading.core.order_types import BrokerOrder, OrderRequest

PAISA = Decimal("0.01")


@dataclass(frozen=True)
class EngineConfig:
    """What a desk trades and how. ``position_prefix`` keeps backtest trade ids apart ("BT12-").
    ``expiries_from_broker``: the bars' expiries are the broker's instrument master's (the Kite
    feed), which LIVE needs to trade a year the calendar covers only provisionally."""

    index: str = "NIFTY"
    mode: str = "PAPER"
    data_source: str = "SIM"
    expiries_from_broker: bool = False
    risk: risk.RiskConfig = field(default_factory=risk.RiskConfig)
    contract: orders.ContractRule = field(default_factory=orders.ContractRule)
    order_type: str = "MARKET"
    limit_buffer_ticks: int = 2
    product: str = "MIS"
    brokerage_per_order: Decimal = Decimal("20")
    order_timeout_bars: int = 3
    position_prefix: str = ""


@dataclass
class StrategySlot:
    """One strategy's trading settings (from its ``StrategyConfig`` row)."""

    name: str
    enabled: bool = True
    capital_allocation: Decimal = Decimal("100000")
    max_open_positions: int = 1
    cooldown_minutes: int = 15
    contract: orders.ContractRule | None = None


@dataclass(frozen=True)
class SignalInput:
    """A strategy's signal on the current row: direction CALL or PUT, strength 0..1, reason."""

    strategy: str
    direction: str
    strength: float
    reason: str = ""


@dataclass
class OpenPosition:
    """A long option position from its entry fill until its exit fills (premiums on the tick)."""

    position_id: str
    strategy: str
    index: str
    tradingsymbol: str
    exchange: str
    option_type: str
    strike: float
    expiry: date
    quantity: int
    lot_size: int
    entry_price: Decimal
    entry_time: datetime
    stop: Decimal
    target: Decimal
    trail_fraction: float
    trail_activation: Decimal
    trail: Decimal | None = None
    high_water: Decimal | None = None
    low_water: Decimal | None = None
    last_price: Decimal | None = None
    entry_order_id: str = ""
    entry_orders: int = 1
    signal_bar_time: datetime | None = None
    signal_direction: str = ""
    signal_strength: float | None = None
    signal_reason: str = ""
    entry_context: dict = field(default_factory=dict)
    exit_fills: list[tuple[int, Decimal, datetime]] = field(default_factory=list)
    exit_orders: int = 0

    @property
    def exited_quantity(self) -> int:
        return sum(q for q, _, _ in self.exit_fills)

    @property
    def open_quantity(self) -> int:
        return self.quantity - self.exited_quantity

    @property
    def mae(self) -> Decimal:
        """Worst unrealised P&L in rupees so far (<= 0)."""
        low = self.low_water if self.low_water is not None else self.entry_price
        return min((low - self.entry_price) * self.quantity, Decimal(0)).quantize(PAISA)

    @property
    def mfe(self) -> Decimal:
        """Best unrealised P&L in rupees so far (>= 0)."""
        high = self.high_water if self.high_water is not None else self.entry_price
        return max((high - self.entry_price) * self.quantity, Decimal(0)).quantize(PAISA)

    @property
    def initial_risk(self) -> Decimal:
        return ((self.entry_price - self.stop) * self.quantity).quantize(PAISA)


@dataclass
class PendingOrder:
    """An order in flight across cycles (not yet filled or finished), with what it is for."""

    request: OrderRequest
    purpose: str
    strategy: str
    position_id: str
    status: str
    created_at: datetime
    filled_quantity: int = 0
    applied_quantity: int = 0
    signal: SignalInput | None = None
    signal_bar_time: datetime | None = None
    plan: dict = field(default_factory=dict)
    exit_type: str = ""
    exit_reason: str = ""
    known: BrokerOrder | None = (
        None  # the last stored broker answer (a FILLED order not yet applied after a crash)
    )


@dataclass
class EngineState:
    """What the engine remembers between cycles; rebuilt from the database by the execution layer."""

    index: str = "NIFTY"
    positions: dict[str, OpenPosition] = field(default_factory=dict)
    pending: dict[str, PendingOrder] = field(default_factory=dict)
    risk: risk.RiskState = field(default_factory=risk.RiskState)
    last_signal_at: dict[str, datetime] = field(default_factory=dict)
    db_available: bool = True
    last_bar_time: datetime | None = None

    def open_count(self, strategy: str | None = None) -> int:
        """Open positions plus entries in flight (in total or for one strategy)."""
        n = sum(1 for p in self.positions.values() if strategy is None or p.strategy == strategy)
        n += sum(
            1
            for o in self.pending.values()
            if o.purpose == orders.ENTRY and (strategy is None or o.strategy == strategy)
        )
        return n
