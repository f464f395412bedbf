"""Writes of what a cycle decided: signals, orders, opened/marked/closed positions, trades (through
``journal.services.record_trade``), the circuit breaker and the last bar processed - in one short
transaction (``persist_cycle``). While the database is unreachable a closed position is spooled
instead (``spool_close``) and replayed, in order, before the next cycle trades again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from journal import services as journal_services
from journal import spool
from journal.combos import combo_record, combo_refresh_totals
from journal.models import Trade, TradeOrigin
from trading import outbox
from trading.audit import ControlAudit
from trading.core import calendar as market_calendar
from trading.core.bars import MarketBar
from trading.core.combo_exits import combo_facts
from trading.core.combo_store import combo_state
from trading.core.results import ClosedTrade, CycleResult, OrderRecord, SignalOutcome
from trading.core.state import OpenPosition
from trading.execution import events
from trading.execution.mapping import position_fields, record_from_payload, record_payload
from trading.execution.models import Order, Position, PositionStatus, TradingState
from trading.execution.orders import order_sync
from trading.execution.pausepoints import pause_point
from trading.market.services import snapshot_store
from trading.strategies.models import Signal, SignalStatus
from trading.strategies.services import signal_record

log = logging.getLogger(__name__)

DB_ERRORS = (OperationalError, InterfaceError)


@dataclass(frozen=True)
class DeskIdentity:
    """Whose cycle is stored: the desk's index, mode, market data source and broker name."""

    index: str
    mode: str
    data_source: str
    broker_name: str


# --- signals ---------------------------------------------------------------------------------------------


def signal_upsert(*, outcome: SignalOutcome, index: str, mode: str) -> Signal:
    """Store a signal with what the engine did with it (ACCEPTED, or REJECTED with its reason),
    through ``strategies.services.signal_record``.

    Keyed by (strategy, index, bar, direction, mode). A signal first stored ACCEPTED (ahead of its
    order) and then refused by the broker is updated to REJECTED with the broker's reason.
    """
    signal = outcome.signal
    status = SignalStatus.ACCEPTED if outcome.accepted else SignalStatus.REJECTED
    known = Signal.objects.filter(
        strategy_name=signal.strategy,
        index=index,
        bar_time=outcome.bar_time,
        direction=signal.direction,
        mode=mode,
    ).exists()
    stored = signal_record(
        strategy_name=signal.strategy,
        bar_time=outcome.bar_time,
        direction=signal.direction,
        strength=signal.strength,
        reason=signal.reason,
        features=outcome.features or {},
        status=status,
        reject_reason=outcome.reject_reason[:64],
        reject_detail=outcome.reject_detail,
        index=index,
        mode=mode,
    )
    if stored.status != status or stored.reject_reason != outcome.reject_reason[:64]:
        stored.status = status
        stored.reject_reason = outcome.reject_reason[:64]
        stored.reject_detail = outcome.reject_detail
        stored.save(update_fields=["status", "reject_reason", "reject_detail"])
    elif known:
        return stored  # stored before as it is now: no news
    events.emit_signal(stored, client_order_id=outcome.client_order_id)
    return stored


# --- positions ---------------------------------------------------------------------------------------------


def _link_orders(row: Position) -> None:
    Order.objects.filter(position_ref=row.position_id, position__isnull=True).update(position=row)


def position_open(
    *, position: OpenPosition, mode: str, data_source: str, signal: Signal | None = None
) -> Position:
    """Store a newly opened position (once: keyed by ``position_id``) and link its entry order."""
    row, created = Position.objects.get_or_create(
        position_id=position.position_id,
        defaults={**position_fields(position, mode=mode, data_source=data_source), "signal": signal},
    )
    _link_orders(row)
    if created:
        events.emit_position(outbox.POSITION_OPENED, row, at=position.entry_time)
    return row


def position_mark(position: OpenPosition) -> None:
    """Store a position's latest marks (last price, high/low water, trailing stop)."""
    Position.objects.filter(position_id=position.position_id, status=PositionStatus.OPEN).update(
        last_price=position.last_price,
        high_water=position.high_water,
        low_water=position.low_water,
        trail_price=position.trail,
        updated_at=timezone.now(),
    )


def position_close(*, closed: ClosedTrade, now: datetime, signal_id: int | None = None) -> Trade | None:
    """Close the stored position and write its journal trade (``record_trade``: exactly once, as the
    engine's, checked against the engine's clock ``now``)."""
    position = closed.position
    Position.objects.filter(position_id=position.position_id).update(
        status=PositionStatus.CLOSED,
        exit_time=closed.exit_time,
        last_price=closed.exit_price,
        high_water=position.high_water,
        low_water=position.low_water,
        trail_price=position.trail,
        quantity=position.quantity,
        updated_at=timezone.now(),
    )
    row = Position.objects.filter(position_id=position.position_id).first()
    if row is not None:
        _link_orders(row)
        signal_id = signal_id or row.signal_id
        events.emit_position(
            outbox.POSITION_CLOSED,
            row,
            at=closed.exit_time,
            exit_price=closed.exit_price,
            exit_type=closed.exit_type,
            exit_reason=closed.exit_reason,
            gross_pnl=closed.gross_pnl,
            charges=closed.charges,
            net_pnl=closed.net_pnl,
        )
    facts = dict(closed.trade)
    if signal_id:
        facts["signal_id"] = signal_id
    try:
        return journal_services.record_trade(now=now, origin=TradeOrigin.ENGINE, **facts)
    except ValidationError:
        # Bad facts are a bug, not a reason to lose the close: the position stays closed, the
        # orders stay stored, and the log says which trade is missing.
        log.exception("trade %s refused by the journal", position.position_id)
        return None


# --- the spool: closes while the database is unreachable --------------------------------------------------


def spool_close(
    closed: ClosedTrade, records: list[OrderRecord], *, mode: str, broker_name: str, now: datetime
) -> None:
    """The database is unreachable: spool the position close (with its exit orders), then the trade."""
    position = closed.position
    payload = {
        "position_id": position.position_id,
        "exit_time": closed.exit_time,
        "exit_price": closed.exit_price,
        "mode": mode,
        "broker": broker_name,
        "orders": [
            record_payload(record) for record in records if record.position_id == position.position_id
        ],
    }
    spool.append("position_close", position.position_id, payload)
    journal_services.record_trade(now=now, origin=TradeOrigin.ENGINE, **closed.trade)


def _replay_position_close(payload: dict) -> None:
    """Spool handler: store the exit orders and close the position (idempotent), with their events,
    in one transaction - so the closes of an outage enter the outbox in the spool's order."""
    with transaction.atomic():
        _replay_close(payload)


def _replay_close(payload: dict) -> None:
    for data in payload.get("orders", []):
        order_sync(
            record=record_from_payload(data),
            mode=payload.get("mode", "PAPER"),
            broker_name=payload.get("broker", "paper"),
        )
    exit_time = parse_datetime(payload["exit_time"])
    closing = Position.objects.filter(position_id=payload["position_id"], status=PositionStatus.OPEN).update(
        status=PositionStatus.CLOSED,
        exit_time=exit_time,
        last_price=Decimal(str(payload["exit_price"])),
        updated_at=timezone.now(),
    )
    row = Position.objects.filter(position_id=payload["position_id"]).first()
    if row is not None:
        _link_orders(row)
        if closing:
            events.emit_position(
                outbox.POSITION_CLOSED, row, at=exit_time, exit_price=payload["exit_price"], spooled=True
            )


spool.register("position_close", _replay_position_close)
# The engine's positions' ids are its own: no manual or imported trade may take one first.
journal_services.reserve_trade_ids(lambda trade_id: Position.objects.filter(position_id=trade_id).exists())


# --- one cycle ---------------------------------------------------------------------------------------------


def _store_signals(result: CycleResult, desk: DeskIdentity) -> dict[tuple, Signal]:
    """Every signal of the cycle, linked to the order it placed; keyed by (strategy, bar, direction)."""
    stored: dict[tuple, Signal] = {}
    for outcome in result.signals:
        signal = signal_upsert(outcome=outcome, index=desk.index, mode=desk.mode)
        stored[(outcome.signal.strategy, outcome.bar_time, outcome.signal.direction)] = signal
        if outcome.client_order_id:
            Order.objects.filter(client_order_id=outcome.client_order_id, signal__isnull=True).update(
                signal=signal
            )
        combo_id = (outcome.features or {}).get("combo_id") if outcome.accepted else None
        if combo_id:  # every leg's order of the combo the signal opened
            Order.objects.filter(position_ref__startswith=f"{combo_id}-L", signal__isnull=True).update(
                signal=signal
            )
    return stored


def _signal_of(position: OpenPosition, stored: dict[tuple, Signal], desk: DeskIdentity) -> Signal | None:
    """The signal a position was opened on: this cycle's, else the stored one of its bar."""
    signal = stored.get((position.strategy, position.signal_bar_time, position.signal_direction))
    if signal is None and position.signal_bar_time is not None:
        signal = Signal.objects.filter(
            strategy_name=position.strategy,
            index=desk.index,
            bar_time=position.signal_bar_time,
            direction=position.signal_direction,
            mode=desk.mode,
        ).first()
    return signal


def _store_positions(result: CycleResult, desk: DeskIdentity, signals: dict[tuple, Signal]) -> None:
    for position in result.opened:
        position_open(
            position=position,
            mode=desk.mode,
            data_source=desk.data_source,
            signal=_signal_of(position, signals, desk),
        )
    closed_ids = {closed.position.position_id for closed in result.closed}
    for position in result.marked:
        if position.position_id not in closed_ids:
            position_mark(position)
    for closed in result.closed:
        position_close(closed=closed, now=result.at)


def _store_combos(result: CycleResult, desk: DeskIdentity, *, now: datetime) -> list[str]:
    """Every combo the cycle opened, moved on or closed, as it stands now (each once); their ids."""
    latest = {combo.combo_id: combo for combo in result.combos}
    for combo in latest.values():
        facts = combo_facts(combo, mode=desk.mode, data_source=desk.data_source)
        facts["engine"] = combo_state(combo)
        try:
            combo_record(now=now, **facts)
        except ValidationError:
            # Refused facts are a bug, not a reason to lose the cycle: its legs' trades still go
            # to the journal (linked to a stub combo), and the log says which combo is missing.
            log.exception("combo %s refused by the journal", combo.combo_id)
    return list(latest)


def _state_fields(
    result: CycleResult, desk: DeskIdentity, bar: MarketBar, *, advance: bool, last_bar_time
) -> dict[str, Any]:
    """The control-state columns a cycle writes (and the breaker trip's audit row)."""
    stamp = timezone.now()
    fields: dict[str, Any] = {"last_cycle_at": stamp, "updated_at": stamp}
    if result.breaker_tripped:
        events.emit_control(outbox.BREAKER, index=desk.index, on=True, reason=result.breaker_tripped)
        fields.update(
            circuit_breaker=True,
            circuit_breaker_reason=result.breaker_tripped[:200],
            circuit_breaker_session=market_calendar.ist_date(result.at),
        )
        ControlAudit.objects.create(
            index=desk.index,
            action="circuit_breaker_trip",
            old_value="off",
            new_value="on",
            detail=result.breaker_tripped,
        )
    if advance and (last_bar_time is None or bar.time > last_bar_time):
        fields["last_bar_time"] = bar.time
    return fields


def persist_cycle(
    result: CycleResult,
    *,
    desk: DeskIdentity,
    bar: MarketBar,
    last_bar_time: datetime | None,
    advance: bool = True,
    seen: datetime | None = None,
    snapshot: bool = True,
    view: events.CycleView | None = None,
) -> datetime | None:
    """Store what a cycle decided - signals, orders, positions, trades, the breaker and (``advance``)
    the last bar processed - in one short transaction, with their events in the outbox (and, given
    the cycle's ``view``, the bar and the marks of the open positions); then (``snapshot``) the market
    view.

    Returns the ``TradingState.updated_at`` it wrote when the row still had the stamp ``seen`` (no
    one else wrote it since the desk read it), else None: the desk then reloads its state.
    """
    with transaction.atomic():
        signals = _store_signals(result, desk)
        for record in result.orders:
            order_sync(record=record, mode=desk.mode, broker_name=desk.broker_name)
        combo_ids = _store_combos(result, desk, now=result.at)
        _store_positions(result, desk, signals)
        combo_refresh_totals(
            [*combo_ids, *(c.position.combo_id for c in result.closed if c.position.combo_id)]
        )
        if view is not None:
            events.emit_cycle(result, index=desk.index, mode=desk.mode, bar=bar, view=view)
        fields = _state_fields(result, desk, bar, advance=advance, last_bar_time=last_bar_time)
        # Compare-and-set on the stamp the desk read: a control action written meanwhile (kill
        # switch, breaker reset) is never overwritten unseen - the desk reloads instead.
        written = 0
        if seen is not None:
            written = TradingState.objects.filter(index=desk.index, updated_at=seen).update(**fields)
        if not written:
            TradingState.objects.filter(index=desk.index).update(**fields)
        if result.opened or result.closed:
            pause_point("in_persist")
    if snapshot:
        _store_snapshot(bar, desk.data_source)
    return fields["updated_at"] if written else None


def _store_snapshot(bar: MarketBar, source: str) -> None:
    """The bar as the index's latest market view, for the chain page and metrics (kept 7 days)."""
    try:
        snapshot_store(bar, source, keep_days=7)
    except DB_ERRORS:
        raise
    except Exception:  # noqa: BLE001 - the market view is for pages: it must never undo a cycle
        log.exception("market snapshot of %s not stored", bar.time)
