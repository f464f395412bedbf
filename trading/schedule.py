"""The Celery beat schedule of the distributed setup (read by ``settings.CELERY_BEAT_SCHEDULE``).

Beat runs as a single instance. Times are IST (``CELERY_TIMEZONE``). Every task is idempotent and
takes a lock per index, so a late or doubled beat tick is harmless; the tasks themselves skip
outside the session. No Django import here: settings imports this module.
"""

from __future__ import annotations

from celery.schedules import crontab

_WEEKDAYS = "mon-fri"

BEAT_SCHEDULE: dict = {
    # One cycle per minute bar, 09:16 (the 09:15 bar has completed) to 15:30.
    "run-cycle": {
        "task": "trading.tasks.run_cycle",
        "schedule": crontab(minute="*", hour="9-15", day_of_week=_WEEKDAYS),
        "options": {"expires": 55},
    },
    # Exits between cycles (a cycle that failed or ran late): exits only, never entries.
    "monitor-positions": {
        "task": "trading.tasks.monitor_positions",
        "schedule": crontab(minute="*/5", hour="9-15", day_of_week=_WEEKDAYS),
        "options": {"expires": 240},
    },
    "square-off": {
        "task": "trading.tasks.square_off",
        "schedule": crontab(minute="15,20,25", hour="15", day_of_week=_WEEKDAYS),
        "options": {"expires": 240},
    },
    "reconcile": {
        "task": "trading.tasks.reconcile",
        "schedule": crontab(minute="*/10", day_of_week=_WEEKDAYS),
        "options": {"expires": 540},
    },
    # Notifications: a pass every 5 s on their own queue (a worker started with -Q notifications).
    "notify": {
        "task": "trading.tasks.notify",
        "schedule": 5.0,
        "options": {"expires": 10, "queue": "notifications"},
    },
    "prune-outbox": {
        "task": "trading.tasks.prune_outbox",
        "schedule": crontab(minute="40", hour="16"),
        "options": {"expires": 3600},
    },
    "drain-spool": {
        "task": "trading.tasks.drain_spool",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    # A backtest or sweep whose worker died without a word: FAILED, never left RUNNING.
    "reap-backtests": {
        "task": "trading.tasks.backtest_reap",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
}
