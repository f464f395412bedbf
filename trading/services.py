"""The Django side of the engine: load its state, run one cycle, persist what it decided.

Writes (each the one way its rows change):

* ``run_cycle(index, at=None, bar=None)`` - one engine cycle with its state from the database;
* ``order_transition(...)`` - every step of an order's state machine, stored as an ``OrderEvent``;
* ``kill_switch_set`` / ``circuit_breaker_reset`` / ``live_confirm`` - control actions, audited in
  ``ControlAudit`` with who and when;
* ``reconcile(index)`` - orders and positions brought in line with the broker;
* ``backtest_execute(...)`` - a backtest run and its trades.

Crash safety: an order row is written (NEW) before the broker is called and its transitions right
after the broker answers; client order ids are deterministic, so a cycle run again after a crash (a
Celery task redelivered when its worker died) finds its order by id instead of placing another, and
positions and trades are keyed by ids derived from it (``Position.position_id`` = the journal's
``trade_id``). While the database is unreachable the engine runs exits only on its last known state
and the close events are spooled (``journal.spool``) and replayed, in order, before the next cycle
trades again.
"""

from __future__ import annotations

import logging
import os
import threading
import time as _time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Max
from django.utils import timezone

from journal import services as journal_services
from journal import spool
from journal.models import Trade
from trading import metrics
from trading.core import calendar as market_calendar
from trading.core import contracts, engine, orders, risk
from trading.core.bars import MarketBar
from trading.core.engine import (
    CycleResult,
    EngineConfig,
    EngineState,
    OpenPosition,
    OrderRecord,
    PendingOrder,
    SignalInput,
    StrategySlot,
)
from trading.core.live import LiveSignals, SimSource
from trading.models import (
    BacktestRun,
    ControlAudit,
    Order,
    OrderEvent,
    OrderStatus,
    Position,
    PositionStatus,
    Signal,
    SignalStatus,
    StrategyConfig,
    TradingState,
)

log = logging.getLogger(__name__)

BAR = timedelta(minutes=1)
DB_ERRORS = (OperationalError, InterfaceError)


class LiveTradingRefused(RuntimeError):
    """LIVE mode was asked for but one of its conditions is not met (the message lists them)."""


# --- configuration -------------------------------------------------------------------------------------


def _hhmm(value: str, default: time) -> time:
    try:
        hh, mm = str(value).split(":")
        return time(int(hh), int(mm))
    except (ValueError, TypeError):
        return default


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


def risk_config() -> risk.RiskConfig:
    """The desk's risk rules from settings (``RISK_PER_TRADE``, ``STOP_LOSS_PCT``, ``SQUARE_OFF_AT``...)."""
    return risk.RiskConfig(
        capital=Decimal(str(_setting("TRADING_CAPITAL", 500000))),
        risk_per_trade=float(_setting("RISK_PER_TRADE", 0.01)),
        max_lots=int(_setting("RISK_MAX_LOTS", 20)),
        stop_loss_pct=float(_setting("STOP_LOSS_PCT", 0.30)),
        target_pct=float(_setting("TARGET_PCT", 0.60)),
        trail_pct=float(_setting("TRAIL_PCT", 0.20)),
        trail_activation_pct=float(_setting("TRAIL_ACTIVATION_PCT", 0.20)),
        vix_reference=float(_setting("VIX_REFERENCE", 15.0)),
        entry_start=_hhmm(_setting("ENTRY_START", "09:20"), time(9, 20)),
        no_entry_after=_hhmm(_setting("NO_ENTRY_AFTER", "14:45"), time(14, 45)),
        square_off_at=_hhmm(_setting("SQUARE_OFF_AT", "15:15"), time(15, 15)),
        max_open_positions=int(_setting("MAX_OPEN_POSITIONS", 5)),
        daily_loss_limit=Decimal(str(_setting("DAILY_LOSS_LIMIT", 10000))),
        max_consecutive_losses=int(_setting("MAX_CONSECUTIVE_LOSSES", 4)),
    )


def trading_mode() -> str:
    """PAPER or LIVE (``settings.TRADING_MODE``)."""
    return str(_setting("TRADING_MODE", "PAPER")).upper()


def engine_config(
    index: str | None = None, *, mode: str | None = None, data_source: str = "SIM", position_prefix: str = ""
) -> EngineConfig:
    """The engine configuration of one desk, from settings."""
    return EngineConfig(
        index=(index or _setting("TRADING_INDEX", "NIFTY")).upper(),
        mode=(mode or trading_mode()).upper(),
        data_source=data_source,
        risk=risk_config(),
        contract=orders.ContractRule(
            expiry=str(_setting("CONTRACT_EXPIRY", "nearest_weekly")),
            strike=str(_setting("CONTRACT_STRIKE", "ATM")).upper(),
            otm_steps=int(_setting("CONTRACT_OTM_STEPS", 1)),
            target_delta=float(_setting("CONTRACT_TARGET_DELTA", 0.5)),
        ),
        order_type=str(_setting("ORDER_TYPE", "MARKET")).upper(),
        brokerage_per_order=Decimal(str(_setting("BROKERAGE_PER_ORDER", "20"))),
        position_prefix=position_prefix,
    )


def strategy_slots(index: str) -> tuple[dict[str, StrategySlot], list[tuple[str, dict]]]:
    """The index's strategies in registry order: their slots (enabled or not) and the (name, params)
    pairs of the enabled ones, from ``StrategyConfig`` rows (created with defaults when missing)."""
    from trading.core.strategies import registry

    rows = {c.name: c for c in StrategyConfig.objects.filter(index=index)}
    if not rows:
        try:
            from trading.strategy_services import ensure_strategy_configs

            ensure_strategy_configs()
        except ImportError:  # pragma: no cover - the strategies' services are always there
            for s in registry.all_strategies():
                StrategyConfig.objects.get_or_create(
                    name=s.name, defaults={"index": index, "cooldown_minutes": s.cooldown_minutes}
                )
        rows = {c.name: c for c in StrategyConfig.objects.filter(index=index)}
    slots: dict[str, StrategySlot] = {}
    pairs: list[tuple[str, dict]] = []
    for name in registry.names():
        cfg = rows.get(name)
        if cfg is None:
            continue
        slots[name] = StrategySlot(
            name=name,
            enabled=cfg.enabled,
            capital_allocation=Decimal(cfg.capital_allocation),
            max_open_positions=cfg.max_open_positions,
            cooldown_minutes=cfg.cooldown_minutes,
        )
        if cfg.enabled:
            pairs.append((name, dict(cfg.parameters or {})))
    return slots, pairs


def default_broker(mode: str | None = None, **kwargs: Any):
    """The broker of the mode: ``settings.TRADING_BROKER``, else paper (PAPER) or kite (LIVE)."""
    from trading.brokers.registry import get_broker

    name = _setting("TRADING_BROKER", "") or ("kite" if (mode or trading_mode()) == "LIVE" else "paper")
    return get_broker(name, **kwargs)


# --- orders ---------------------------------------------------------------------------------------------


def _instrument(option_type: str) -> str:
    return "CALL" if option_type in ("CE", "CALL") else "PUT"


def _option_type(instrument_type: str) -> str:
    return contracts.CALL if instrument_type in ("CALL", "CE") else contracts.PUT


def order_transition(
    *,
    order: Order,
    to_status: str,
    at: datetime,
    reason: str = "",
    filled_quantity: int | None = None,
    average_price: Decimal | None = None,
    broker_order_id: str | None = None,
) -> OrderEvent:
    """Move ``order`` one legal step of the state machine and store the event (time, reason, fills).

    Raises ``orders.IllegalTransition`` (nothing written) for an edge the machine does not have.
    """
    orders.check_transition(order.status, to_status)
    event = OrderEvent(
        order=order,
        from_status=order.status,
        to_status=to_status,
        at=at,
        reason=(reason or "")[:200],
        filled_quantity=filled_quantity if filled_quantity is not None else order.filled_quantity,
        price=average_price,
    )
    order.status = to_status
    order.status_reason = (reason or "")[:120]
    if filled_quantity is not None:
        order.filled_quantity = filled_quantity
    if average_price is not None:
        order.average_price = average_price
    if broker_order_id:
        order.broker_order_id = broker_order_id
    if to_status == OrderStatus.FILLED and order.filled_at is None:
        order.filled_at = at
    # No savepoint: inside the caller's transaction (order_sync) a failure fails it all.
    with transaction.atomic(savepoint=False):
        order.save()
        event.save()
    return event


def order_create(
    *,
    record: OrderRecord,
    mode: str,
    broker_name: str,
    parent: Order | None = None,
    signal: Signal | None = None,
) -> Order:
    """The order row of ``record`` (status NEW, with its creation event); the existing one if the
    client order id is already stored - submitting twice never makes two orders."""
    req = record.request
    existing = Order.objects.filter(client_order_id=req.client_order_id).first()
    if existing is not None:
        return existing
    position = Position.objects.filter(position_id=record.position_id).first() if record.position_id else None
    order = Order(
        client_order_id=req.client_order_id,
        parent=parent,
        broker=broker_name,
        mode=mode,
        strategy_name=record.strategy,
        signal=signal,
        position=position,
        position_ref=record.position_id,
        purpose=record.purpose,
        exit_type=record.exit_type,
        index=req.index,
        tradingsymbol=req.tradingsymbol,
        exchange=req.exchange,
        instrument_type=_instrument(req.option_type),
        strike_price=Decimal(str(req.strike)),
        expiry_date=req.expiry,
        transaction_type=req.transaction_type,
        order_type=req.order_type,
        quantity=req.quantity,
        price=req.price,
        status=OrderStatus.NEW,
        status_reason="created",
        created_at=record.created_at or req.created_at or timezone.now(),
    )
    from django.db import IntegrityError

    try:
        with transaction.atomic():
            order.save()
            OrderEvent.objects.create(
                order=order, from_status="", to_status=OrderStatus.NEW, at=order.created_at, reason="created"
            )
    except IntegrityError:
        # A concurrent run stored the same client order id first: theirs is the order.
        return Order.objects.get(client_order_id=req.client_order_id)
    return order


def order_sync(*, record: OrderRecord, mode: str, broker_name: str, parent: Order | None = None) -> Order:
    """Bring the stored order (and its freeze-quantity children) to the state in ``record``, through
    legal transitions from what is stored; idempotent."""
    order = order_create(record=record, mode=mode, broker_name=broker_name, parent=parent)
    at = record.transitions[-1].at if record.transitions else (record.created_at or timezone.now())
    target = record.status
    if target != order.status or (
        target == OrderStatus.PARTIALLY_FILLED and record.filled_quantity > order.filled_quantity
    ):
        try:
            path = orders.transition_path(order.status, target, record.reason)
        except orders.IllegalTransition as exc:
            log.warning("order %s: %s (kept %s)", order.client_order_id, exc, order.status)
            path = []
        for i, step in enumerate(path):
            last = i == len(path) - 1
            order_transition(
                order=order,
                to_status=step,
                at=(record.filled_at if last and step == OrderStatus.FILLED and record.filled_at else at),
                reason=record.reason if last else "sent to broker",
                filled_quantity=record.filled_quantity if last else None,
                average_price=record.average_price if last else None,
                broker_order_id=record.broker_order_id or None,
            )
    elif record.broker_order_id and not order.broker_order_id:
        order.broker_order_id = record.broker_order_id
        order.save(update_fields=["broker_order_id", "updated_at"])
    for child in record.children:
        order_sync(record=child, mode=mode, broker_name=broker_name, parent=order)
    return order


def broker_order_of(order: Order):
    """The stored order as a ``BrokerOrder`` (what the broker said last), children included."""
    from trading.brokers.base import BrokerOrder

    children = [broker_order_of(c) for c in order.children.all().order_by("id")]
    fills = []
    if order.filled_quantity and order.average_price is not None:
        fills = [(order.filled_quantity, Decimal(order.average_price), order.filled_at or order.updated_at)]
    return BrokerOrder(
        client_order_id=order.client_order_id,
        broker_order_id=order.broker_order_id,
        status=order.status,
        filled_quantity=order.filled_quantity,
        average_price=Decimal(order.average_price) if order.average_price is not None else None,
        fills=fills,
        reason=order.status_reason if order.status == OrderStatus.REJECTED else "",
        children=children,
        quantity=order.quantity,
        price=order.price,
        updated_at=order.filled_at or order.updated_at,
    )


def order_request_of(order: Order):
    """The ``OrderRequest`` a stored order was placed with."""
    from trading.brokers.base import OrderRequest

    return OrderRequest(
        client_order_id=order.client_order_id,
        index=order.index,
        tradingsymbol=order.tradingsymbol,
        exchange=order.exchange,
        option_type=_option_type(order.instrument_type),
        strike=Decimal(order.strike_price),
        expiry=order.expiry_date,
        transaction_type=order.transaction_type,
        quantity=order.quantity,
        order_type=order.order_type,
        price=order.price,
        created_at=order.created_at,
    )


# --- signals ---------------------------------------------------------------------------------------------


def signal_upsert(*, outcome: engine.SignalOutcome, index: str, mode: str) -> Signal:
    """Store a signal with what the engine did with it (ACCEPTED, or REJECTED with its reason),
    through ``strategy_services.signal_record``.

    Keyed by (strategy, index, bar, direction, mode). A signal first stored ACCEPTED (ahead of its
    order) and then refused by the broker is updated to REJECTED with the broker's reason.
    """
    from trading.strategy_services import signal_record

    sig = outcome.signal
    status = SignalStatus.ACCEPTED if outcome.accepted else SignalStatus.REJECTED
    obj = signal_record(
        strategy_name=sig.strategy,
        bar_time=outcome.bar_time,
        direction=sig.direction,
        strength=sig.strength,
        reason=sig.reason,
        features=outcome.features or {},
        status=status,
        reject_reason=outcome.reject_reason[:64],
        reject_detail=outcome.reject_detail,
        index=index,
        mode=mode,
    )
    if obj.status != status or obj.reject_reason != outcome.reject_reason[:64]:
        obj.status = status
        obj.reject_reason = outcome.reject_reason[:64]
        obj.reject_detail = outcome.reject_detail
        obj.save(update_fields=["status", "reject_reason", "reject_detail"])
    return obj


# --- test hook ---------------------------------------------------------------------------------------------


def _pause_point(name: str) -> None:
    """Block here while ``DESK_TEST_PAUSE_FILE`` exists, when ``DESK_TEST_PAUSE_AT`` names this point.

    Lets the recovery tests kill a worker at a known moment (after an order was stored, after the
    broker answered); it does nothing unless both variables are set.
    """
    if os.environ.get("DESK_TEST_PAUSE_AT") != name:
        return
    flag = os.environ.get("DESK_TEST_PAUSE_FILE", "")
    if not flag or not os.path.exists(flag):
        return
    with open(flag + ".reached", "a") as fh:
        fh.write(f"{os.getpid()}\n")
    deadline = _time.monotonic() + 120
    while os.path.exists(flag) and _time.monotonic() < deadline:
        _time.sleep(0.05)


# --- the engine's order hooks: write ahead of the broker ------------------------------------------------------


class _DbOrderHooks(engine.OrderHooks):
    def __init__(self, desk: Desk) -> None:
        self.desk = desk

    def before_submit(self, record: OrderRecord):
        if not self.desk.db_ok:
            return None
        try:
            order = Order.objects.filter(client_order_id=record.request.client_order_id).first()
            if order is not None and orders.is_terminal(order.status):
                # Already sent and answered (a re-run after a crash): the stored answer, not a resend.
                return broker_order_of(order)
            if order is None:
                # One commit for the signal and its order, before anything is sent.
                with transaction.atomic():
                    self._create(record)
        except DB_ERRORS as exc:
            self.desk.database_lost(exc)
            return None
        _pause_point("order_created")
        return None

    def _create(self, record: OrderRecord) -> None:
        signal = None
        if record.purpose == orders.ENTRY and record.signal is not None:
            signal = signal_upsert(
                outcome=engine.SignalOutcome(
                    signal=record.signal,
                    bar_time=record.signal_bar_time,
                    accepted=True,
                    client_order_id=record.request.client_order_id,
                    features=record.features or {},
                ),
                index=self.desk.index,
                mode=self.desk.mode,
            )
        order_create(record=record, mode=self.desk.mode, broker_name=self.desk.broker_name, signal=signal)

    def after_broker(self, record: OrderRecord) -> None:
        if not self.desk.db_ok:
            return
        try:
            with transaction.atomic():  # every transition of this answer in one commit
                order_sync(record=record, mode=self.desk.mode, broker_name=self.desk.broker_name)
        except DB_ERRORS as exc:
            self.desk.database_lost(exc)
            return
        _pause_point("after_broker")


# --- state from the database -----------------------------------------------------------------------------------


def _trading_state(index: str) -> TradingState:
    ts, _ = TradingState.objects.get_or_create(index=index)
    return ts


def rebuild_risk_state(
    index: str, mode: str, session: date, ts: TradingState | None = None
) -> risk.RiskState:
    """Today's risk figures from the journal: net P&L and the run of losses (since the last breaker
    reset today), the breaker and the kill switch from ``TradingState``."""
    ts = ts or _trading_state(index)
    trades = Trade.objects.filter(symbol=index, entry_mode=mode, trade_date=session)
    reset = (
        ControlAudit.objects.filter(
            index=index, action="circuit_breaker_reset", at__date__gte=session - timedelta(days=1)
        )
        .order_by("-at")
        .values_list("at", flat=True)
        .first()
    )
    if reset is not None:
        trades = trades.filter(created_at__gt=reset)
    nets = list(trades.order_by("exit_time", "id").values_list("net_pnl", flat=True))
    consecutive = 0
    for net in reversed(nets):
        if net > 0:
            break
        consecutive += 1
    breaker = bool(ts.circuit_breaker and ts.circuit_breaker_session == session)
    return risk.RiskState(
        session=session,
        realised_pnl=sum(nets, Decimal(0)),
        consecutive_losses=consecutive,
        trades_today=len(nets),
        circuit_breaker=breaker,
        breaker_reason=ts.circuit_breaker_reason if breaker else "",
        breaker_session=ts.circuit_breaker_session if breaker else None,
        kill_switch=ts.kill_switch,
    )


def _dec_or_none(value) -> Decimal | None:
    return Decimal(value) if value is not None else None


def _open_position_of(p: Position) -> OpenPosition:
    ec = dict(p.entry_context or {})
    eng = ec.get("engine", {})
    signal_bar = eng.get("signal_bar_time")
    pos = OpenPosition(
        position_id=p.position_id,
        strategy=p.strategy_name,
        index=p.index,
        tradingsymbol=p.tradingsymbol,
        exchange=p.exchange,
        option_type=_option_type(p.instrument_type),
        strike=float(p.strike_price),
        expiry=p.expiry_date,
        quantity=p.quantity,
        lot_size=int(eng.get("lot_size") or contracts.lot_size(p.index, p.expiry_date)),
        entry_price=Decimal(p.entry_price),
        entry_time=p.entry_time,
        stop=Decimal(p.stop_loss_price),
        target=Decimal(p.target_price),
        trail_fraction=float(eng.get("trail_fraction", 0.2)),
        trail_activation=Decimal(str(eng.get("trail_activation", p.entry_price))),
        trail=_dec_or_none(p.trail_price),
        high_water=_dec_or_none(p.high_water),
        low_water=_dec_or_none(p.low_water),
        last_price=_dec_or_none(p.last_price),
        entry_order_id=eng.get("entry_order_id", ""),
        entry_orders=int(eng.get("entry_orders", 1)),
        signal_bar_time=datetime.fromisoformat(signal_bar) if signal_bar else None,
        signal_direction=eng.get("signal_direction", ""),
        signal_strength=eng.get("signal_strength"),
        signal_reason=eng.get("signal_reason", ""),
        entry_context={k: v for k, v in ec.items() if k != "engine"},
    )
    # Exits that filled in part and were then cancelled (the rest is still open).
    for o in p.orders.filter(
        purpose=orders.EXIT,
        status__in=[OrderStatus.CANCELLED, OrderStatus.EXPIRED],
        filled_quantity__gt=0,
        parent__isnull=True,
    ):
        pos.exit_fills.append((o.filled_quantity, Decimal(o.average_price), o.filled_at or o.updated_at))
        pos.exit_orders += 1
    return pos


def load_state(index: str, mode: str, *, at: datetime) -> EngineState:
    """The engine state of ``index`` in ``mode`` from the database: open positions, orders in flight
    (and filled ones whose effect was not stored yet: a crash between the two), risk figures and
    the strategies' last accepted signals."""
    session = market_calendar.ist_date(at)
    ts = _trading_state(index)
    state = EngineState(index=index)
    state.risk = rebuild_risk_state(index, mode, session, ts)
    state.last_bar_time = ts.last_bar_time
    open_rows = list(Position.objects.filter(index=index, mode=mode, status=PositionStatus.OPEN))
    for p in open_rows:
        state.positions[p.position_id] = _open_position_of(p)
    live = Order.objects.filter(
        index=index, mode=mode, parent__isnull=True, status__in=list(orders.LIVE_STATES)
    )
    unapplied_entries = Order.objects.filter(
        index=index,
        mode=mode,
        parent__isnull=True,
        purpose=orders.ENTRY,
        filled_quantity__gt=0,
        position__isnull=True,
        status__in=[OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.EXPIRED],
    )
    unapplied_exits = Order.objects.filter(
        index=index,
        mode=mode,
        parent__isnull=True,
        purpose=orders.EXIT,
        status=OrderStatus.FILLED,
        position_ref__in=list(state.positions),
    )
    for o in [*live, *unapplied_entries, *unapplied_exits]:
        if o.purpose == orders.ENTRY and o.position_ref in state.positions:
            continue
        if o.purpose == orders.ENTRY and Position.objects.filter(position_id=o.position_ref).exists():
            continue
        sig = o.signal
        sig_input = SignalInput(sig.strategy_name, sig.direction, sig.strength, sig.reason) if sig else None
        state.pending[o.client_order_id] = PendingOrder(
            request=order_request_of(o),
            purpose=o.purpose,
            strategy=o.strategy_name,
            position_id=o.position_ref,
            status=o.status,
            created_at=o.created_at,
            filled_quantity=o.filled_quantity,
            signal=sig_input,
            signal_bar_time=sig.bar_time if sig else None,
            plan={"position_id": o.position_ref},
            exit_type=o.exit_type or ("SQUARE_OFF" if o.purpose == orders.EXIT else ""),
            exit_reason=o.status_reason,
            known=broker_order_of(o) if orders.is_terminal(o.status) else None,
        )
    for row in (
        Signal.objects.filter(index=index, mode=mode, status=SignalStatus.ACCEPTED, bar_time__lte=at)
        .values("strategy_name")
        .annotate(last=Max("bar_time"))
    ):
        state.last_signal_at[row["strategy_name"]] = row["last"]
    return state


# --- persisting a cycle ---------------------------------------------------------------------------------------


def _engine_context(pos: OpenPosition) -> dict:
    return {
        "entry_order_id": pos.entry_order_id,
        "entry_orders": pos.entry_orders,
        "lot_size": pos.lot_size,
        "trail_fraction": pos.trail_fraction,
        "trail_activation": str(pos.trail_activation),
        "signal_bar_time": pos.signal_bar_time.isoformat() if pos.signal_bar_time else None,
        "signal_direction": pos.signal_direction,
        "signal_strength": pos.signal_strength,
        "signal_reason": pos.signal_reason,
    }


def position_open(
    *, pos: OpenPosition, mode: str, data_source: str, signal: Signal | None = None
) -> Position:
    """Store a newly opened position (once: keyed by ``position_id``) and link its entry order."""
    row, created = Position.objects.get_or_create(
        position_id=pos.position_id,
        defaults=dict(
            strategy_name=pos.strategy,
            mode=mode,
            data_source=data_source,
            index=pos.index,
            tradingsymbol=pos.tradingsymbol,
            exchange=pos.exchange,
            instrument_type=_instrument(pos.option_type),
            strike_price=Decimal(str(pos.strike)),
            expiry_date=pos.expiry,
            side="LONG",
            quantity=pos.quantity,
            entry_price=pos.entry_price,
            entry_time=pos.entry_time,
            stop_loss_price=pos.stop,
            target_price=pos.target,
            trail_price=pos.trail,
            last_price=pos.last_price,
            high_water=pos.high_water,
            low_water=pos.low_water,
            status=PositionStatus.OPEN,
            signal=signal,
            entry_context={
                **engine.json_safe({k: v for k, v in pos.entry_context.items() if k != "features"}),
                "features": pos.entry_context.get("features", {}),
                "engine": _engine_context(pos),
            },
        ),
    )
    Order.objects.filter(position_ref=pos.position_id, position__isnull=True).update(position=row)
    return row


def position_mark(pos: OpenPosition) -> None:
    """Store a position's latest marks (last price, high/low water, trailing stop)."""
    Position.objects.filter(position_id=pos.position_id, status=PositionStatus.OPEN).update(
        last_price=pos.last_price,
        high_water=pos.high_water,
        low_water=pos.low_water,
        trail_price=pos.trail,
        updated_at=timezone.now(),
    )


def position_close(*, closed: engine.ClosedTrade, signal_id: int | None = None) -> Trade | None:
    """Close the stored position and write its journal trade (``record_trade``: exactly once)."""
    pos = closed.position
    Position.objects.filter(position_id=pos.position_id).update(
        status=PositionStatus.CLOSED,
        exit_time=closed.exit_time,
        last_price=closed.exit_price,
        high_water=pos.high_water,
        low_water=pos.low_water,
        trail_price=pos.trail,
        quantity=pos.quantity,
        updated_at=timezone.now(),
    )
    row = Position.objects.filter(position_id=pos.position_id).first()
    if row is not None:
        Order.objects.filter(position_ref=pos.position_id, position__isnull=True).update(position=row)
        signal_id = signal_id or row.signal_id
    facts = dict(closed.trade)
    if signal_id:
        facts["signal_id"] = signal_id
    try:
        return journal_services.record_trade(**facts)
    except ValidationError:
        # Bad facts are a bug, not a reason to lose the close: the position stays closed, the
        # orders stay stored, and the log says which trade is missing.
        log.exception("trade %s refused by the journal", pos.position_id)
        return None


def _spool_close(
    closed: engine.ClosedTrade, records: list[OrderRecord], *, mode: str, broker_name: str
) -> None:
    """The database is unreachable: spool the position close (with its exit orders), then the trade."""
    pos = closed.position
    payload = {
        "position_id": pos.position_id,
        "exit_time": closed.exit_time,
        "exit_price": closed.exit_price,
        "mode": mode,
        "broker": broker_name,
        "orders": [_record_payload(r) for r in records if r.position_id == pos.position_id],
    }
    spool.append("position_close", pos.position_id, payload)
    journal_services.record_trade(**closed.trade)


def _record_payload(rec: OrderRecord) -> dict:
    req = rec.request
    return {
        "client_order_id": req.client_order_id,
        "purpose": rec.purpose,
        "exit_type": rec.exit_type,
        "strategy": rec.strategy,
        "position_id": rec.position_id,
        "status": rec.status,
        "reason": rec.reason,
        "broker_order_id": rec.broker_order_id,
        "filled_quantity": rec.filled_quantity,
        "average_price": rec.average_price,
        "created_at": rec.created_at,
        "filled_at": rec.filled_at,
        "request": {
            "index": req.index,
            "tradingsymbol": req.tradingsymbol,
            "exchange": req.exchange,
            "option_type": req.option_type,
            "strike": req.strike,
            "expiry": req.expiry,
            "transaction_type": req.transaction_type,
            "quantity": req.quantity,
            "order_type": req.order_type,
            "price": req.price,
        },
        "children": [_record_payload(c) for c in rec.children],
    }


def _record_from_payload(data: dict) -> OrderRecord:
    from django.utils.dateparse import parse_date, parse_datetime

    from trading.brokers.base import OrderRequest

    r = data["request"]
    created = parse_datetime(data["created_at"]) if data.get("created_at") else None
    req = OrderRequest(
        client_order_id=data["client_order_id"],
        index=r["index"],
        tradingsymbol=r["tradingsymbol"],
        exchange=r["exchange"],
        option_type=r["option_type"],
        strike=Decimal(str(r["strike"])),
        expiry=parse_date(r["expiry"]),
        transaction_type=r["transaction_type"],
        quantity=int(r["quantity"]),
        order_type=r["order_type"],
        price=Decimal(r["price"]) if r.get("price") else None,
        created_at=created,
    )
    return OrderRecord(
        request=req,
        purpose=data["purpose"],
        exit_type=data.get("exit_type", ""),
        strategy=data["strategy"],
        position_id=data["position_id"],
        status=data["status"],
        reason=data.get("reason", ""),
        broker_order_id=data.get("broker_order_id", ""),
        filled_quantity=int(data.get("filled_quantity") or 0),
        average_price=Decimal(data["average_price"]) if data.get("average_price") else None,
        created_at=created,
        filled_at=parse_datetime(data["filled_at"]) if data.get("filled_at") else None,
        children=[_record_from_payload(c) for c in data.get("children", [])],
    )


def _replay_position_close(payload: dict) -> None:
    """Spool handler: store the exit orders and close the position (idempotent)."""
    from django.utils.dateparse import parse_datetime

    for data in payload.get("orders", []):
        order_sync(
            record=_record_from_payload(data),
            mode=payload.get("mode", "PAPER"),
            broker_name=payload.get("broker", "paper"),
        )
    exit_time = parse_datetime(payload["exit_time"])
    Position.objects.filter(position_id=payload["position_id"], status=PositionStatus.OPEN).update(
        status=PositionStatus.CLOSED,
        exit_time=exit_time,
        last_price=Decimal(str(payload["exit_price"])),
        updated_at=timezone.now(),
    )
    row = Position.objects.filter(position_id=payload["position_id"]).first()
    if row is not None:
        Order.objects.filter(position_ref=row.position_id, position__isnull=True).update(position=row)


spool.register("position_close", _replay_position_close)


def snapshot_record(*, bar: MarketBar, row: dict | None, source: str) -> None:
    """The bar as the index's latest market view, for the chain page and metrics
    (``market_services.snapshot_store``: every expiry, per strike and side)."""
    from trading.market_services import snapshot_store

    snapshot_store(bar, source, keep_days=7)


def persist_cycle(
    result: CycleResult,
    *,
    desk: Desk,
    row: dict | None,
    bar: MarketBar,
    advance: bool = True,
    seen: datetime | None = None,
    snapshot: bool = True,
) -> datetime | None:
    """Store what a cycle decided: signals, orders, opened/marked/closed positions, trades, the
    circuit breaker and (``advance``) the last bar processed - in one short transaction.

    Returns the ``TradingState.updated_at`` it wrote when the row still had the stamp ``seen`` (no
    one else wrote it since the desk read it), else None: the desk then reloads its state.
    """
    index, mode = desk.index, desk.mode
    with transaction.atomic():
        signals: dict[tuple, Signal] = {}
        for outcome in result.signals:
            s = signal_upsert(outcome=outcome, index=index, mode=mode)
            signals[(outcome.signal.strategy, outcome.bar_time, outcome.signal.direction)] = s
            if outcome.client_order_id:
                Order.objects.filter(client_order_id=outcome.client_order_id, signal__isnull=True).update(
                    signal=s
                )
        for rec in result.orders:
            order_sync(record=rec, mode=mode, broker_name=desk.broker_name)
        for pos in result.opened:
            sig = signals.get((pos.strategy, pos.signal_bar_time, pos.signal_direction))
            if sig is None and pos.signal_bar_time is not None:
                sig = Signal.objects.filter(
                    strategy_name=pos.strategy,
                    index=index,
                    bar_time=pos.signal_bar_time,
                    direction=pos.signal_direction,
                    mode=mode,
                ).first()
            position_open(pos=pos, mode=mode, data_source=desk.data_source, signal=sig)
        closed_ids = {c.position.position_id for c in result.closed}
        for pos in result.marked:
            if pos.position_id not in closed_ids:
                position_mark(pos)
        for closed in result.closed:
            position_close(closed=closed)
        stamp = timezone.now()
        fields: dict[str, Any] = {"last_cycle_at": stamp, "updated_at": stamp}
        if result.breaker_tripped:
            fields.update(
                circuit_breaker=True,
                circuit_breaker_reason=result.breaker_tripped[:200],
                circuit_breaker_session=market_calendar.ist_date(result.at),
            )
            ControlAudit.objects.create(
                index=index,
                action="circuit_breaker_trip",
                old_value="off",
                new_value="on",
                detail=result.breaker_tripped,
            )
        if advance and (desk.last_bar_time is None or bar.time > desk.last_bar_time):
            fields["last_bar_time"] = bar.time
        # Compare-and-set on the stamp the desk read: a control action written meanwhile (kill
        # switch, breaker reset) is never overwritten unseen - the desk reloads instead.
        written = 0
        if seen is not None:
            written = TradingState.objects.filter(index=index, updated_at=seen).update(**fields)
        if not written:
            TradingState.objects.filter(index=index).update(**fields)
    if snapshot:
        try:
            snapshot_record(bar=bar, row=row, source=desk.data_source)
        except DB_ERRORS:
            raise
        except Exception:  # noqa: BLE001 - the market view is for pages: it must never undo a cycle
            log.exception("market snapshot of %s not stored", bar.time)
    return stamp if written else None


# --- the cycle lock --------------------------------------------------------------------------------------------

_process_locks: dict[str, threading.Lock] = {}
_process_locks_guard = threading.Lock()


class CycleBusy(RuntimeError):
    """Another cycle of the same index holds its lock beyond the wait."""


def _advisory_key(index: str) -> int:
    import zlib

    return zlib.crc32(f"desk-cycle-{index}".encode()) & 0x7FFFFFFF


@contextmanager
def cycle_lock(index: str, timeout: float | None = None):
    """One cycle of an index at a time, across processes and hosts.

    PostgreSQL: a session advisory lock - it dies with the connection, so a worker killed mid-cycle
    frees it at once and the redelivered task can proceed. Otherwise a Redis lock with an expiry
    (``REDIS_URL``), else a lock of this process (the embedded runtrader is the only trader).
    """
    timeout = float(timeout if timeout is not None else _setting("CYCLE_LOCK_TIMEOUT", 30))
    with _process_locks_guard:
        local = _process_locks.setdefault(index, threading.Lock())
    if not local.acquire(timeout=timeout):
        raise CycleBusy(f"cycle of {index} busy in this process")
    try:
        if connection.vendor == "postgresql":
            key = _advisory_key(index)
            got = False
            try:
                deadline = _time.monotonic() + timeout
                with connection.cursor() as cur:
                    while True:
                        cur.execute("SELECT pg_try_advisory_lock(%s)", [key])
                        got = bool(cur.fetchone()[0])
                        if got or _time.monotonic() > deadline:
                            break
                        _time.sleep(0.1)
            except DB_ERRORS:
                got = None  # database down: the cycle runs exits only, on this process's lock
            if got is False:
                raise CycleBusy(f"cycle of {index} busy elsewhere")
            try:
                yield
            finally:
                if got:
                    try:
                        with connection.cursor() as cur:
                            cur.execute("SELECT pg_advisory_unlock(%s)", [key])
                    except DB_ERRORS:
                        pass
        elif _setting("REDIS_URL", ""):
            import redis

            client = redis.Redis.from_url(settings.REDIS_URL)
            lock = client.lock(f"desk:cycle:{index}", timeout=max(timeout, 10), blocking_timeout=timeout)
            if not lock.acquire():
                raise CycleBusy(f"cycle of {index} busy elsewhere")
            try:
                yield
            finally:
                try:
                    lock.release()
                except Exception:  # noqa: BLE001 - expired: nothing to release
                    pass
        else:
            yield
    finally:
        local.release()


# --- the desk: one index's loop in this process ------------------------------------------------------------------


@dataclass
class CycleReport:
    """What one ``run_cycle`` did (for the loop's progress line, tasks and tests)."""

    index: str
    bar_time: datetime | None
    skipped: str = ""
    signals: int = 0
    accepted: int = 0
    orders: int = 0
    opened: int = 0
    closed: int = 0
    open_positions: int = 0
    net_pnl: Decimal = Decimal(0)
    breaker: str = ""
    db_available: bool = True
    spooled: int = 0
    result: CycleResult | None = field(default=None, repr=False)


def source_from_settings(index: str):
    """The market of the distributed path: the simulated one (``SIM_SEED`` from ``SIM_START``) when
    ``MARKET_FEED`` is sim, else the configured feed (replay, kite)."""
    if str(_setting("MARKET_FEED", "sim")).lower() == "sim":
        start = date.fromisoformat(str(_setting("SIM_START", "2025-01-01")))
        return SimSource(index=index, seed=int(_setting("SIM_SEED", 7)), start=start)
    from trading.core.live import FeedSource
    from trading.marketdata.registry import feed_from_settings

    return FeedSource(feed_from_settings(index=index))


class Desk:
    """One index's trading in this process: the market source, the live features and signals, the
    broker, and the engine state last seen (what the engine trades on while the database is away)."""

    RELOAD_EVERY = 30

    def __init__(
        self, index: str | None = None, *, mode: str | None = None, source=None, broker=None
    ) -> None:
        self.index = (index or _setting("TRADING_INDEX", "NIFTY")).upper()
        self.mode = (mode or trading_mode()).upper()
        if self.mode == "LIVE":
            ensure_live_allowed(self.index)
        self.source = source or source_from_settings(self.index)
        self.data_source = getattr(self.source, "source", "SIM")
        self.live = LiveSignals(self.source, warmup_sessions=int(_setting("FEATURE_WARMUP_SESSIONS", 5)))
        self.broker = broker or default_broker(self.mode)
        self.broker_name = getattr(self.broker, "name", "paper") or "paper"
        self.config = engine_config(self.index, mode=self.mode, data_source=self.data_source)
        self.state: EngineState | None = None
        self.slots: dict[str, StrategySlot] = {}
        self.pairs: list[tuple[str, dict]] = []
        self.db_ok = True
        self._restored = False
        self._seen_stamp: datetime | None = None  # TradingState.updated_at after our last good cycle
        self._last_row: dict | None = None
        self._last_snapshot = float("-inf")
        self._stages: dict[str, float] = {}
        self._since_load = 0
        self.last_bar_time: datetime | None = None

    # --- database health ---
    def database_lost(self, exc: BaseException) -> None:
        if self.db_ok:
            log.error("database unreachable (%s): exits only, closes spooled", exc)
            metrics.system_error("database", "critical")
        self.db_ok = False
        self._seen_stamp = None
        try:
            connection.close()
        except Exception:  # noqa: BLE001 - already gone
            pass

    def restore_broker_book(self) -> int:
        """Put this desk's stored orders back into a paper broker's book (after a restart), so that
        its idempotency on client order ids spans restarts. Returns how many were restored."""
        restore = getattr(self.broker, "restore", None)
        if restore is None:
            return 0
        n = 0
        since = timezone.now() - timedelta(days=400)
        qs = Order.objects.filter(
            index=self.index, mode=self.mode, broker=self.broker_name, updated_at__gte=since
        )
        for o in qs.select_related("parent").order_by("id"):
            try:
                restore(order_request_of(o), broker_order_of(o), o.parent.client_order_id if o.parent else "")
                n += 1
            except Exception as exc:  # noqa: BLE001 - one bad row must not stop the others
                log.warning("could not restore order %s into the broker: %s", o.client_order_id, exc)
        return n

    def _load(self, at: datetime, ts: TradingState | None = None) -> EngineState:
        """The engine state for a cycle at ``at``: kept in memory from the last cycle while nothing
        else wrote to this index (the ``TradingState`` stamp is the one we wrote, same session,
        reloaded every ``RELOAD_EVERY`` cycles anyway), else rebuilt from the database."""
        if not self._restored:
            self.restore_broker_book()
            self._restored = True
        self.slots, self.pairs = strategy_slots(self.index)
        ts = ts or _trading_state(self.index)
        self.last_bar_time = ts.last_bar_time
        cached = self.state
        if (
            cached is not None
            and self._seen_stamp is not None
            and ts.updated_at == self._seen_stamp
            and cached.risk.session == market_calendar.ist_date(at)
            and self._since_load < self.RELOAD_EVERY
        ):
            self._since_load += 1
            return cached
        self._since_load = 0
        return load_state(self.index, self.mode, at=at)

    def cycle(
        self,
        at: datetime | None = None,
        bar: MarketBar | None = None,
        *,
        exits_only: bool = False,
        force_exit: str = "",
    ) -> CycleReport:
        """Run one engine cycle (see ``run_cycle``)."""
        if bar is None:
            at = at or timezone.now()
            with metrics.timed_market_fetch(self.data_source):  # fetch time; a failure counted
                bar = self.source.snapshot(at)
        at = at or bar.time + BAR
        started = _time.perf_counter()
        with cycle_lock(self.index):
            report = self._cycle(at, bar, exits_only=exits_only, force_exit=force_exit)
        self._observe(report, bar, at, _time.perf_counter() - started)
        return report

    def _snapshot_due(self, bar: MarketBar) -> bool:
        """Store the market view at most every ``MARKET_SNAPSHOT_INTERVAL`` wall seconds (default 1),
        and on a session's last bar: every bar when trading in real time, about once a second when
        the simulated loop runs fast (the chain page refreshes no faster)."""
        now = _time.monotonic()
        last_bar = bar.time.astimezone(market_calendar.IST).time() >= time(15, 29)
        if last_bar or now - self._last_snapshot >= float(_setting("MARKET_SNAPSHOT_INTERVAL", 1.0)):
            self._last_snapshot = now
            return True
        return False

    def _observe(self, report: CycleReport, bar: MarketBar, at: datetime, seconds: float) -> None:
        """Move the ``trading_*`` metrics of one cycle (each helper swallows its own errors)."""
        outcome = "skipped" if report.skipped else ("database_down" if not report.db_available else "ok")
        lag = (timezone.now() - at).total_seconds() if self.data_source == "KITE" else None
        metrics.cycle_observed(seconds, lag_seconds=lag, index=self.index, outcome=outcome)
        result = report.result
        if result is None:
            return
        metrics.market_updated(bar, self._last_row, source=self.data_source)
        for stage, secs in self._stages.items():
            metrics.stage_observed(stage, secs)
        for name, secs in getattr(self.live, "__dict__", {}).pop("timings", {}).items():  # this bar only
            metrics.strategy_evaluated(name, secs)
        for sig in result.signals:
            metrics.signal_seen(
                sig.signal.strategy,
                "ACCEPTED" if sig.accepted else "REJECTED",
                sig.reject_reason,
                sig.signal.direction,
            )
        for rec in result.orders:
            if rec.status == orders.FILLED and rec.filled_at and rec.created_at:
                slip = None
                if rec.average_price is not None and rec.request.price is not None:
                    slip = float(abs(rec.average_price - rec.request.price))
                metrics.order_filled(
                    rec.strategy,
                    rec.request.order_type,
                    (rec.filled_at - rec.created_at).total_seconds(),
                    slip,
                )
        for closed in result.closed:
            metrics.exit_triggered(closed.position.strategy, closed.exit_type)
        if result.breaker_tripped:
            metrics.circuit_breaker_tripped(self.index, result.breaker_tripped.split(":")[0])

    def _cycle(self, at: datetime, bar: MarketBar, *, exits_only: bool, force_exit: str) -> CycleReport:
        report = CycleReport(index=self.index, bar_time=bar.time)
        self.db_ok = True
        try:
            if spool.depth() > 0:
                drained = spool.drain()
                if drained.remaining:
                    raise OperationalError(f"spool not drained: {drained.error}")
            ts = _trading_state(self.index)
            if (
                ts.last_bar_time is not None
                and bar.time <= ts.last_bar_time
                and not (force_exit or exits_only)
            ):
                report.skipped = "already processed"
                return report
            state = self._load(at, ts)
            seen, self._seen_stamp = ts.updated_at, None  # trusted again only after a good persist
        except DB_ERRORS as exc:
            self.database_lost(exc)
            if self.state is None:
                report.skipped = "database unreachable and no state in memory"
                report.db_available = False
                return report
            state = self.state
            if (
                state.last_bar_time is not None
                and bar.time <= state.last_bar_time
                and not (force_exit or exits_only)
            ):
                report.skipped = "already processed"
                report.db_available = False
                return report
        state.db_available = self.db_ok
        t0 = _time.perf_counter()
        row = self.live.row(bar)
        t1 = _time.perf_counter()
        signals = self.live.signals(self.pairs) if not (exits_only or force_exit) else []
        t2 = _time.perf_counter()
        self._last_row = row
        if force_exit == risk.KILL_SWITCH:
            state.risk.kill_switch = True
        result = engine.run_cycle(
            at=at,
            bar=bar,
            row=row,
            signals=signals,
            state=state,
            broker=self.broker,
            strategies=self.slots,
            config=self.config,
            entries_allowed=self.db_ok and not exits_only,
            force_exit=force_exit,
            hooks=_DbOrderHooks(self),
        )
        t3 = _time.perf_counter()
        if self.db_ok:
            try:
                self._seen_stamp = persist_cycle(
                    result,
                    desk=self,
                    row=row,
                    bar=bar,
                    advance=not (exits_only or force_exit),
                    seen=seen,
                    snapshot=self._snapshot_due(bar),
                )
            except DB_ERRORS as exc:
                self.database_lost(exc)
        if not self.db_ok:
            for closed in result.closed:
                _spool_close(closed, result.orders, mode=self.mode, broker_name=self.broker_name)
                report.spooled += 1
        self.state = state
        self._stages = {
            "features": t1 - t0,
            "signals": t2 - t1,
            "engine": t3 - t2,
            "persist": _time.perf_counter() - t3,
        }
        report.result = result
        report.db_available = self.db_ok
        report.signals = len(result.signals)
        report.accepted = sum(1 for s in result.signals if s.accepted)
        report.orders = len(result.orders)
        report.opened = len(result.opened)
        report.closed = len(result.closed)
        report.open_positions = len(state.positions)
        report.net_pnl = state.risk.realised_pnl
        report.breaker = result.breaker_tripped
        return report

    def execute_signal(self, signal: Signal) -> CycleReport:
        """Place the entry of a stored ACCEPTED signal that has no order yet (idempotent)."""
        bar = self.source.snapshot(signal.bar_time + BAR)
        at = bar.time + BAR
        report = CycleReport(index=self.index, bar_time=bar.time)
        with cycle_lock(self.index):
            if signal.status != SignalStatus.ACCEPTED or Order.objects.filter(signal=signal).exists():
                report.skipped = "signal not accepted or already executed"
                return report
            self.db_ok = True
            state = self._load(at)
            row = self.live.row(bar)
            sig = SignalInput(signal.strategy_name, signal.direction, signal.strength, signal.reason)
            result = engine.run_cycle(
                at=at,
                bar=bar,
                row=row,
                signals=[sig],
                state=state,
                broker=self.broker,
                strategies=self.slots,
                config=self.config,
                hooks=_DbOrderHooks(self),
                run_exits=False,
            )
            self._seen_stamp = None
            persist_cycle(result, desk=self, row=row, bar=bar, advance=False)
        report.result = result
        report.orders, report.opened = len(result.orders), len(result.opened)
        report.accepted = sum(1 for s in result.signals if s.accepted)
        return report


def signal_execute(signal_id: int) -> CycleReport:
    """Execute a stored ACCEPTED signal whose entry order was never placed (recovery); idempotent."""
    signal = Signal.objects.get(pk=signal_id)
    return desk_for(signal.index, signal.mode).execute_signal(signal)


_desks: dict[tuple[str, str], Desk] = {}
_desks_guard = threading.Lock()


def desk_for(index: str | None = None, mode: str | None = None) -> Desk:
    """This process's desk of ``index`` (created on first use from settings)."""
    key = ((index or _setting("TRADING_INDEX", "NIFTY")).upper(), (mode or trading_mode()).upper())
    with _desks_guard:
        desk = _desks.get(key)
        if desk is None:
            desk = _desks[key] = Desk(key[0], mode=key[1])
        return desk


def set_desk(desk: Desk) -> None:
    """Use ``desk`` for its index and mode in this process (runtrader, tests)."""
    with _desks_guard:
        _desks[(desk.index, desk.mode)] = desk


def reset_desks() -> None:
    """Forget this process's desks (tests)."""
    with _desks_guard:
        _desks.clear()


def last_completed_bar_at(now: datetime) -> datetime | None:
    """The clock time of the last completed bar's end at ``now`` in the session, None outside it."""
    if not market_calendar.is_in_session(now - BAR) and not market_calendar.is_in_session(now):
        return None
    return now.replace(second=0, microsecond=0)


def run_cycle(
    index: str | None = None,
    at: datetime | None = None,
    bar: MarketBar | None = None,
    *,
    exits_only: bool = False,
    force_exit: str = "",
) -> CycleReport:
    """One engine cycle of ``index`` at clock time ``at`` (default: now) on ``bar`` (default: the
    source's last completed bar at ``at``): exits, signals, risk, orders, fills, trades, all stored.

    Idempotent: a bar already processed is skipped, and a cycle interrupted mid-way (a killed worker)
    is completed by running it again - orders are found by their client order id, positions and
    trades by their ids. ``exits_only`` takes no new entries; ``force_exit`` closes every position
    (``SQUARE_OFF``, ``KILL_SWITCH``).
    """
    return desk_for(index).cycle(at=at, bar=bar, exits_only=exits_only, force_exit=force_exit)


def square_off(index: str | None = None, at: datetime | None = None) -> CycleReport:
    """Close every open position of ``index`` now (exit type SQUARE_OFF)."""
    return desk_for(index).cycle(at=at, force_exit=risk.SQUARE_OFF)


def drain_spool() -> spool.DrainResult:
    """Replay spooled close events and trades into the database, in order, each once."""
    return spool.drain()


# --- reconciliation ------------------------------------------------------------------------------------------------


@dataclass
class ReconcileReport:
    """What ``reconcile`` found and did."""

    index: str
    orders_checked: int = 0
    orders_updated: int = 0
    spool_written: int = 0
    open_positions: int = 0
    broker_positions: dict = field(default_factory=dict)
    mismatches: list[str] = field(default_factory=list)
    risk: dict = field(default_factory=dict)


def reconcile(
    index: str | None = None, *, desk: Desk | None = None, at: datetime | None = None
) -> ReconcileReport:
    """Bring stored orders and positions in line with the broker (start-up and periodically).

    Drains the spool first; every order still live in the database is asked of the broker (by client
    order id) and its transitions stored; net positions at the broker are compared with the open
    positions stored (differences are reported and logged, never guessed at); the risk figures are
    rebuilt from the journal.
    """
    desk = desk or desk_for(index)
    at = at or timezone.now()
    report = ReconcileReport(index=desk.index)
    drained = spool.drain()
    report.spool_written = drained.written
    with cycle_lock(desk.index):
        if not desk._restored:
            desk.restore_broker_book()
            desk._restored = True
        live = Order.objects.filter(
            index=desk.index, mode=desk.mode, parent__isnull=True, status__in=list(orders.LIVE_STATES)
        )
        for order in live:
            report.orders_checked += 1
            try:
                bo = desk.broker.order_status(order.client_order_id) or desk.broker.find_by_tag(
                    order.client_order_id
                )
            except Exception as exc:  # noqa: BLE001 - broker away: try again next time
                report.mismatches.append(f"{order.client_order_id}: broker error {exc}")
                continue
            if bo is None:
                continue
            rec = OrderRecord(
                request=order_request_of(order),
                purpose=order.purpose,
                strategy=order.strategy_name,
                position_id=order.position_ref,
                status=order.status,
                created_at=order.created_at,
            )
            engine._record_from_broker(rec, bo, at, current=order.status)
            if rec.status != order.status:
                order_sync(record=rec, mode=desk.mode, broker_name=desk.broker_name)
                report.orders_updated += 1
        stored: dict[str, int] = {}
        for p in Position.objects.filter(index=desk.index, mode=desk.mode, status=PositionStatus.OPEN):
            stored[p.tradingsymbol] = stored.get(p.tradingsymbol, 0) + p.quantity
            report.open_positions += 1
        try:
            at_broker = {
                r["tradingsymbol"]: int(r["quantity"]) for r in desk.broker.positions() if int(r["quantity"])
            }
        except Exception as exc:  # noqa: BLE001
            at_broker = {}
            report.mismatches.append(f"broker positions unavailable: {exc}")
        report.broker_positions = at_broker
        for symbol in sorted(set(stored) | set(at_broker)):
            if stored.get(symbol, 0) != at_broker.get(symbol, 0):
                report.mismatches.append(
                    f"{symbol}: stored open {stored.get(symbol, 0)} vs broker net {at_broker.get(symbol, 0)}"
                )
        for m in report.mismatches:
            log.warning("reconcile %s: %s", desk.index, m)
        metrics.reconciled(
            "mismatch" if report.mismatches else "ok",
            {"orders": report.orders_updated, "positions": len(report.mismatches)},
        )
        rs = rebuild_risk_state(desk.index, desk.mode, market_calendar.ist_date(at))
        report.risk = {
            "realised_pnl": str(rs.realised_pnl),
            "consecutive_losses": rs.consecutive_losses,
            "circuit_breaker": rs.circuit_breaker,
            "kill_switch": rs.kill_switch,
        }
    return report


# --- controls (audited) ----------------------------------------------------------------------------------------------


def _user_or_none(user):
    return user if getattr(user, "pk", None) else None


def _require_staff(user) -> None:
    from django.core.exceptions import PermissionDenied

    if not getattr(user, "is_staff", False):
        raise PermissionDenied("staff only")


@transaction.atomic
def kill_switch_set(*, index: str, on: bool, user, reason: str = "") -> TradingState:
    """Turn the kill switch on (square off everything, block entries) or off; audited."""
    _require_staff(user)
    ts = TradingState.objects.select_for_update().get_or_create(index=index)[0]
    old = ts.kill_switch
    ts.kill_switch = on
    ts.save()
    ControlAudit.objects.create(
        user=_user_or_none(user),
        index=index,
        action="kill_switch",
        old_value="on" if old else "off",
        new_value="on" if on else "off",
        detail=reason,
    )
    if on and not _setting("CELERY_TASK_ALWAYS_EAGER", True):
        # Distributed: square off now rather than at the next cycle. (Embedded: the loop's next
        # cycle sees the switch; the web process never trades.)
        from trading import tasks

        transaction.on_commit(lambda: tasks.square_off.delay(index, "KILL_SWITCH"))
    metrics.control_action("kill_switch_on" if on else "kill_switch_off")
    return ts


@transaction.atomic
def circuit_breaker_reset(*, index: str, user, reason: str = "") -> TradingState:
    """Lift a tripped circuit breaker before the next session (staff); audited. The loss counters
    restart from this moment."""
    _require_staff(user)
    ts = TradingState.objects.select_for_update().get_or_create(index=index)[0]
    old = f"on: {ts.circuit_breaker_reason}" if ts.circuit_breaker else "off"
    ts.circuit_breaker = False
    ts.circuit_breaker_reason = ""
    ts.circuit_breaker_session = None
    ts.save()
    ControlAudit.objects.create(
        user=_user_or_none(user),
        index=index,
        action="circuit_breaker_reset",
        old_value=old,
        new_value="off",
        detail=reason,
    )
    metrics.control_action("breaker_reset")
    return ts


def live_problems(index: str, *, on: date | None = None) -> list[str]:
    """Why LIVE trading may not start now ([] when it may): mode, switch, credentials, session
    token, and a staff confirmation today."""
    on = on or market_calendar.ist_date(timezone.now())
    problems = []
    if trading_mode() != "LIVE":
        problems.append("TRADING_MODE is not LIVE")
    if not _setting("LIVE_TRADING_ENABLED", False):
        problems.append("LIVE_TRADING_ENABLED is off")
    if not (_setting("KITE_API_KEY", "") and _setting("KITE_API_SECRET", "")):
        problems.append("Kite credentials (KITE_API_KEY, KITE_API_SECRET) are missing")
    ts = TradingState.objects.filter(index=index).first()
    if ts is None or not ts.kite_access_token or ts.kite_token_date != on:
        problems.append("no Kite access token for today (log in on the broker page)")
    if ts is None or ts.live_confirmed_at is None or market_calendar.ist_date(ts.live_confirmed_at) != on:
        problems.append("no staff confirmation of LIVE trading today")
    return problems


def ensure_live_allowed(index: str) -> None:
    """Raise ``LiveTradingRefused`` listing every unmet condition of LIVE trading."""
    problems = live_problems(index)
    if problems:
        raise LiveTradingRefused("LIVE trading refused: " + "; ".join(problems))


@transaction.atomic
def live_confirm(*, index: str, user) -> TradingState:
    """A staff user confirms LIVE trading for today; audited. Refused unless every other condition
    (mode, switch, credentials, token) holds."""
    _require_staff(user)
    problems = [p for p in live_problems(index) if "confirmation" not in p]
    if problems:
        raise LiveTradingRefused("cannot confirm LIVE trading: " + "; ".join(problems))
    ts = TradingState.objects.select_for_update().get_or_create(index=index)[0]
    old = f"{ts.live_confirmed_by_id}@{ts.live_confirmed_at}" if ts.live_confirmed_at else ""
    ts.live_confirmed_by = user
    ts.live_confirmed_at = timezone.now()
    ts.save()
    ControlAudit.objects.create(
        user=user,
        index=index,
        action="live_confirm",
        old_value=old,
        new_value=f"{user.pk}@{ts.live_confirmed_at:%Y-%m-%d %H:%M:%S}",
    )
    metrics.control_action("live_confirmed")
    return ts


# --- backtests ---------------------------------------------------------------------------------------------------------


def backtest_execute(
    *,
    start: date,
    end: date,
    seed: int = 7,
    index: str = "NIFTY",
    strategies: list[str] | None = None,
    name: str = "",
    progress=None,
) -> BacktestRun:
    """Backtest the strategies over the simulated sessions ``start``..``end`` and store the run and
    its trades (entry mode BACKTEST, trade ids prefixed ``BT<run>-``)."""
    from trading.brokers.paper import PaperBroker
    from trading.core.backtest import run_backtest

    index = index.upper()
    slots, pairs = strategy_slots(index)
    if strategies:
        wanted = set(strategies)
        slots = {n: s for n, s in slots.items() if n in wanted}
        for s in slots.values():
            s.enabled = True
    slots = {n: s for n, s in slots.items() if s.enabled}
    params = {n: p for n, p in pairs}
    run = BacktestRun.objects.create(
        name=name,
        strategies=list(slots),
        index=index,
        data_source="SIM",
        start=start,
        end=end,
        seed=seed,
        parameters={"risk": {k: str(v) for k, v in risk_config().__dict__.items()}, "strategies": params},
        status="RUNNING",
    )
    try:
        source = SimSource(index=index, seed=seed, start=start)
        days = list(source.sim.days(start, end))
        config = engine_config(index, mode="BACKTEST", data_source="SIM", position_prefix=f"BT{run.pk}-")
        result = run_backtest(
            days,
            strategies=slots,
            broker=PaperBroker(),
            config=config,
            params=params,
            iv_history=source.iv_history(),
            on_cycle=progress,
        )
        for closed in result.trades:
            journal_services.record_trade(**closed.trade, backtest_run=run)
        run.summary = result.summary()
        run.status = "DONE"
    except Exception as exc:
        run.status = "FAILED"
        run.summary = {"error": f"{type(exc).__name__}: {exc}"}
        run.finished_at = timezone.now()
        run.save()
        raise
    run.finished_at = timezone.now()
    run.save()
    return run


def now_utc() -> datetime:
    """The wall clock (UTC) - the live desk's clock; the simulated loop passes its own time."""
    return datetime.now(UTC)
