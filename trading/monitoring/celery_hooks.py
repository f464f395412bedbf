"""Celery's side of the metrics: task timings and failures for every task a worker runs (eager runs
in the caller's process are not counted), worker liveness, dead children folded, and the per-host
endpoint of a worker on another host.

``connect()`` is called once Django is set up (``trading.monitoring.wiring.install`` from
``TradingConfig.ready``; a worker and beat set Django up before they send any of these signals). Not
from ``tradingsite/celery.py``: that module is imported before settings put ``PROMETHEUS_MULTIPROC_DIR``
in the environment, and the metrics must not be created before that.
"""

from __future__ import annotations

import logging
import os
import time

from celery import signals
from django.conf import settings

from trading import metrics
from trading.monitoring import multiprocess

log = logging.getLogger(__name__)

_started: dict[str, float] = {}
_connected = False


def _task_name(task=None, sender=None) -> str:
    name = getattr(task, "name", None) or getattr(sender, "name", None) or str(sender or "unknown")
    return name[:96]


def _eager(task) -> bool:
    # A task run in the caller's process (embedded mode, CELERY_TASK_ALWAYS_EAGER) is not a worker's
    # run: counting it would make the "worker down" alert fire on a desk that has no workers.
    return bool(getattr(getattr(task, "request", None), "is_eager", False))


def on_task_prerun(task_id=None, task=None, **_kw) -> None:
    """Remember when the task started; count it as running."""
    if _eager(task):
        return
    try:
        _started[task_id] = time.perf_counter()
        metrics.definitions.TASKS_RUNNING.labels(_task_name(task)).inc()
    except Exception:  # noqa: BLE001 - metrics never break a task
        log.debug("task_prerun metrics failed", exc_info=True)


def on_task_postrun(task_id=None, task=None, state=None, **_kw) -> None:
    """Observe the task's duration and final state."""
    if _eager(task):
        return
    try:
        name = _task_name(task)
        start = _started.pop(task_id, None)
        if start is not None:
            metrics.definitions.TASK_DURATION.labels(name).observe(time.perf_counter() - start)
            metrics.definitions.TASKS_RUNNING.labels(name).dec()
        metrics.definitions.TASKS.labels(name, str(state or "unknown").lower()).inc()
    except Exception:  # noqa: BLE001
        log.debug("task_postrun metrics failed", exc_info=True)


def on_task_failure(sender=None, exception=None, **_kw) -> None:
    """Count a failed task run by exception class."""
    if _eager(sender):
        return
    try:
        metrics.definitions.TASK_FAILURES.labels(
            _task_name(sender=sender), type(exception).__name__[:48]
        ).inc()
        metrics.system_error("celery", "error")
    except Exception:  # noqa: BLE001
        log.debug("task_failure metrics failed", exc_info=True)


def on_task_retry(sender=None, **_kw) -> None:
    """Count a retry the task scheduled."""
    if _eager(sender):
        return
    try:
        metrics.definitions.TASK_RETRIES.labels(_task_name(sender=sender)).inc()
    except Exception:  # noqa: BLE001
        log.debug("task_retry metrics failed", exc_info=True)


def on_worker_process_init(**_kw) -> None:
    """A pool child started: it is a live worker process until it exits."""
    metrics.process_started("worker")


def on_worker_process_shutdown(pid=None, **_kw) -> None:
    """A pool child is exiting: mark it dead and fold its files so scrapes stay fast."""
    multiprocess.process_dead(pid or os.getpid())


def on_worker_ready(**_kw) -> None:
    """The worker's main process is up (counted as ``worker_main``); it serves this host's metrics
    when it runs on a host without the web server (``WORKER_METRICS_PORT``)."""
    metrics.process_started("worker_main")
    if settings.WORKER_METRICS_PORT:
        multiprocess.serve_worker_metrics(settings.WORKER_METRICS_PORT, settings.WORKER_METRICS_ADDR)


def on_beat_init(**_kw) -> None:
    """Beat is a live process too (one, and only one, must run)."""
    metrics.process_started("beat")


def connect() -> None:
    """Connect the handlers to Celery's signals (idempotent)."""
    global _connected
    if _connected:
        return
    _connected = True
    signals.task_prerun.connect(on_task_prerun, weak=False)
    signals.task_postrun.connect(on_task_postrun, weak=False)
    signals.task_failure.connect(on_task_failure, weak=False)
    signals.task_retry.connect(on_task_retry, weak=False)
    signals.worker_process_init.connect(on_worker_process_init, weak=False)
    signals.worker_process_shutdown.connect(on_worker_process_shutdown, weak=False)
    signals.worker_ready.connect(on_worker_ready, weak=False)
    signals.beat_init.connect(on_beat_init, weak=False)
