"""Celery tasks: thin, each one service call (``trading.execution``).

Every task is idempotent, so a redelivery is harmless: late acks and reject-on-worker-lost (settings)
put a task whose worker died back on the queue; a lock per index serialises cycles; client order ids
are deterministic, so a cycle run twice finds its orders instead of placing new ones; trades are
written once by their ids. A busy lock is retried after a couple of seconds (no long countdowns).
"""

from __future__ import annotations

import logging
from datetime import datetime

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings
from django.utils.dateparse import parse_datetime

from journal import services as journal_services
from trading.execution import backtests, broker_updates, desk, reconciliation, sweeps
from trading.execution.lock import CycleBusy
from trading.livedesk.maintenance import outbox_prune
from trading.notifications.dispatch import notify_pending

log = logging.getLogger(__name__)

_RETRY = {
    "autoretry_for": (CycleBusy,),
    "retry_backoff": 2,
    "retry_backoff_max": 8,
    "max_retries": 10,
}


def _at(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = parse_datetime(value)
    if parsed is None or parsed.tzinfo is None:
        raise ValueError(f"not an aware ISO date-time: {value!r}")
    return parsed


def _summary(report: desk.CycleReport) -> dict:
    return {
        "index": report.index,
        "bar_time": report.bar_time.isoformat() if report.bar_time else None,
        "skipped": report.skipped,
        "signals": report.signals,
        "orders": report.orders,
        "opened": report.opened,
        "closed": report.closed,
        "open_positions": report.open_positions,
        "db_available": report.db_available,
    }


@shared_task(name="trading.tasks.run_cycle", acks_late=True, reject_on_worker_lost=True, **_RETRY)
def run_cycle(index: str | None = None, at: str | None = None) -> dict:
    """One engine cycle of ``index`` at ``at`` (ISO; default now, skipped outside the session)."""
    when = _at(at) or desk.now_utc()
    if at is None and desk.last_completed_bar_at(when) is None:
        return {"index": index, "skipped": "market closed"}
    return _summary(desk.run_cycle(index, at=when))


@shared_task(name="trading.tasks.execute_signal", acks_late=True, reject_on_worker_lost=True, **_RETRY)
def execute_signal(signal_id: int) -> dict:
    """Place the entry of a stored accepted signal that has no order yet."""
    return _summary(desk.signal_execute(signal_id))


@shared_task(name="trading.tasks.monitor_positions", acks_late=True, reject_on_worker_lost=True, **_RETRY)
def monitor_positions(index: str | None = None, at: str | None = None) -> dict:
    """Exits only (stop, target, trail, time, expiry, kill switch) on the latest bar."""
    when = _at(at) or desk.now_utc()
    if at is None and desk.last_completed_bar_at(when) is None:
        return {"index": index, "skipped": "market closed"}
    return _summary(desk.run_cycle(index, at=when, exits_only=True))


@shared_task(name="trading.tasks.square_off", acks_late=True, reject_on_worker_lost=True, **_RETRY)
def square_off(index: str | None = None, exit_type: str = "SQUARE_OFF", at: str | None = None) -> dict:
    """Close every open position of ``index`` now (SQUARE_OFF, or KILL_SWITCH from the control page):
    at ``at``, else at the desk's market clock (a simulated desk's bar already processed: its next
    cycle sees the kill switch and closes them)."""
    when = _at(at) or desk.market_now(index)
    return _summary(desk.run_cycle(index, at=when, force_exit=exit_type))


@shared_task(name="trading.tasks.reconcile", acks_late=True, reject_on_worker_lost=True, **_RETRY)
def reconcile(index: str | None = None) -> dict:
    """Orders and positions brought in line with the broker; the spool drained first."""
    report = reconciliation.reconcile(index)
    return {"index": report.index, "orders_updated": report.orders_updated, "mismatches": report.mismatches}


@shared_task(name="trading.tasks.reconcile_order", acks_late=True, reject_on_worker_lost=True, **_RETRY)
def reconcile_order(tag: str) -> dict:
    """One stored order brought to the order carrying its tag at the broker (sent after a Kite
    postback for an order id not stored yet)."""
    order = broker_updates.reconcile_tag(tag)
    return {"tag": tag, "status": order.status if order is not None else None}


@shared_task(name="trading.tasks.drain_spool", acks_late=True, reject_on_worker_lost=True)
def drain_spool() -> dict:
    """Replay spooled close events and trades into the database."""
    result = journal_services.drain_spool()
    return {"written": result.written, "remaining": result.remaining, "error": result.error}


@worker_ready.connect
def _reconcile_at_startup(sender=None, **kwargs) -> None:
    """A worker that starts reconciles once (the beat schedule does it periodically)."""
    try:
        reconcile.delay()
    except Exception:  # noqa: BLE001 - a broker hiccup at start-up must not stop the worker
        log.exception("could not queue the start-up reconcile")


@shared_task(name="trading.tasks.notify", acks_late=False, ignore_result=True)
def notify() -> dict:
    """One pass of the notifier (its own queue, ``notifications``): new events, spool watch, summary."""
    outcome = notify_pending()
    return {"events": outcome.events, "sent": outcome.sent, "position": outcome.position}


@shared_task(name="trading.tasks.prune_outbox", acks_late=True, reject_on_worker_lost=True)
def prune_outbox() -> dict:
    """Delete the outbox's events older than ``OUTBOX_RETENTION_DAYS``."""
    return {"deleted": outbox_prune()}


# --- Research: backtest runs and sweep combinations, on the "research" queue (CELERY_TASK_ROUTES) -----


@shared_task(
    name="trading.tasks.backtest_run",
    acks_late=False,  # longer than Redis's visibility timeout: acked on receipt, reaped if its worker dies
    time_limit=settings.BACKTEST_TIME_LIMIT,
    soft_time_limit=settings.BACKTEST_TIME_LIMIT - 30,
)
def backtest_run(run_id: int) -> dict:
    """Run the stored backtest ``run_id`` (FAILED with its error on any exception)."""
    run = backtests.backtest_run_execute(run_id)
    return {"run": run.pk, "status": run.status, "trades": run.trade_count}


@shared_task(
    name="trading.tasks.sweep_combination",
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=settings.BACKTEST_TIME_LIMIT,
    soft_time_limit=settings.BACKTEST_TIME_LIMIT - 30,
)
def sweep_combination(combination_id: int) -> dict:
    """One combination of a sweep (idempotent: its figures are stored once)."""
    combination = sweeps.sweep_combination_execute(combination_id)
    return {"combination": combination.pk, "status": combination.status}


@shared_task(
    name="trading.tasks.sweep_prepare",
    acks_late=False,  # a year's hash can take a while: acked on receipt, reaped (RUNNING) if its worker dies
    time_limit=settings.BACKTEST_TIME_LIMIT,
    soft_time_limit=settings.BACKTEST_TIME_LIMIT - 30,
)
def sweep_prepare(sweep_id: int) -> dict:
    """A sweep started from a page: its market built or hashed, then its combinations queued."""
    return {"sweep": sweep_id, "queued": sweeps.sweep_prepare_and_enqueue(sweep_id)}


@shared_task(name="trading.tasks.backtest_reap", acks_late=True, reject_on_worker_lost=True)
def backtest_reap() -> dict:
    """Backtest runs and sweeps whose workers died without a word: FAILED."""
    return {"runs": backtests.backtest_runs_reap(), "sweeps": sweeps.sweeps_reap()}
