"""Tasks sent to the workers by name, fire and forget: the one way the web process and the services
queue work (a run, a sweep, a reconcile, a square-off).

Each task writes its own outcome (a run's status, an order's state), so none is sent for its result:
``ignore_result`` - the worker stores none, and the sender subscribes to no result channel. That
subscription is what made a click wait while Redis was down: Celery's Redis result backend retried it
for ~19 s (20 tries, 1 s apart) before failing with "Retry limit exceeded"; without it the send fails in
well under a second (kombu's OperationalError), and the caller says so (``backtests.queue_or_fail``).
"""

from __future__ import annotations

from celery import current_app


def send(name: str, *args: object, queue: str | None = None) -> None:
    """Send task ``name`` with ``args`` (to ``queue``; the default queue without one). Raises what
    the broker raises when it cannot take the message."""
    options = {"queue": queue} if queue else {}
    current_app.send_task(name, args=list(args), ignore_result=True, **options)
