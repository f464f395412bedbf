"""The engine: one cycle of DESIGN.md's data flow, the same in backtest, paper and live. Pure.

``run_cycle(at=..., bar=..., row=..., signals=..., state=..., broker=..., strategies=..., config=...)``
takes the clock time ``at`` (the end of ``bar``), the bar, its feature row, the strategies' signals on
that row, the engine state (open positions, orders in flight, risk figures) and a broker, and does,
in this order:

0. **settle** orders still in flight from earlier cycles (status from the broker, looked up by
   client order id; a stale order is cancelled);
1. **mark and exit** every open position: expiry, kill switch, square-off time, stop loss, trailing
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

A single position is a long option (buy CE for a CALL signal, PE for a PUT), MIS, squared off the
same day. A strategy whose slot maps the signal's direction to a ``ComboSpec`` trades a combo of
legs instead - bought and sold options, intraday or positional (``core.combo_entries``,
``core.combo_exits``, docs/multileg.md). Premiums are Decimals on the 0.05 tick; P&L in rupees.

The steps live in their own modules: ``core.order_flow`` (sending orders, the broker's answers),
``core.exits`` (marks, exit rules, closing), ``core.entries`` (risk gate, sizing, entry orders); the
types in ``core.state`` (configuration, state) and ``core.results`` (what the caller persists).
"""

from __future__ import annotations

from datetime import datetime

from trading.core import calendar as market_calendar
from trading.core import combo_entries, combo_exits, entries, exits, orders
from trading.core.bars import MarketBar
from trading.core.order_flow import (
    BAR,
    BrokerLike,
    Cycle,
    OrderHooks,
    SettlementLookup,
    record_from_broker,
    record_of,
)
from trading.core.order_types import BrokerOrder
from trading.core.results import CycleResult, OrderRecord, Transition
from trading.core.state import EngineConfig, EngineState, PendingOrder, SignalInput, StrategySlot


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
    settlement: SettlementLookup | None = None,
    signal_features: bool = True,
) -> CycleResult:
    """One cycle at clock time ``at`` (the end of ``bar``): settle, exits, signals, risk, orders, fills.

    ``entries_allowed=False`` runs exits only (monitoring, database down); ``force_exit`` (an exit
    type such as ``SQUARE_OFF`` or ``KILL_SWITCH``) closes every open position now; ``run_exits=False``
    takes the signals only (re-executing a stored signal). ``settlement`` gives the spot an expired
    option settles on (``order_flow.SettlementLookup``; without it, or when it does not know, only a
    bar of the expiry session's last minute settles one). ``signal_features=False``: the cycle's
    signals and orders carry no feature row (a backtest that keeps only their counts); the positions
    it opens still do. Mutates ``state``; returns the ``CycleResult`` to persist.
    """
    state.risk.tripped_now.clear()
    state.risk.roll_session(market_calendar.ist_date(at))
    cycle = Cycle(
        at=at,
        bar=bar,
        row=row or {},
        state=state,
        broker=broker,
        strategies=strategies,
        config=config,
        hooks=hooks or OrderHooks(),
        result=CycleResult(at=at, bar_time=bar.time),
        entries_allowed=entries_allowed and not force_exit,
        force_exit=force_exit,
        signals=list(signals or []),
        settlement=settlement,
        signal_features=signal_features,
    )
    if run_exits:
        settle_orders(cycle)
        exits.run_exits(cycle)
        combo_exits.run_combos(cycle)
    entries.run_entries(cycle)
    combo_exits.account_combos(cycle)
    if state.last_bar_time is None or bar.time > state.last_bar_time:
        state.last_bar_time = bar.time
    return cycle.result


# --- 0. orders in flight from earlier cycles ---------------------------------------------------------------


def settle_orders(cycle: Cycle) -> None:
    """Ask the broker about every order still in flight; apply what finished (fills open or close
    positions), cancel what went stale."""
    if cycle.state.pending:
        try:
            cycle.broker.poll(cycle.bar)
        except Exception as exc:  # noqa: BLE001 - the statuses are asked one by one below anyway
            cycle.note(f"broker poll failed: {type(exc).__name__}: {exc}")
    for client_order_id in list(cycle.state.pending):
        _settle_one(cycle, client_order_id, cycle.state.pending[client_order_id])


def _stale(cycle: Cycle, pending: PendingOrder) -> bool:
    return cycle.at - pending.created_at >= BAR * cycle.config.order_timeout_bars


def _broker_answer(
    cycle: Cycle, client_order_id: str, pending: PendingOrder, record: OrderRecord
) -> BrokerOrder | None:
    """What the broker says of an order in flight: its status, else the order under its tag, else
    the answer stored before a crash. An entry that never reached the broker is sent now under the
    same client order id, or cancelled once stale (``None`` then, with the record CANCELLED)."""
    terminal = orders.is_terminal(pending.status)
    answer = None if pending.known is not None and terminal else cycle.broker.order_status(client_order_id)
    if answer is None and not terminal:
        answer = cycle.broker.find_by_tag(client_order_id)
    if answer is None and pending.known is not None:
        answer = pending.known
    if answer is None and pending.status == orders.NEW:
        if (
            pending.purpose == orders.ENTRY
            and cycle.at - pending.created_at > BAR * cycle.config.order_timeout_bars
        ):
            record.transitions.append(
                Transition(pending.status, orders.CANCELLED, cycle.at, "never reached the broker")
            )
            record.status = orders.CANCELLED
            return None
        answer = cycle.broker.place_order(pending.request, market=cycle.bar)
    return answer


def _settle_one(cycle: Cycle, client_order_id: str, pending: PendingOrder) -> None:
    record = record_of(pending)
    try:
        answer = _broker_answer(cycle, client_order_id, pending, record)
    except Exception as exc:  # noqa: BLE001 - a broker error leaves the order in flight
        cycle.note(f"{client_order_id}: broker error {type(exc).__name__}: {exc}")
        return
    if answer is None:
        if record.status == orders.CANCELLED:
            cycle.result.orders.append(record)
            del cycle.state.pending[client_order_id]
        return
    if str(answer.status) in orders.LIVE_STATES and _stale(cycle, pending):
        try:
            answer = cycle.broker.cancel_order(client_order_id) or answer
        except Exception as exc:  # noqa: BLE001
            cycle.note(f"{client_order_id}: cancel failed {type(exc).__name__}: {exc}")
    try:
        record_from_broker(record, answer, cycle.at, current=pending.status)
    except orders.IllegalTransition as exc:
        cycle.note(f"{client_order_id}: {exc}")
        return
    cycle.hooks.after_broker(record)
    pending.status, pending.filled_quantity = record.status, record.filled_quantity
    if record.transitions or record.children:
        cycle.result.orders.append(record)
    if orders.is_terminal(record.status):
        del cycle.state.pending[client_order_id]
        _apply_finished(cycle, pending, answer, record)


def _apply_finished(cycle: Cycle, pending: PendingOrder, answer: BrokerOrder, record: OrderRecord) -> None:
    """A finished order's fills: an entry opens its position (a combo's leg: ``combo_entries``,
    which also hears of a leg that filled nothing), an exit closes (part of) one."""
    if pending.purpose == orders.ENTRY and pending.plan.get("combo_id"):
        combo_entries.finished_from_pending(cycle, pending, answer, record)
        return
    if record.filled_quantity <= 0:
        return
    if pending.purpose == orders.ENTRY:
        entries.open_from_fill(
            cycle, pending.signal, pending.signal_bar_time, pending.plan, pending.request, answer, record
        )
        return
    position = cycle.state.positions.get(pending.position_id)
    if position is not None:
        exits.apply_exit_fill(cycle, position, answer, record, pending.exit_type, pending.exit_reason)
