"""Orders inside one engine cycle, pure: the broker as the engine sees it, the hooks that persist
orders around every broker call, the broker's answers turned into stored transitions, and the one
way an order is sent (and kept in flight when it is not finished).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Protocol

from trading.core import calendar as market_calendar
from trading.core import contracts, orders, risk
from trading.core.bars import MarketBar
from trading.core.market_context import decimal_or_none
from trading.core.order_types import BrokerOrder, NotWrittenAhead, OrderRequest
from trading.core.results import CycleResult, OrderRecord, Transition
from trading.core.serialize import json_safe
from trading.core.state import EngineConfig, EngineState, PendingOrder, SignalInput, StrategySlot

BAR = timedelta(minutes=1)
Fill = tuple[int, Decimal, datetime]

SettlementLookup = Callable[[str, date], float | Decimal | None]
"""``(index, expiry) -> spot`` the options of ``index`` expiring on ``expiry`` settle on: the
exchange's final settlement price when known, else the close of the expiry session's last minute bar;
None when the caller does not know it (yet). Supplied by the caller: the engine reads no market."""


class BrokerLike(Protocol):
    """The part of ``trading.brokers.base.Broker`` the engine uses (see that module's contract)."""

    name: str

    def place_order(self, req: OrderRequest, market: MarketBar | None = None) -> BrokerOrder: ...

    def order_status(self, client_order_id: str) -> BrokerOrder | None: ...

    def cancel_order(self, client_order_id: str) -> BrokerOrder: ...

    def find_by_tag(self, tag: str) -> BrokerOrder | None: ...

    def poll(self, market: MarketBar | None = None) -> list[BrokerOrder]: ...


class OrderHooks:
    """Callbacks around every broker call, for a caller that persists orders (the live path).

    ``before_submit(record)`` runs before an order is sent; it may return the broker's earlier answer
    for the same client order id (a re-run of a cycle after a crash), and then nothing is sent again.
    ``after_broker(record)`` runs right after each broker answer, before the engine acts on it, so
    a crash that follows loses nothing the broker did. The default does nothing (backtests).
    """

    def before_submit(self, record: OrderRecord) -> BrokerOrder | None:
        return None

    def after_broker(self, record: OrderRecord) -> None:
        return None


@dataclass
class Cycle:
    """Everything one cycle works with: the clock, the bar and its feature row, the state it mutates,
    the broker, the strategies' settings, the configuration, the hooks and the result it builds."""

    at: datetime
    bar: MarketBar
    row: dict
    state: EngineState
    broker: BrokerLike
    strategies: dict[str, StrategySlot]
    config: EngineConfig
    hooks: OrderHooks
    result: CycleResult
    entries_allowed: bool = True
    force_exit: str = ""
    signals: list[SignalInput] = field(default_factory=list)
    settlement: SettlementLookup | None = None
    signal_features: bool = True  # False: signals and orders without the row (``engine.run_cycle``)
    _features: dict | None = field(default=None, init=False, repr=False)

    def features(self) -> dict:
        """The bar's feature row as JSON (``serialize.json_safe``), worked out once per cycle: every
        signal of the bar and every position it opens carries a copy."""
        if self._features is None:
            self._features = json_safe(self.row)
        return dict(self._features)

    def note(self, text: str) -> None:
        """Keep a remark for the caller's log (a broker error, an order that went nowhere)."""
        self.result.notes.append(text)


# --- requests --------------------------------------------------------------------------------------------


def order_request(
    cycle: Cycle,
    *,
    client_order_id: str,
    index: str,
    contract,
    side: str,
    quantity: int,
    order_type: str,
    price: Decimal | None,
) -> OrderRequest:
    """The broker request for one contract (a selected contract or an open position: both carry
    tradingsymbol, exchange, option_type, strike, expiry and lot_size)."""
    return OrderRequest(
        client_order_id=client_order_id,
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
        # A combo leg carries its combo's product (NRML: positional); everything else the desk's.
        product=getattr(contract, "product", "") or cycle.config.product,
        lot_size=contract.lot_size,
        freeze_quantity=contracts.freeze_quantity(index, market_calendar.ist_date(cycle.at)),
        created_at=cycle.at,
    )


def new_record(
    request: OrderRequest, *, purpose: str, strategy: str, position_id: str, at: datetime, **extra
) -> OrderRecord:
    """The record of an order about to be sent (status NEW, created at ``at``)."""
    return OrderRecord(
        request=request,
        purpose=purpose,
        strategy=strategy,
        position_id=position_id,
        status=orders.NEW,
        created_at=at,
        **extra,
    )


def pending_of(record: OrderRecord, *, plan: dict | None = None, exit_reason: str = "") -> PendingOrder:
    """The order ``record`` kept in flight across cycles, as it stands now."""
    return PendingOrder(
        request=record.request,
        purpose=record.purpose,
        strategy=record.strategy,
        position_id=record.position_id,
        status=record.status,
        created_at=record.created_at,
        filled_quantity=record.filled_quantity,
        signal=record.signal,
        signal_bar_time=record.signal_bar_time,
        plan=dict(plan or {}),
        exit_type=record.exit_type,
        exit_reason=exit_reason,
    )


def record_of(pending: PendingOrder) -> OrderRecord:
    """A record of an order in flight, to take the broker's next answer."""
    return OrderRecord(
        request=pending.request,
        purpose=pending.purpose,
        strategy=pending.strategy,
        position_id=pending.position_id,
        status=pending.status,
        created_at=pending.created_at,
        signal_bar_time=pending.signal_bar_time,
        signal_direction=pending.signal.direction if pending.signal else "",
        filled_quantity=pending.filled_quantity,
        exit_type=pending.exit_type,
        # An entry's plan keeps the ask it was sized on: the reference of its fill's slippage.
        reference_price=_decimal_or_none(pending.plan.get("planned_entry")),
        is_new=False,
    )


def _decimal_or_none(value) -> Decimal | None:
    try:
        return None if value in (None, "") else Decimal(str(value))
    except ArithmeticError:
        return None


# --- sending ------------------------------------------------------------------------------------------------


def submit(
    cycle: Cycle, record: OrderRecord, *, plan: dict | None = None, exit_reason: str = ""
) -> BrokerOrder | None:
    """Send ``record``'s request - unless the hooks already hold the broker's answer for its client
    order id - and take the answer into ``record``. Returns the answer, or None when the broker could
    not be reached: the order is then kept in flight as NEW and looked up by its tag next cycle; also
    None, with the record CANCELLED, when the hooks could not write it ahead (``NotWrittenAhead``)."""
    cycle.result.orders.append(record)
    try:
        answer = cycle.hooks.before_submit(record)
    except NotWrittenAhead as exc:
        # Nothing was sent and nothing will be: the order ends here, with the reason.
        record.reason = f"not sent: {exc}"
        record.transitions.append(Transition(record.status, orders.CANCELLED, cycle.at, record.reason))
        record.status = orders.CANCELLED
        return None
    try:
        if answer is None:
            answer = cycle.broker.place_order(record.request, market=cycle.bar)
    except Exception as exc:  # noqa: BLE001 - the order's fate is unknown: it stays in flight
        record.reason = f"broker error: {type(exc).__name__}: {exc}"
        cycle.state.pending[record.request.client_order_id] = pending_of(
            record, plan=plan, exit_reason=exit_reason
        )
        return None
    record_from_broker(record, answer, cycle.at, current=orders.NEW)
    cycle.hooks.after_broker(record)
    return answer


def keep_in_flight(
    cycle: Cycle, record: OrderRecord, *, plan: dict | None = None, exit_reason: str = ""
) -> None:
    """An order the broker is still working: remembered until a later cycle settles it."""
    cycle.state.pending[record.request.client_order_id] = pending_of(
        record, plan=plan, exit_reason=exit_reason
    )


# --- the broker's answers -------------------------------------------------------------------------------------


def fills_of(answer: BrokerOrder) -> list[Fill]:
    """The executions of an order: its own fills, else those of its freeze-quantity children."""
    fills = list(getattr(answer, "fills", None) or [])
    if not fills:
        for child in getattr(answer, "children", None) or []:
            fills.extend(getattr(child, "fills", None) or [])
    return [(int(quantity), Decimal(str(price)), time) for quantity, price, time in fills]


def contract_fields(request: OrderRequest, fills: list[Fill]) -> dict:
    """What an ``OpenPosition`` takes from its entry order: the contract and the time of its last fill."""
    return {
        "index": request.index,
        "tradingsymbol": request.tradingsymbol,
        "exchange": request.exchange,
        "option_type": request.option_type,
        "strike": float(request.strike),
        "expiry": request.expiry,
        "lot_size": int(request.lot_size),
        "entry_time": max(time for _, _, time in fills),
    }


def fills_or_average(answer: BrokerOrder, record: OrderRecord, at: datetime) -> list[Fill]:
    """The fills of an answer; when the broker gave only a filled quantity and an average price, one
    fill at that price (at the fill time, else ``at``)."""
    fills = fills_of(answer)
    if not fills and record.filled_quantity > 0 and record.average_price is not None:
        fills = [(record.filled_quantity, record.average_price, record.filled_at or at)]
    return fills


def executed_orders(answer: BrokerOrder) -> int:
    """How many orders were executed at the exchange (the children of a split parent that filled)."""
    children = getattr(answer, "children", None) or []
    if children:
        return max(1, sum(1 for child in children if int(getattr(child, "filled_quantity", 0) or 0) > 0))
    return 1


def average_price(fills: list[Fill], *, on_tick: bool = True) -> Decimal | None:
    """The quantity-weighted price of ``fills`` on the tick (``on_tick=False``: to the paisa, for a
    settlement value), None without quantity."""
    quantity = sum(q for q, _, _ in fills)
    if quantity <= 0:
        return None
    average = sum(Decimal(q) * price for q, price, _ in fills) / quantity
    return risk.to_tick(average) if on_tick else average.quantize(risk.PAISA, ROUND_HALF_UP)


def _child_quantity(child: BrokerOrder, parent_request: OrderRequest) -> int:
    quantity = getattr(child, "quantity", None)
    if quantity:
        return int(quantity)
    filled = int(getattr(child, "filled_quantity", 0) or 0)
    return filled or int(parent_request.quantity)


def _transitions(
    record: OrderRecord, current: str, status: str, reason: str, filled: int, average, at
) -> None:
    """The legal steps from ``current`` to ``status``, the last one carrying the fills and reason."""
    path = orders.transition_path(current, status, reason)
    if (
        current == orders.PARTIALLY_FILLED
        and status == orders.PARTIALLY_FILLED
        and filled <= record.filled_quantity
    ):
        path = []
    previous = current
    for step in path:
        last = step == path[-1]
        record.transitions.append(
            Transition(
                from_status=previous,
                to_status=step,
                at=at,
                reason=reason if last else "sent to broker",
                filled_quantity=filled if last else 0,
                average_price=average if last else None,
            )
        )
        previous = step


def _child_records(record: OrderRecord, answer: BrokerOrder, at: datetime) -> list[OrderRecord]:
    """The records of a split parent's children, each from its own answer."""
    children = []
    for child in getattr(answer, "children", None) or []:
        request = replace(
            record.request,
            client_order_id=child.client_order_id,
            quantity=_child_quantity(child, record.request),
        )
        child_record = OrderRecord(
            request=request,
            purpose=record.purpose,
            strategy=record.strategy,
            position_id=record.position_id,
            status=orders.NEW,
            created_at=record.created_at,
            signal_bar_time=record.signal_bar_time,
            signal_direction=record.signal_direction,
            exit_type=record.exit_type,
        )
        children.append(record_from_broker(child_record, child, at, current=orders.NEW))
    return children


def record_from_broker(
    record: OrderRecord, answer: BrokerOrder, at: datetime, *, current: str
) -> OrderRecord:
    """Fill ``record`` with the broker's answer and the legal transitions from ``current`` to it.

    Raises ``orders.IllegalTransition`` for an answer the state machine cannot reach from ``current``.
    """
    status = str(answer.status)
    reason = str(getattr(answer, "reason", "") or "")
    filled = int(getattr(answer, "filled_quantity", 0) or 0)
    average = decimal_or_none(getattr(answer, "average_price", None))
    fills = fills_of(answer)
    _transitions(record, current, status, reason, filled, average, at)
    record.status = status
    record.reason = reason
    record.broker_order_id = str(getattr(answer, "broker_order_id", "") or "")
    record.filled_quantity = filled
    record.average_price = average
    if status == orders.FILLED:
        record.filled_at = max((time for _, _, time in fills), default=None) or at
    record.children = _child_records(record, answer, at)
    return record
