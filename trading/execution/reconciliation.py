"""Reconciliation: stored orders and positions brought in line with the broker (at start-up and
periodically). The broker is the truth for orders; for positions differences are reported and
logged, never guessed at."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from journal import spool
from trading import metrics
from trading.core import calendar as market_calendar
from trading.core import orders
from trading.core.order_flow import record_from_broker
from trading.execution.desk import Desk, desk_for
from trading.execution.lock import cycle_lock
from trading.execution.mapping import order_record_of
from trading.execution.models import Order, Position, PositionStatus
from trading.execution.orders import order_sync
from trading.execution.state import rebuild_risk_state

log = logging.getLogger(__name__)


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


def _reconcile_orders(desk: Desk, report: ReconcileReport, at: datetime) -> None:
    """Every order still live in the database asked of the broker (by client order id, else by tag)."""
    live = Order.objects.filter(
        index=desk.index, mode=desk.mode, parent__isnull=True, status__in=list(orders.LIVE_STATES)
    )
    for order in live:
        report.orders_checked += 1
        try:
            answer = desk.broker.order_status(order.client_order_id) or desk.broker.find_by_tag(
                order.client_order_id
            )
        except Exception as exc:  # noqa: BLE001 - broker away: try again next time
            report.mismatches.append(f"{order.client_order_id}: broker error {exc}")
            continue
        if answer is None:
            continue
        record = order_record_of(order)
        record_from_broker(record, answer, at, current=order.status)
        if record.status != order.status:
            order_sync(record=record, mode=desk.mode, broker_name=desk.broker_name)
            report.orders_updated += 1


def _reconcile_positions(desk: Desk, report: ReconcileReport) -> None:
    """Open positions stored vs net positions at the broker, per tradingsymbol (a short leg counts
    negative, as the broker's net quantity)."""
    stored: dict[str, int] = {}
    for position in Position.objects.filter(index=desk.index, mode=desk.mode, status=PositionStatus.OPEN):
        signed = -position.quantity if position.side == "SHORT" else position.quantity  # a sold combo leg
        stored[position.tradingsymbol] = stored.get(position.tradingsymbol, 0) + signed
        report.open_positions += 1
    try:
        at_broker = {
            row["tradingsymbol"]: int(row["quantity"])
            for row in desk.broker.positions()
            if int(row["quantity"])
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
    report.spool_written = spool.drain().written
    with cycle_lock(desk.index):
        desk.restore_broker_book()
        _reconcile_orders(desk, report, at)
        _reconcile_positions(desk, report)
        for mismatch in report.mismatches:
            log.warning("reconcile %s: %s", desk.index, mismatch)
        metrics.reconciled(
            "mismatch" if report.mismatches else "ok",
            {"orders": report.orders_updated, "positions": len(report.mismatches)},
        )
        risk_state = rebuild_risk_state(desk.index, desk.mode, market_calendar.ist_date(at))
        report.risk = {
            "realised_pnl": str(risk_state.realised_pnl),
            "consecutive_losses": risk_state.consecutive_losses,
            "circuit_breaker": risk_state.circuit_breaker,
            "kill_switch": risk_state.kill_switch,
        }
    return report
