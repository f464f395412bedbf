"""Wiring the metrics into a process, once Django is set up (``TradingConfig.ready``)."""

from __future__ import annotations

from django.conf import settings

from journal import services as journal_services
from trading import metrics
from trading.choices import ExitType
from trading.core import risk
from trading.core.strategies import registry
from trading.monitoring import celery_hooks, multiprocess

# Label values created at 0 in every process (``metrics.preset``).
DIRECTIONS = ("CALL", "PUT")
CYCLE_OUTCOMES = ("ok", "skipped", "database_down")
CONTROL_ACTIONS = ("kill_switch_on", "kill_switch_off", "breaker_reset", "live_confirmed")
SYSTEM_ERRORS = (
    ("strategy", "error"),
    ("marketdata", "warning"),
    ("engine", "error"),
    ("database", "critical"),
    ("celery", "error"),
    ("notifications", "error"),
)  # (component, severity) of every ``metrics.system_error`` call and helper

_installed = False


def install() -> None:
    """Fold this process's metric files when it exits, observe each trade the journal records,
    connect Celery's task and worker signals, and create the event counters' known series at 0
    (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True
    multiprocess.install_exit_hook()
    journal_services.on_trade_recorded(metrics.trade_recorded, reads=metrics.TRADE_RECORDED_READS)
    celery_hooks.connect()
    metrics.preset(
        strategies=registry.names(),
        directions=DIRECTIONS,
        reject_reasons=risk.ENTRY_REFUSALS,
        exit_types=ExitType.values,
        indices={"NIFTY", settings.TRADING_INDEX},
        cycle_outcomes=CYCLE_OUTCOMES,
        control_actions=CONTROL_ACTIONS,
        modes={"PAPER", settings.TRADING_MODE},
        order_types=("MARKET", "LIMIT"),
        errors=SYSTEM_ERRORS,
    )
