"""Upkeep of the live desk's outbox."""

from __future__ import annotations

from django.conf import settings

from trading import outbox


def outbox_prune(days: float | None = None) -> int:
    """Delete the events older than ``days`` (default ``OUTBOX_RETENTION_DAYS``); returns how many."""
    return outbox.prune(settings.OUTBOX_RETENTION_DAYS if days is None else days)
