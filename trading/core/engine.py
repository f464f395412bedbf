"""The engine: one cycle of DESIGN.md's data flow, the same in backtest, paper and live. Pure.

``run_cycle(at=..., bar=..., row=..., signals=..., state=..., broker=..., strategies=..., config=...)``
takes the clock time ``at`` (the end of ``bar``), the bar, its feature row, the strategies' signals on
that row, the engine state (open positions, orders in flight, risk figures) and a broker, and does,
in this order:

0. **settle** orders still in flight from earlier cycles (status from the broker, looked up by
   client order id; a stale order is cancelled);
1. **mark and exit** every open position: kill switch, expiry, square-off time, stop loss, trailing
   stop, target (``core.risk``), then the exit order;
2. **signals -> risk gate -> orders**: each signal passes the strategy switch, its cooldown, the
   account gate (kill switch, database, circuit breaker, session time, open positions), contract
   selection and sizing; a refused signal keeps its reason; an accepted one becomes an order;
3. **fills -> positions -> trades**: a filled entry opens a position, a filled exit closes one into
   the facts of a journal trade (charges and net P&L from ``core.charges``, as the journal derives
   them), which move the risk figures and may trip the circuit breaker.

It mutates ``state`` and returns a ``CycleResult`` with everything the caller must persist. Nothing
here reads a clock, a database or a setting: the caller passes them in, so a backtest that feeds the
same bars, rows and signals gets the same decisions as the live loop.

Positions are long options only (buy CE for a CALL signal, PE for a PUT), MIS, squared off the same
day. Premiums are Decimals on the 0.05 tick; P&L in rupees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol

from trading.core import calendar as market_calendar
from trading.core import charges as charges_mod
from trading.core import contracts, orders, risk
from trading.core.bars import MarketBar
from trading.core.options import greeks, implied_vol, year_fraction

PAISA = Decimal("0.01")
BAR = timedelta(minutes=1)


# --- the broker, as the engine sees it -------------------------------------------------------------------


class BrokerLike(Protocol):
    """The part of ``trading.brokers.base.Broker`` the engine uses (see that module's contract)."""

    name: str

    def place_order(self, req: Any, market: MarketBar | None = None) -> Any: ...

    def order_status(self, client_order_id: str) -> Any: ...

    def cancel_order(self, client_order_id: str) -> Any: ...

    def find_by_tag(self, tag: str) -> Any: ...


class OrderHooks:
    """Callbacks around every broker call, for a caller that persists orders (the live path).

    ``before_submit(record)`` runs before an order is sent; it may return the broker's earlier answer
    for the same client order id (a re-run of a cycle after a crash), and then nothing is sent again.
    ``after_broker(record)`` runs right after each broker answer, before the engine acts on it, so
    a crash that follows loses nothing the broker did. The default does nothing (backtests).
    """

    def before_submit(self, record: OrderRecord) -> Any | None:
        return None

    def after_broker(self, record: OrderRecord) -> None:
        return None


def _order_request_cls():
    from trading.brokers.base import OrderRequest

    return OrderRequest


# --- configuration and inputs -----------------------------------------------------------------------------


@dataclass(frozen=True)
class EngineConfig:
    """What a desk trades and how. ``position_prefix`` keeps backtest trade ids apart ("BT12-")."""

    index: str = "NIFTY"
    mode: str = "PAPER"
    data_source: str = "SIM"
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


# --- state ---------------------------------------------------------------------------------------------------


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

    request: Any
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
    known: Any = None  # the last stored broker answer (a FILLED order not yet applied after a crash)


@dataclass
class EngineState:
    """What the engine remembers between cycles; rebuilt from the database by ``trading.services``."""

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


# --- results ---------------------------------------------------------------------------------------------


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

    request: Any
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


# --- helpers -------------------------------------------------------------------------------------------------


def _dec(value: Any) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return value
    f = float(value)
    if not math.isfinite(f):
        return None
    return Decimal(repr(f))


def _finite(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def json_safe(row: dict | None) -> dict:
    """A feature row as JSON: dates as ISO strings, NaN/inf as None, numpy scalars as Python ones."""
    out: dict = {}
    for key, value in (row or {}).items():
        if isinstance(value, datetime | date):
            out[key] = value.isoformat()
        elif isinstance(value, bool) or value is None or isinstance(value, str):
            out[key] = value
        elif hasattr(value, "item") and not isinstance(value, int | float):
            v = value.item()
            out[key] = v if not isinstance(v, float) or math.isfinite(v) else None
        elif isinstance(value, int | float):
            out[key] = value if not isinstance(value, float) or math.isfinite(value) else None
        else:
            out[key] = str(value)
    return out


def _quote(bar: MarketBar, expiry: date, strike: float, option_type: str) -> dict | None:
    chain = bar.chain(expiry)
    if chain is None:
        return None
    return chain.quote(strike, option_type)


def mark_price(quote: dict | None) -> Decimal | None:
    """The premium a position is marked at: the LTP, else the bid/ask mid; None without a quote."""
    if quote is None:
        return None
    ltp = _finite(quote.get("ltp"))
    if ltp is not None and ltp > 0:
        return risk.to_tick(ltp)
    bid, ask = _finite(quote.get("bid")), _finite(quote.get("ask"))
    if bid is not None and ask is not None and bid > 0 and ask > 0:
        return risk.to_tick((bid + ask) / 2)
    return None


def market_context(
    *,
    bar: MarketBar,
    row: dict | None,
    at: datetime,
    expiry: date,
    strike: float,
    option_type: str,
    price: Any,
) -> dict:
    """The market around a fill: spot, VIX, PCR, max pain, ATM IV, the contract's IV and Greeks.

    Greeks per one long option (options.greeks units); IV from the chain, else implied from ``price``.
    """
    row = row or {}
    quote = _quote(bar, expiry, strike, option_type)
    is_call = option_type == contracts.CALL
    t = year_fraction(at, expiry)
    r = contracts.risk_free_rate(market_calendar.ist_date(at))
    iv = _finite(quote.get("iv")) if quote else None
    p = _finite(price)
    if iv is None and p is not None and p > 0 and t > 0:
        iv = _finite(implied_vol(p, bar.close, strike, t, r, is_call))
    g = greeks(iv, bar.close, strike, t, r, is_call) if iv is not None and t > 0 else {}
    return {
        "spot": bar.close,
        "vix": bar.vix,
        "pcr": _finite(row.get("pcr_oi")),
        "max_pain": _finite(row.get("max_pain")),
        "atm_iv": _finite(row.get("atm_iv")),
        "iv": iv,
        "delta": _finite(g.get("delta")),
        "gamma": _finite(g.get("gamma")),
        "theta": _finite(g.get("theta")),
        "vega": _finite(g.get("vega")),
    }


def position_id_for(config: EngineConfig, strategy: str, bar_time: datetime, direction: str) -> str:
    """Readable, deterministic id of the position a signal opens (it becomes the journal trade id)."""
    stamp = bar_time.astimezone(market_calendar.IST).strftime("%Y%m%d-%H%M")
    return f"{config.position_prefix}{config.mode[:1]}-{config.index}-{stamp}-{strategy[:32]}-{direction[:1]}"


def _fills_of(bo: Any) -> list[tuple[int, Decimal, datetime]]:
    """The executions of an order: its own fills, else those of its freeze-quantity children."""
    fills = list(getattr(bo, "fills", None) or [])
    if not fills:
        for child in getattr(bo, "children", None) or []:
            fills.extend(getattr(child, "fills", None) or [])
    return [(int(q), Decimal(str(p)), t) for q, p, t in fills]


def _executed_orders(bo: Any) -> int:
    children = getattr(bo, "children", None) or []
    if children:
        return max(1, sum(1 for c in children if int(getattr(c, "filled_quantity", 0) or 0) > 0))
    return 1


def _record_from_broker(rec: OrderRecord, bo: Any, at: datetime, *, current: str) -> OrderRecord:
    """Fill ``rec`` with the broker's answer and the legal transitions from ``current`` to it."""
    status = str(bo.status)
    reason = str(getattr(bo, "reason", "") or "")
    filled = int(getattr(bo, "filled_quantity", 0) or 0)
    avg = _dec(getattr(bo, "average_price", None))
    fills = _fills_of(bo)
    fill_time = max((t for _, _, t in fills), default=None) if fills else None
    path = orders.transition_path(current, status, reason)
    if (
        current == orders.PARTIALLY_FILLED
        and status == orders.PARTIALLY_FILLED
        and filled <= rec.filled_quantity
    ):
        path = []
    prev = current
    for step in path:
        last = step == path[-1]
        rec.transitions.append(
            Transition(
                from_status=prev,
                to_status=step,
                at=at,
                reason=reason if last else "sent to broker",
                filled_quantity=filled if last else 0,
                average_price=avg if last else None,
            )
        )
        prev = step
    rec.status = status
    rec.reason = reason
    rec.broker_order_id = str(getattr(bo, "broker_order_id", "") or "")
    rec.filled_quantity = filled
    rec.average_price = avg
    if status == orders.FILLED:
        rec.filled_at = fill_time or at
    rec.children = []
    for child in getattr(bo, "children", None) or []:
        creq = replace(
            rec.request, client_order_id=child.client_order_id, quantity=_child_qty(child, rec.request)
        )
        crec = OrderRecord(
            request=creq,
            purpose=rec.purpose,
            strategy=rec.strategy,
            position_id=rec.position_id,
            status=orders.NEW,
            created_at=rec.created_at,
            signal_bar_time=rec.signal_bar_time,
            signal_direction=rec.signal_direction,
            exit_type=rec.exit_type,
        )
        rec.children.append(_record_from_broker(crec, child, at, current=orders.NEW))
    return rec


def _child_qty(child: Any, parent_req: Any) -> int:
    q = getattr(child, "quantity", None)
    if q:
        return int(q)
    filled = int(getattr(child, "filled_quantity", 0) or 0)
    return filled or int(parent_req.quantity)


def _average(fills: list[tuple[int, Decimal, datetime]]) -> Decimal | None:
    qty = sum(q for q, _, _ in fills)
    if qty <= 0:
        return None
    return risk.to_tick(sum(Decimal(q) * p for q, p, _ in fills) / qty)


# --- the cycle ---------------------------------------------------------------------------------------------


class _Cycle:
    def __init__(
        self, *, at, bar, row, signals, state, broker, strategies, config, entries_allowed, force_exit, hooks
    ):
        self.hooks: OrderHooks = hooks or OrderHooks()
        self.at: datetime = at
        self.bar: MarketBar = bar
        self.row: dict = row or {}
        self.signals: list[SignalInput] = list(signals or [])
        self.state: EngineState = state
        self.broker = broker
        self.strategies: dict[str, StrategySlot] = strategies
        self.cfg: EngineConfig = config
        self.entries_allowed = entries_allowed
        self.force_exit = force_exit
        self.result = CycleResult(at=at, bar_time=bar.time)

    # 0. orders in flight
    def settle(self) -> None:
        if self.state.pending:
            try:
                self.broker.poll(self.bar)
            except Exception as exc:  # noqa: BLE001 - the statuses are asked one by one below anyway
                self.result.notes.append(f"broker poll failed: {type(exc).__name__}: {exc}")
        for coid in list(self.state.pending):
            po = self.state.pending[coid]
            rec = OrderRecord(
                request=po.request,
                purpose=po.purpose,
                strategy=po.strategy,
                position_id=po.position_id,
                status=po.status,
                created_at=po.created_at,
                signal_bar_time=po.signal_bar_time,
                signal_direction=po.signal.direction if po.signal else "",
                filled_quantity=po.filled_quantity,
                exit_type=po.exit_type,
                is_new=False,
            )
            try:
                bo = (
                    None
                    if po.known is not None and orders.is_terminal(po.status)
                    else self.broker.order_status(coid)
                )
                if bo is None and not orders.is_terminal(po.status):
                    bo = self.broker.find_by_tag(coid)
                if bo is None and po.known is not None:
                    bo = po.known
                if bo is None and po.status == orders.NEW:
                    if (
                        po.purpose == orders.ENTRY
                        and self.at - po.created_at > BAR * self.cfg.order_timeout_bars
                    ):
                        rec.transitions.append(
                            Transition(po.status, orders.CANCELLED, self.at, "never reached the broker")
                        )
                        rec.status = orders.CANCELLED
                        self.result.orders.append(rec)
                        del self.state.pending[coid]
                        continue
                    # The order never reached the broker (a crash between the two): send it now,
                    # under the same client order id.
                    bo = self.broker.place_order(po.request, market=self.bar)
            except Exception as exc:  # noqa: BLE001 - a broker error leaves the order in flight
                self.result.notes.append(f"{coid}: broker error {type(exc).__name__}: {exc}")
                continue
            if bo is None:
                continue
            if (
                str(bo.status) in orders.LIVE_STATES
                and self.at - po.created_at >= BAR * self.cfg.order_timeout_bars
            ):
                try:
                    bo = self.broker.cancel_order(coid) or bo
                except Exception as exc:  # noqa: BLE001
                    self.result.notes.append(f"{coid}: cancel failed {type(exc).__name__}: {exc}")
            try:
                _record_from_broker(rec, bo, self.at, current=po.status)
            except orders.IllegalTransition as exc:
                self.result.notes.append(f"{coid}: {exc}")
                continue
            self.hooks.after_broker(rec)
            po.status = rec.status
            po.filled_quantity = rec.filled_quantity
            if rec.transitions or rec.children:
                self.result.orders.append(rec)
            if not orders.is_terminal(rec.status):
                continue
            del self.state.pending[coid]
            if po.purpose == orders.ENTRY:
                if rec.filled_quantity > 0:
                    self._open_from_fill(po.signal, po.signal_bar_time, po.plan, po.request, bo, rec)
            else:
                pos = self.state.positions.get(po.position_id)
                if pos is not None and rec.filled_quantity > 0:
                    self._apply_exit_fill(pos, bo, rec, po.exit_type, po.exit_reason)

    # 1. exits first
    def exits(self) -> None:
        exiting = {po.position_id for po in self.state.pending.values() if po.purpose == orders.EXIT}
        for pos in list(self.state.positions.values()):
            quote = _quote(self.bar, pos.expiry, pos.strike, pos.option_type)
            mark = mark_price(quote)
            if mark is not None:
                pos.last_price = mark
                pos.high_water = mark if pos.high_water is None else max(pos.high_water, mark)
                pos.low_water = mark if pos.low_water is None else min(pos.low_water, mark)
                trail = risk.trail_level(pos.high_water, pos.trail_fraction, pos.trail_activation)
                if trail is not None and (pos.trail is None or trail > pos.trail):
                    pos.trail = trail
            self.result.marked.append(pos)
            if pos.position_id in exiting:
                continue
            if self.force_exit:
                decision = risk.ExitDecision(
                    self.force_exit, f"{self.force_exit.lower().replace('_', ' ')} ordered"
                )
            else:
                decision = risk.exit_check(
                    at=self.at,
                    mark=mark,
                    stop=pos.stop,
                    target=pos.target,
                    trail=pos.trail,
                    expiry=pos.expiry,
                    entry_time=pos.entry_time,
                    kill_switch=self.state.risk.kill_switch,
                    cfg=self.cfg.risk,
                )
            if decision is None:
                continue
            if decision.exit_type == risk.EXPIRY:
                self._expire(pos, decision)
                continue
            self._place_exit(pos, decision, quote)

    def _expire(self, pos: OpenPosition, decision: risk.ExitDecision) -> None:
        settle = market_calendar.session_close(pos.expiry)
        value = risk.intrinsic_value(pos.option_type, pos.strike, self.bar.close)
        pos.exit_fills.append((pos.open_quantity, value, settle))
        self._close(
            pos,
            exit_time=max(settle, pos.entry_time),
            exit_type=risk.EXPIRY,
            reason=decision.reason,
            exit_order_id="",
        )

    def _order_request(
        self, *, coid: str, index: str, contract, side: str, quantity: int, order_type: str, price
    ):
        """The broker request for one contract (a selected contract or an open position: both carry
        tradingsymbol, exchange, option_type, strike, expiry and lot_size)."""
        return _order_request_cls()(
            client_order_id=coid,
            index=index,
            tradingsymbol=contract.tradingsymbol,
            exchange=contract.exchange,
            option_type=contract.option_type,
            strike=contract.strike,
            expiry=contract.expiry,
            transaction_type=side,
            quantity=quantity,
            order_type=order_type,
            price=price,
            product=self.cfg.product,
            lot_size=contract.lot_size,
            freeze_quantity=contracts.freeze_quantity(index, market_calendar.ist_date(self.at)),
            created_at=self.at,
        )

    def _place_exit(self, pos: OpenPosition, decision: risk.ExitDecision, quote: dict | None) -> None:
        coid = orders.exit_order_id(position_id=pos.position_id, bar_time=self.bar.time)
        price = None
        order_type = self.cfg.order_type
        if order_type == "LIMIT":
            bid = _finite(quote.get("bid")) if quote else None
            if bid is None or bid <= 0:
                order_type = "MARKET"
            else:
                price = max(risk.to_tick(bid) - risk.TICK * self.cfg.limit_buffer_ticks, risk.TICK)
        req = self._order_request(
            coid=coid,
            index=pos.index,
            contract=pos,
            side="SELL",
            quantity=pos.open_quantity,
            order_type=order_type,
            price=price,
        )
        rec = OrderRecord(
            request=req,
            purpose=orders.EXIT,
            strategy=pos.strategy,
            position_id=pos.position_id,
            status=orders.NEW,
            created_at=self.at,
            reason=decision.reason,
            exit_type=decision.exit_type,
        )
        self.result.orders.append(rec)
        try:
            bo = self.hooks.before_submit(rec)
            if bo is None:
                bo = self.broker.place_order(req, market=self.bar)
        except Exception as exc:  # noqa: BLE001 - the exit is retried on the next bar
            rec.reason = f"broker error: {type(exc).__name__}: {exc}"
            self.state.pending[coid] = PendingOrder(
                request=req,
                purpose=orders.EXIT,
                strategy=pos.strategy,
                position_id=pos.position_id,
                status=orders.NEW,
                created_at=self.at,
                exit_type=decision.exit_type,
                exit_reason=decision.reason,
            )
            return
        _record_from_broker(rec, bo, self.at, current=orders.NEW)
        self.hooks.after_broker(rec)
        if rec.status == orders.FILLED or (orders.is_terminal(rec.status) and rec.filled_quantity > 0):
            self._apply_exit_fill(pos, bo, rec, decision.exit_type, decision.reason)
        elif not orders.is_terminal(rec.status):
            self.state.pending[coid] = PendingOrder(
                request=req,
                purpose=orders.EXIT,
                strategy=pos.strategy,
                position_id=pos.position_id,
                status=rec.status,
                created_at=self.at,
                filled_quantity=rec.filled_quantity,
                exit_type=decision.exit_type,
                exit_reason=decision.reason,
            )
        else:
            self.result.notes.append(f"exit of {pos.position_id} {rec.status}: {rec.reason}")

    def _apply_exit_fill(
        self, pos: OpenPosition, bo: Any, rec: OrderRecord, exit_type: str, reason: str
    ) -> None:
        fills = _fills_of(bo)
        if not fills and rec.filled_quantity > 0 and rec.average_price is not None:
            fills = [(rec.filled_quantity, rec.average_price, rec.filled_at or self.at)]
        qty = sum(q for q, _, _ in fills)
        if qty <= 0:
            return
        pos.exit_fills.extend(fills)
        pos.exit_orders += _executed_orders(bo)
        if pos.open_quantity <= 0:
            exit_time = max(t for _, _, t in pos.exit_fills)
            self._close(
                pos,
                exit_time=exit_time,
                exit_type=exit_type,
                reason=reason,
                exit_order_id=rec.request.client_order_id,
            )

    def _close(
        self, pos: OpenPosition, *, exit_time: datetime, exit_type: str, reason: str, exit_order_id: str
    ) -> None:
        exit_price = _average(pos.exit_fills) or Decimal(0)
        ctx = market_context(
            bar=self.bar,
            row=self.row,
            at=self.at,
            expiry=pos.expiry,
            strike=pos.strike,
            option_type=pos.option_type,
            price=exit_price,
        )
        trade = trade_facts(
            pos,
            exit_price=exit_price,
            exit_time=exit_time,
            exit_type=exit_type,
            exit_reason=reason,
            exit_order_id=exit_order_id,
            exit_context=ctx,
            config=self.cfg,
        )
        ch = charges_mod.round_trip_charges(
            side="LONG",
            entry_price=pos.entry_price,
            exit_price=exit_price,
            quantity=pos.quantity,
            entry_date=market_calendar.ist_date(pos.entry_time),
            exit_date=market_calendar.ist_date(exit_time),
            exchange=charges_mod.exchange_of(pos.index),
            entry_orders=pos.entry_orders,
            exit_orders=max(pos.exit_orders, 1),
            exit_type=exit_type,
            brokerage_per_order=self.cfg.brokerage_per_order,
        )
        gross = ((exit_price - pos.entry_price) * pos.quantity).quantize(PAISA, ROUND_HALF_UP)
        net = gross - ch.total
        self.state.positions.pop(pos.position_id, None)
        self.state.risk.roll_session(market_calendar.ist_date(self.at))
        tripped = risk.record_close(self.state.risk, net, self.cfg.risk)
        if tripped:
            self.result.breaker_tripped = tripped
        self.result.closed.append(
            ClosedTrade(
                position=pos,
                exit_price=exit_price,
                exit_time=exit_time,
                exit_type=exit_type,
                exit_reason=reason,
                exit_order_id=exit_order_id,
                gross_pnl=gross,
                charges=ch.total,
                net_pnl=net,
                trade=trade,
            )
        )

    # 2. signals -> risk gate -> orders
    def entries(self) -> None:
        features = None
        for sig in self.signals:
            if sig.direction not in ("CALL", "PUT"):
                continue
            if features is None:
                features = json_safe(self.row)
            outcome = SignalOutcome(signal=sig, bar_time=self.bar.time, accepted=False, features=features)
            self.result.signals.append(outcome)
            if self._already_executed(sig, outcome):
                continue
            decision = self._gate(sig)
            if not decision:
                outcome.reject_reason, outcome.reject_detail = decision.reason, decision.detail
                continue
            self._enter(sig, outcome)

    def _already_executed(self, sig: SignalInput, outcome: SignalOutcome) -> bool:
        """True when this very signal already has its order (the cycle is being run again after a
        crash): it stays accepted and nothing is sent twice."""
        coid = orders.entry_order_id(
            mode=self.cfg.mode,
            index=self.cfg.index,
            strategy=sig.strategy,
            bar_time=self.bar.time,
            direction=sig.direction,
        )
        position_id = position_id_for(self.cfg, sig.strategy, self.bar.time, sig.direction)
        existing = self.state.positions.get(position_id)
        if coid in self.state.pending or (existing is not None and existing.entry_order_id == coid):
            outcome.accepted, outcome.client_order_id = True, coid
            return True
        return False

    def _gate(self, sig: SignalInput) -> risk.Decision:
        slot = self.strategies.get(sig.strategy)
        if slot is None or not slot.enabled:
            return risk.refuse(risk.R_DISABLED, f"{sig.strategy} is not enabled")
        if not self.entries_allowed:
            if not self.state.db_available:
                return risk.refuse(risk.R_DATABASE, "database unreachable: exits only until it is back")
            return risk.refuse(risk.R_OUTSIDE_SESSION, "entries are off in this cycle")
        decision = risk.entry_gate(
            state=self.state.risk,
            cfg=self.cfg.risk,
            at=self.at,
            open_total=self.state.open_count(),
            open_for_strategy=self.state.open_count(sig.strategy),
            strategy_max_open=slot.max_open_positions,
            db_available=self.state.db_available,
        )
        if not decision:
            return decision
        return risk.cooldown_gate(
            self.state.last_signal_at.get(sig.strategy), self.bar.time, slot.cooldown_minutes
        )

    def _enter(self, sig: SignalInput, outcome: SignalOutcome) -> None:
        slot = self.strategies[sig.strategy]
        rule = slot.contract or self.cfg.contract
        contract = orders.select_contract(
            index=self.cfg.index, direction=sig.direction, bar=self.bar, at=self.at, rule=rule
        )
        if contract is None:
            outcome.reject_reason, outcome.reject_detail = (
                risk.R_NO_CONTRACT,
                "no quoted contract for the rule",
            )
            return
        ask = risk.to_tick(contract.ask)
        levels = risk.exit_levels(ask, self.bar.vix, self.cfg.risk)
        size = risk.position_size(
            entry=ask,
            stop=levels.stop,
            lot_size=contract.lot_size,
            cfg=self.cfg.risk,
            allocation=slot.capital_allocation,
        )
        if not size.decision:
            outcome.reject_reason, outcome.reject_detail = size.decision.reason, size.decision.detail
            return
        position_id = position_id_for(self.cfg, sig.strategy, self.bar.time, sig.direction)
        coid = orders.entry_order_id(
            mode=self.cfg.mode,
            index=self.cfg.index,
            strategy=sig.strategy,
            bar_time=self.bar.time,
            direction=sig.direction,
        )
        if position_id in self.state.positions:
            outcome.reject_reason, outcome.reject_detail = risk.R_DUPLICATE, f"{position_id} is already open"
            return
        price = None
        order_type = self.cfg.order_type
        if order_type == "LIMIT":
            price = ask + risk.TICK * self.cfg.limit_buffer_ticks
        req = self._order_request(
            coid=coid,
            index=self.cfg.index,
            contract=contract,
            side="BUY",
            quantity=size.quantity,
            order_type=order_type,
            price=price,
        )
        plan = {
            "position_id": position_id,
            "lots": size.lots,
            "planned_entry": str(ask),
            "contract_iv": contract.iv,
        }
        rec = OrderRecord(
            request=req,
            purpose=orders.ENTRY,
            strategy=sig.strategy,
            position_id=position_id,
            status=orders.NEW,
            created_at=self.at,
            signal_bar_time=self.bar.time,
            signal_direction=sig.direction,
            signal=sig,
            features=outcome.features,
        )
        self.result.orders.append(rec)
        outcome.client_order_id = coid
        # The cooldown starts at the accepted signal's bar, whatever the broker says next.
        self.state.last_signal_at[sig.strategy] = self.bar.time
        try:
            bo = self.hooks.before_submit(rec)
            if bo is None:
                bo = self.broker.place_order(req, market=self.bar)
        except Exception as exc:  # noqa: BLE001 - the order stays in flight, looked up by tag next cycle
            rec.reason = f"broker error: {type(exc).__name__}: {exc}"
            outcome.accepted = True
            self.state.pending[coid] = PendingOrder(
                request=req,
                purpose=orders.ENTRY,
                strategy=sig.strategy,
                position_id=position_id,
                status=orders.NEW,
                created_at=self.at,
                signal=sig,
                signal_bar_time=self.bar.time,
                plan=plan,
            )
            return
        _record_from_broker(rec, bo, self.at, current=orders.NEW)
        self.hooks.after_broker(rec)
        if rec.status == orders.REJECTED:
            outcome.reject_reason = risk.R_ORDER_REJECTED
            outcome.reject_detail = f"broker rejected the order: {rec.reason}"
            return
        outcome.accepted = True
        if orders.is_terminal(rec.status):
            if rec.filled_quantity > 0:
                self._open_from_fill(sig, self.bar.time, plan, req, bo, rec)
            return
        self.state.pending[coid] = PendingOrder(
            request=req,
            purpose=orders.ENTRY,
            strategy=sig.strategy,
            position_id=position_id,
            status=rec.status,
            created_at=self.at,
            filled_quantity=rec.filled_quantity,
            signal=sig,
            signal_bar_time=self.bar.time,
            plan=plan,
        )

    def _open_from_fill(self, sig, signal_bar_time, plan, req, bo, rec: OrderRecord) -> None:
        fills = _fills_of(bo)
        if not fills and rec.filled_quantity > 0 and rec.average_price is not None:
            fills = [(rec.filled_quantity, rec.average_price, rec.filled_at or self.at)]
        qty = sum(q for q, _, _ in fills)
        if qty <= 0:
            return
        entry = _average(fills)
        entry_time = max(t for _, _, t in fills)
        levels = risk.exit_levels(entry, self.bar.vix, self.cfg.risk)
        ctx = market_context(
            bar=self.bar,
            row=self.row,
            at=self.at,
            expiry=req.expiry,
            strike=float(req.strike),
            option_type=req.option_type,
            price=entry,
        )
        pos = OpenPosition(
            position_id=plan.get("position_id") or rec.position_id,
            strategy=rec.strategy,
            index=req.index,
            tradingsymbol=req.tradingsymbol,
            exchange=req.exchange,
            option_type=req.option_type,
            strike=float(req.strike),
            expiry=req.expiry,
            quantity=qty,
            lot_size=int(req.lot_size),
            entry_price=entry,
            entry_time=entry_time,
            stop=levels.stop,
            target=levels.target,
            trail_fraction=levels.trail_fraction,
            trail_activation=levels.trail_activation,
            high_water=entry,
            low_water=entry,
            last_price=entry,
            entry_order_id=req.client_order_id,
            entry_orders=_executed_orders(bo),
            signal_bar_time=signal_bar_time,
            signal_direction=sig.direction if sig else "",
            signal_strength=sig.strength if sig else None,
            signal_reason=sig.reason if sig else "",
            entry_context={
                **ctx,
                "features": json_safe(self.row),
                "trail_fraction": levels.trail_fraction,
                "trail_activation": str(levels.trail_activation),
                "lots": qty // int(req.lot_size),
            },
        )
        self.state.positions[pos.position_id] = pos
        self.result.opened.append(pos)


def trade_facts(
    pos: OpenPosition,
    *,
    exit_price: Decimal,
    exit_time: datetime,
    exit_type: str,
    exit_reason: str,
    exit_order_id: str,
    exit_context: dict,
    config: EngineConfig,
) -> dict:
    """The raw facts of the journal trade a closed position becomes (``journal.services.record_trade``)."""
    ec = pos.entry_context
    spot_entry = _dec(ec.get("spot"))
    spot_exit = _dec(exit_context.get("spot"))
    mp_entry, mp_exit = _dec(ec.get("max_pain")), _dec(exit_context.get("max_pain"))
    return {
        "trade_id": pos.position_id,
        "entry_time": pos.entry_time,
        "exit_time": exit_time,
        "symbol": pos.index,
        "tradingsymbol": pos.tradingsymbol,
        "exchange": pos.exchange,
        "instrument_type": "CALL" if pos.option_type == contracts.CALL else "PUT",
        "strike_price": Decimal(str(pos.strike)),
        "expiry_date": pos.expiry,
        "entry_price": pos.entry_price,
        "exit_price": exit_price,
        "quantity": pos.quantity,
        "side": "LONG",
        "entry_mode": config.mode,
        "data_source": config.data_source,
        "exit_type": exit_type,
        "strategy_name": pos.strategy,
        "signal_strength": pos.signal_strength,
        "signal_reason": pos.signal_reason,
        "exit_reason": exit_reason,
        "entry_features": ec.get("features") or {},
        "entry_order_id": pos.entry_order_id,
        "exit_order_id": exit_order_id,
        "entry_orders": pos.entry_orders,
        "exit_orders": max(pos.exit_orders, 1),
        "spot_price_entry": spot_entry.quantize(PAISA) if spot_entry is not None else None,
        "spot_price_exit": spot_exit.quantize(PAISA) if spot_exit is not None else None,
        "target_price": pos.target,
        "stop_loss_price": pos.stop,
        "vix_entry": ec.get("vix"),
        "vix_exit": exit_context.get("vix"),
        "pcr_entry": ec.get("pcr"),
        "pcr_exit": exit_context.get("pcr"),
        "max_pain_entry": mp_entry.quantize(PAISA) if mp_entry is not None else None,
        "max_pain_exit": mp_exit.quantize(PAISA) if mp_exit is not None else None,
        "atm_iv_entry": ec.get("atm_iv"),
        "atm_iv_exit": exit_context.get("atm_iv"),
        "iv_entry": ec.get("iv"),
        "iv_exit": exit_context.get("iv"),
        "delta_entry": ec.get("delta"),
        "delta_exit": exit_context.get("delta"),
        "gamma_entry": ec.get("gamma"),
        "gamma_exit": exit_context.get("gamma"),
        "theta_entry": ec.get("theta"),
        "theta_exit": exit_context.get("theta"),
        "vega_entry": ec.get("vega"),
        "vega_exit": exit_context.get("vega"),
        "initial_risk": pos.initial_risk,
        "mae": pos.mae,
        "mfe": pos.mfe,
    }


def run_cycle(
    *,
    at: datetime,
    bar: MarketBar,
    row: dict | None,
    signals: list[SignalInput] | None,
    state: EngineState,
    broker: BrokerLike,
    strategies: dict[str, StrategySlot],
    config: EngineConfig,
    entries_allowed: bool = True,
    force_exit: str = "",
    hooks: OrderHooks | None = None,
    run_exits: bool = True,
) -> CycleResult:
    """One cycle at clock time ``at`` (the end of ``bar``): settle, exits, signals, risk, orders, fills.

    ``entries_allowed=False`` runs exits only (monitoring, database down); ``force_exit`` (an exit
    type such as ``SQUARE_OFF`` or ``KILL_SWITCH``) closes every open position now; ``run_exits=False``
    takes the signals only (re-executing a stored signal). Mutates
    ``state``; returns the ``CycleResult`` to persist.
    """
    state.risk.tripped_now.clear()
    state.risk.roll_session(market_calendar.ist_date(at))
    cycle = _Cycle(
        at=at,
        bar=bar,
        row=row,
        signals=signals,
        state=state,
        broker=broker,
        strategies=strategies,
        config=config,
        entries_allowed=entries_allowed and not force_exit,
        force_exit=force_exit,
        hooks=hooks,
    )
    if run_exits:
        cycle.settle()
        cycle.exits()
    cycle.entries()
    if state.last_bar_time is None or bar.time > state.last_bar_time:
        state.last_bar_time = bar.time
    return cycle.result
