"""The engine state of an index from the database: open positions, orders in flight (and finished
ones whose effect was not stored yet: a crash between the two), risk figures and the strategies'
last accepted signals - what a desk trades on after a restart or a change made elsewhere."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import Max

from journal.models import Combo, ComboStatus, Trade, TradeOrigin
from trading.audit import ControlAudit
from trading.core import calendar as market_calendar
from trading.core import orders, risk
from trading.core.combo_store import combo_from_state
from trading.core.state import EngineState
from trading.execution.mapping import open_position_of, pending_order_of
from trading.execution.models import Order, OrderStatus, Position, PositionStatus, TradingState
from trading.strategies.models import Signal, SignalStatus


def trading_state(index: str) -> TradingState:
    """The index's control state row (created on first use)."""
    state, _ = TradingState.objects.get_or_create(index=index)
    return state


def _losing_run(nets: list[Decimal]) -> int:
    """How many trades at the end of ``nets`` did not win (net <= 0)."""
    run = 0
    for net in reversed(nets):
        if net > 0:
            break
        run += 1
    return run


def _nets_by_trade(rows) -> list[Decimal]:
    """Net P&L per trade for the risk figures, in order: a combo's legs count as one trade, at its
    last leg, once the combo has closed (as the engine accounts it: ``core.combo_exits``)."""
    nets: list[Decimal | None] = []
    combos: dict[str, tuple[int, Decimal]] = {}
    for net, combo_id, status in rows:
        if not combo_id:
            nets.append(net)
        elif status == ComboStatus.CLOSED:
            at, total = combos.get(combo_id, (-1, Decimal(0)))
            if at >= 0:
                nets[at] = None
            nets.append(None)
            combos[combo_id] = (len(nets) - 1, total + net)
    for at, total in combos.values():
        nets[at] = total
    return [net for net in nets if net is not None]


def rebuild_risk_state(
    index: str, mode: str, session: date, ts: TradingState | None = None
) -> risk.RiskState:
    """Today's risk figures from the journal: net P&L and the run of losses (since the last breaker
    reset today) of the trades the engine itself made in ``mode`` - never manual or imported ones, so
    a trade typed in by hand cannot trip the breaker or stop entries - and the breaker and the kill
    switch from ``TradingState``."""
    ts = ts or trading_state(index)
    trades = Trade.objects.filter(
        symbol=index, entry_mode=mode, trade_date=session, origin=TradeOrigin.ENGINE
    )
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
    nets = _nets_by_trade(
        trades.order_by("exit_time", "id").values_list("net_pnl", "combo_id", "combo__status")
    )
    breaker = bool(ts.circuit_breaker and ts.circuit_breaker_session == session)
    return risk.RiskState(
        session=session,
        realised_pnl=sum(nets, Decimal(0)),
        consecutive_losses=_losing_run(nets),
        trades_today=len(nets),
        circuit_breaker=breaker,
        breaker_reason=ts.circuit_breaker_reason if breaker else "",
        breaker_session=ts.circuit_breaker_session if breaker else None,
        kill_switch=ts.kill_switch,
    )


def _orders_to_resume(index: str, mode: str, open_ids: list[str]):
    """Orders the engine must follow: still live, or finished with an effect not yet stored."""
    top = Order.objects.filter(index=index, mode=mode, parent__isnull=True)
    live = top.filter(status__in=list(orders.LIVE_STATES))
    unapplied_entries = top.filter(
        purpose=orders.ENTRY,
        filled_quantity__gt=0,
        position__isnull=True,
        status__in=[OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.EXPIRED],
    )
    unapplied_exits = top.filter(purpose=orders.EXIT, status=OrderStatus.FILLED, position_ref__in=open_ids)
    return [*live, *unapplied_entries, *unapplied_exits]


def _already_applied(order: Order, state: EngineState) -> bool:
    """An entry whose position exists (in memory or stored) needs nothing more."""
    if order.purpose != orders.ENTRY:
        return False
    return (
        order.position_ref in state.positions
        or Position.objects.filter(position_id=order.position_ref).exists()
    )


def load_state(index: str, mode: str, *, at: datetime) -> EngineState:
    """The engine state of ``index`` in ``mode`` from the database (see the module docstring)."""
    ts = trading_state(index)
    state = EngineState(index=index)
    state.risk = rebuild_risk_state(index, mode, market_calendar.ist_date(at), ts)
    state.last_bar_time = ts.last_bar_time
    for row in Position.objects.filter(index=index, mode=mode, status=PositionStatus.OPEN):
        state.positions[row.position_id] = open_position_of(row)
    for row in Combo.objects.filter(symbol=index, entry_mode=mode, backtest_run__isnull=True).exclude(
        status=ComboStatus.CLOSED
    ):
        if row.engine:
            state.combos[row.combo_id] = combo_from_state(row.combo_id, row.strategy_name, index, row.engine)
    for order in _orders_to_resume(index, mode, list(state.positions)):
        if not _already_applied(order, state):
            state.pending[order.client_order_id] = pending_order_of(order)
    for combo in state.combos.values():  # a leg's entry in flight is the combo's (its plan)
        for leg, client_order_id in combo.leg_orders.items():
            pending = state.pending.get(client_order_id)
            if pending is not None and pending.purpose == orders.ENTRY:
                pending.plan.update(combo_id=combo.combo_id, leg=leg, side=combo.legs[leg].side)
    last_signals = (
        Signal.objects.filter(index=index, mode=mode, status=SignalStatus.ACCEPTED, bar_time__lte=at)
        .values("strategy_name")
        .annotate(last=Max("bar_time"))
    )
    for row in last_signals:
        state.last_signal_at[row["strategy_name"]] = row["last"]
    return state
