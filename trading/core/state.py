"""The engine's configuration, inputs and the state it keeps between cycles. Pure.

Premiums are Decimals on the 0.05 tick, P&L in rupees, times aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from trading.core import orders, risk
from trading.core.combos.margin import MarginParams
from trading.core.combos.model import ComboSpec, PricedLeg
from trading.core.order_types import BrokerOrder, OrderRequest

PAISA = Decimal("0.01")


@dataclass(frozen=True)
class EngineConfig:
    """What a desk trades and how. ``position_prefix`` keeps backtest trade ids apart ("BT12-").
    ``expiries_from_broker``: the bars' expiries are the broker's instrument master's (the Kite
    feed), which LIVE needs to trade a year the calendar covers only provisionally. ``margin``: the
    parameters of the combos' margin estimate (paper and backtests; settings ``MARGIN_*``)."""

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
    margin: MarginParams = field(default_factory=MarginParams)


@dataclass
class StrategySlot:
    """One strategy's trading settings (from its ``StrategyConfig`` row)."""

    name: str
    enabled: bool = True
    capital_allocation: Decimal = Decimal("100000")
    max_open_positions: int = 1
    cooldown_minutes: int = 15
    contract: orders.ContractRule | None = None
    combos: dict[str, ComboSpec] = field(default_factory=dict)
    """A signal's direction (CALL, PUT) -> the combo it trades instead of one bought option
    (``core.combo_entries``); empty: the single long option of today."""


@dataclass(frozen=True)
class SignalInput:
    """A strategy's signal on the current row: direction CALL or PUT, strength 0..1, reason."""

    strategy: str
    direction: str
    strength: float
    reason: str = ""


@dataclass
class OpenPosition:
    """An option position from its entry fill until its exit fills (premiums on the tick).

    ``side`` BUY (long: the single-leg engine's only kind) or SELL (short, a leg of a combo);
    ``combo_id`` the ``OpenCombo`` a leg belongs to ('' for a single-leg position), ``leg`` its
    position in the combo's spec (0-based). ``stop``/``target`` may be None for a combo leg with no
    per-leg exit."""

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
    side: str = "BUY"
    combo_id: str = ""
    leg: int = -1
    product: str = ""  # MIS or NRML; '' = the desk's (EngineConfig.product)

    @property
    def sign(self) -> int:
        """+1 for a long position, -1 for a short one."""
        return 1 if self.side == "BUY" else -1

    @property
    def exited_quantity(self) -> int:
        return sum(q for q, _, _ in self.exit_fills)

    @property
    def open_quantity(self) -> int:
        return self.quantity - self.exited_quantity

    @property
    def mae(self) -> Decimal:
        """Worst unrealised P&L in rupees so far (<= 0): the low water of a long, the high of a short."""
        worst = self.low_water if self.sign > 0 else self.high_water
        worst = worst if worst is not None else self.entry_price
        return min(self.sign * (worst - self.entry_price) * self.quantity, Decimal(0)).quantize(PAISA)

    @property
    def mfe(self) -> Decimal:
        """Best unrealised P&L in rupees so far (>= 0): the high water of a long, the low of a short."""
        best = self.high_water if self.sign > 0 else self.low_water
        best = best if best is not None else self.entry_price
        return max(self.sign * (best - self.entry_price) * self.quantity, Decimal(0)).quantize(PAISA)

    @property
    def initial_risk(self) -> Decimal | None:
        """Rupees lost between the entry and the stop (None without a stop)."""
        if self.stop is None:
            return None
        return (self.sign * (self.entry_price - self.stop) * self.quantity).quantize(PAISA)


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


# The life of a combo (``OpenCombo.status``).
COMBO_ENTERING = "ENTERING"  # legs being sent, bought legs first
COMBO_OPEN = "OPEN"  # every leg filled: the legs' and the combo's exits watch it
COMBO_CLOSING = "CLOSING"  # exits sent (a combo exit, or an unwind after a failed leg)
COMBO_CLOSED = "CLOSED"

# Per leg (``OpenCombo.leg_status``).
LEG_WAITING = "WAITING"  # not sent yet (a sold leg waits for the bought ones; a momentum entry)
LEG_SENT = "SENT"  # its entry order is in flight
LEG_OPEN = "OPEN"
LEG_CLOSED = "CLOSED"  # closed by its own exit (it may be entered again: ``ReEntry``)
LEG_FAILED = "FAILED"  # its entry was rejected, cancelled or filled only in part


@dataclass
class OpenCombo:
    """A multi-leg position from its first leg order until its last leg closes.

    ``spec`` the rules (legs by rule, combo exits); ``legs`` the concrete legs as resolved on the
    chain at entry (premiums: the quotes then; the fills are on the leg positions). Each leg trades
    as an ``OpenPosition`` of ``EngineState.positions`` whose id is in ``leg_positions`` (the latest
    one: a re-entered leg gets a new id). ``margin`` rupees blocked at entry (an estimate unless
    ``margin_is_estimate`` is False: the broker's basket margin). ``peak_pnl`` the best combo P&L
    seen (rupees, for lock-and-trail); ``realised`` the net P&L of its closed leg trades. ``note``
    what the leg-failure policy did, kept for the journal.
    """

    combo_id: str
    strategy: str
    index: str
    spec: ComboSpec
    legs: tuple[PricedLeg, ...]
    direction: str
    opened_at: datetime
    margin: Decimal
    margin_is_estimate: bool = True
    status: str = COMBO_ENTERING
    leg_status: dict[int, str] = field(default_factory=dict)
    leg_orders: dict[int, str] = field(default_factory=dict)
    leg_positions: dict[int, str] = field(default_factory=dict)
    reentries: dict[int, int] = field(default_factory=dict)
    momentum_reference: dict[int, Decimal] = field(default_factory=dict)
    peak_pnl: Decimal = Decimal(0)
    realised: Decimal = Decimal(0)
    gross: Decimal = Decimal(0)
    charges: Decimal = Decimal(0)
    trades: list[str] = field(default_factory=list)
    exit_type: str = ""
    exit_reason: str = ""
    note: str = ""
    signal: SignalInput | None = None
    signal_bar_time: datetime | None = None
    closed_at: datetime | None = None
    payoff_known: bool = False
    max_profit: Decimal | None = None  # rupees at the nearest expiry; None: unlimited (or not known yet)
    max_loss: Decimal | None = None  # the lowest P&L (negative); None: unlimited (or not known yet)
    breakevens: tuple[float, ...] = ()
    last_leg_exit: tuple[str, str] | None = None  # (exit type, reason) of the latest leg closed


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
    combos: dict[str, OpenCombo] = field(default_factory=dict)

    def open_count(self, strategy: str | None = None) -> int:
        """Open positions plus entries in flight (in total or for one strategy); a combo counts once,
        whatever its legs."""
        n = sum(
            1
            for p in self.positions.values()
            if not p.combo_id and (strategy is None or p.strategy == strategy)
        )
        n += sum(
            1
            for o in self.pending.values()
            if o.purpose == orders.ENTRY
            and not o.plan.get("combo_id")
            and (strategy is None or o.strategy == strategy)
        )
        n += sum(1 for c in self.combos.values() if strategy is None or c.strategy == strategy)
        return n
