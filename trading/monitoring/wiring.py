"""Wiring the metrics into a process, once Django is set up (``TradingConfig.ready``)."""

from __future__ import annotations

from journal import services as journal_services
from trading import metrics
from trading.monitoring import celery_hooks, multiprocess

_installed = False


def install() -> None:
    """Fold this process's metric files when it exits, observe each trade the journal records, and
    connect Celery's task and worker signals (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True
    multiprocess.install_exit_hook()
    journal_services.on_trade_recorded(metrics.trade_recorded)
    celery_hooks.connect()
