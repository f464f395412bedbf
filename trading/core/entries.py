"""Signals -> risk gate -> orders, pure: each signal passes the strategy switch, the account gate
(kill switch, database, circuit breaker, session time, open positions) and its cooldown, then
contract selection and sizing; a refused signal keeps its reason, an accepted one becomes an entry
order, and a filled entry opens a position.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from trading.core import calendar as market_calendar
from trading.core import combo_entries, memo, orders, risk
from trading.core.market_context import market_context
from trading.core.order_flow import (
    Cycle,
    average_price,
    contract_fields,
    executed_orders,
    fills_or_average,
    keep_in_flight,
    new_record,
    order_request,
    submit,
)
from trading.core.order_types import BrokerOrder, OrderRequest
from trading.core.results import OrderRecord, SignalOutcome
from trading.core.state import EngineConfig, OpenPosition, SignalInput


def position_id_for(config: EngineConfig, strategy: str, bar_time: datetime, direction: str) -> str:
    """Readable, deterministic id of the position a signal opens (it becomes the journal trade id)."""
    stamp = _ist_minute(bar_time)
    return f"{config.position_prefix}{config.mode[:1]}-{config.index}-{stamp}-{strategy[:32]}-{direction[:1]}"


def _ist_minute(at: datetime) -> str:
    """``at`` as ``YYYYmmdd-HHMM`` in IST; remembered per instant (a bar's signals all ask, bounded)."""
    found = _IST_MINUTES.get(at)
    if found is None:
        if len(_IST_MINUTES) >= 4096:
            _IST_MINUTES.clear()
        found = _IST_MINUTES[at] = at.astimezone(market_calendar.IST).strftime("%Y%m%d-%H%M")
    return found


_IST_MINUTES: dict[datetime, str] = memo.session_memo()


def entry_order_id_for(cycle: Cycle, signal: SignalInput) -> str:
    """The deterministic client order id of the entry a signal on this bar places."""
    return orders.entry_order_id(
        mode=cycle.config.mode,
        index=cycle.config.index,
        strategy=signal.strategy,
        bar_time=cycle.bar.time,
        direction=signal.direction,
    )


def run_entries(cycle: Cycle) -> None:
    """Every CALL/PUT signal of the bar through the gate; the accepted ones enter."""
    features = None
    for signal in cycle.signals:
        if signal.direction not in ("CALL", "PUT"):
            continue
        if features is None:
            features = cycle.features() if cycle.signal_features else {}
        outcome = SignalOutcome(signal=signal, bar_time=cycle.bar.time, accepted=False, features=features)
        cycle.result.signals.append(outcome)
        if _already_executed(cycle, signal, outcome):
            continue
        decision = gate(cycle, signal)
        if not decision:
            outcome.reject_reason, outcome.reject_detail = decision.reason, decision.detail
            continue
        spec = cycle.strategies[signal.strategy].combos.get(signal.direction)
        if spec is not None:
            combo_entries.enter_combo(cycle, signal, outcome, spec)
            continue
        _enter(cycle, signal, outcome)


def _already_executed(cycle: Cycle, signal: SignalInput, outcome: SignalOutcome) -> bool:
    """True when this very signal already has its order (the cycle is being run again after a
    crash): it stays accepted and nothing is sent twice."""
    state = cycle.state
    if state.combos:
        combo_id = combo_entries.combo_id_for(cycle.config, signal.strategy, cycle.bar.time, signal.direction)
        if combo_id in state.combos:
            outcome.accepted = True
            outcome.client_order_id = combo_entries.leg_order_id(combo_id, 0)
            return True
    existing = (
        state.positions.get(position_id_for(cycle.config, signal.strategy, cycle.bar.time, signal.direction))
        if state.positions
        else None
    )
    if not state.pending and existing is None:
        return False  # nothing it could have placed (its order id, a hash, need not be worked out)
    client_order_id = entry_order_id_for(cycle, signal)
    if client_order_id in state.pending or (
        existing is not None and existing.entry_order_id == client_order_id
    ):
        outcome.accepted, outcome.client_order_id = True, client_order_id
        return True
    return False


def gate(cycle: Cycle, signal: SignalInput) -> risk.Decision:
    """The risk gate of one signal: strategy switch, entries allowed, account limits, cooldown."""
    slot = cycle.strategies.get(signal.strategy)
    if slot is None or not slot.enabled:
        return risk.refuse(risk.R_DISABLED, f"{signal.strategy} is not enabled")
    if not cycle.entries_allowed:
        if not cycle.state.db_available:
            return risk.refuse(risk.R_DATABASE, "database unreachable: exits only until it is back")
        return risk.refuse(risk.R_OUTSIDE_SESSION, "entries are off in this cycle")
    decision = risk.entry_gate(
        state=cycle.state.risk,
        cfg=cycle.config.risk,
        at=cycle.at,
        open_total=cycle.state.open_count(),
        open_for_strategy=cycle.state.open_count(signal.strategy),
        strategy_max_open=slot.max_open_positions,
        db_available=cycle.state.db_available,
    )
    if not decision:
        return decision
    return risk.cooldown_gate(
        cycle.state.last_signal_at.get(signal.strategy), cycle.bar.time, slot.cooldown_minutes
    )


@dataclass(frozen=True)
class EntryPlan:
    """What an accepted signal buys: the contract, the premium planned, the size."""

    contract: orders.Contract
    ask: Decimal
    size: risk.Sizing
    position_id: str

    def as_dict(self) -> dict:
        """What a position opened later (after a crash, from a stored order) needs of the plan."""
        return {
            "position_id": self.position_id,
            "lots": self.size.lots,
            "planned_entry": str(self.ask),
            "contract_iv": self.contract.iv,
        }


def _plan(cycle: Cycle, signal: SignalInput, outcome: SignalOutcome) -> EntryPlan | None:
    """Contract and size of an entry; None (with the refusal on ``outcome``) when there is none."""
    slot = cycle.strategies[signal.strategy]
    try:
        contract = orders.select_contract(
            index=cycle.config.index,
            direction=signal.direction,
            bar=cycle.bar,
            at=cycle.at,
            rule=slot.contract or cycle.config.contract,
            live=cycle.config.mode == "LIVE",
            expiries_from_broker=cycle.config.expiries_from_broker,
        )
    except market_calendar.CalendarNotCovered as refused:
        outcome.reject_reason, outcome.reject_detail = risk.R_CALENDAR, str(refused)
        cycle.note(str(refused))
        return None
    if contract is None:
        outcome.reject_reason, outcome.reject_detail = risk.R_NO_CONTRACT, "no quoted contract for the rule"
        return None
    ask = risk.to_tick(contract.ask)
    levels = risk.exit_levels(ask, cycle.bar.vix, cycle.config.risk)
    size = risk.position_size(
        entry=ask,
        stop=levels.stop,
        lot_size=contract.lot_size,
        cfg=cycle.config.risk,
        allocation=slot.capital_allocation,
    )
    if not size.decision:
        outcome.reject_reason, outcome.reject_detail = size.decision.reason, size.decision.detail
        return None
    position_id = position_id_for(cycle.config, signal.strategy, cycle.bar.time, signal.direction)
    if position_id in cycle.state.positions:
        outcome.reject_reason, outcome.reject_detail = risk.R_DUPLICATE, f"{position_id} is already open"
        return None
    return EntryPlan(contract=contract, ask=ask, size=size, position_id=position_id)


def _entry_record(cycle: Cycle, signal: SignalInput, outcome: SignalOutcome, plan: EntryPlan) -> OrderRecord:
    order_type = cycle.config.order_type
    price = plan.ask + risk.TICK * cycle.config.limit_buffer_ticks if order_type == "LIMIT" else None
    request = order_request(
        cycle,
        client_order_id=entry_order_id_for(cycle, signal),
        index=cycle.config.index,
        contract=plan.contract,
        side="BUY",
        quantity=plan.size.quantity,
        order_type=order_type,
        price=price,
    )
    return new_record(
        request,
        purpose=orders.ENTRY,
        strategy=signal.strategy,
        position_id=plan.position_id,
        at=cycle.at,
        signal_bar_time=cycle.bar.time,
        signal_direction=signal.direction,
        signal=signal,
        features=outcome.features,
        reference_price=plan.ask,
    )


def _enter(cycle: Cycle, signal: SignalInput, outcome: SignalOutcome) -> None:
    plan = _plan(cycle, signal, outcome)
    if plan is None:
        return
    record = _entry_record(cycle, signal, outcome, plan)
    outcome.client_order_id = record.request.client_order_id
    # The cooldown starts at the accepted signal's bar, whatever the broker says next.
    cycle.state.last_signal_at[signal.strategy] = cycle.bar.time
    answer = submit(cycle, record, plan=plan.as_dict())
    if answer is None and record.status == orders.CANCELLED:
        outcome.reject_reason = risk.R_DATABASE  # not written ahead, so never sent
        outcome.reject_detail = record.reason
        return
    if answer is None:
        outcome.accepted = True  # in flight: looked up by its tag next cycle
        return
    if record.status == orders.REJECTED:
        outcome.reject_reason = risk.R_ORDER_REJECTED
        outcome.reject_detail = f"broker rejected the order: {record.reason}"
        return
    outcome.accepted = True
    if not orders.is_terminal(record.status):
        keep_in_flight(cycle, record, plan=plan.as_dict())
    elif record.filled_quantity > 0:
        open_from_fill(cycle, signal, cycle.bar.time, plan.as_dict(), record.request, answer, record)


def open_from_fill(
    cycle: Cycle,
    signal: SignalInput | None,
    signal_bar_time: datetime | None,
    plan: dict,
    request: OrderRequest,
    answer: BrokerOrder,
    record: OrderRecord,
) -> None:
    """Open the position an entry's fills bought: averaged entry, VIX-scaled exit levels, context."""
    fills = fills_or_average(answer, record, cycle.at)
    quantity = sum(q for q, _, _ in fills)
    if quantity <= 0:
        return
    entry = average_price(fills)
    levels = risk.exit_levels(entry, cycle.bar.vix, cycle.config.risk)
    context = market_context(
        bar=cycle.bar,
        row=cycle.row,
        at=cycle.at,
        expiry=request.expiry,
        strike=float(request.strike),
        option_type=request.option_type,
        price=entry,
    )
    position = OpenPosition(
        position_id=plan.get("position_id") or record.position_id,
        strategy=record.strategy,
        **contract_fields(request, fills),
        quantity=quantity,
        entry_price=entry,
        stop=levels.stop,
        target=levels.target,
        trail_fraction=levels.trail_fraction,
        trail_activation=levels.trail_activation,
        high_water=entry,
        low_water=entry,
        last_price=entry,
        entry_order_id=request.client_order_id,
        entry_orders=executed_orders(answer),
        signal_bar_time=signal_bar_time,
        signal_direction=signal.direction if signal else "",
        signal_strength=signal.strength if signal else None,
        signal_reason=signal.reason if signal else "",
        entry_context={
            **context,
            "features": cycle.features(),
            "trail_fraction": levels.trail_fraction,
            "trail_activation": str(levels.trail_activation),
            "lots": quantity // int(request.lot_size),
        },
    )
    cycle.state.positions[position.position_id] = position
    cycle.result.opened.append(position)
