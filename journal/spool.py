"""A durable local spool for writes that must not be lost while the database is unreachable.

One JSON object per line in ``settings.TRADE_SPOOL_PATH``: ``{"kind": ..., "key": ..., "payload": {...}}``.
An append is written and fsynced before it returns. Writers and the drain take an exclusive ``flock``
on a lock file beside the spool, and writers open the spool only while holding it, so the drain can
replace the file atomically (write a new file, fsync, rename) without losing a concurrent append.

Each kind has a handler (registered with ``register``) that must be idempotent: a line is removed
only after its handler returned, so a crash mid-drain replays that line, and the handler's own
exactly-once rule (the trade's unique ``trade_id``) keeps it from counting twice.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from django.conf import settings

log = logging.getLogger(__name__)

_handlers: dict[str, Callable[[dict], object]] = {}


def register(kind: str, handler: Callable[[dict], object]) -> None:
    """Register the idempotent handler that replays spooled ``kind`` lines into the database."""
    _handlers[kind] = handler


def _default(value):
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "pk"):
        return value.pk
    raise TypeError(f"cannot spool a {type(value).__name__}")


def spool_path() -> Path:
    return Path(settings.TRADE_SPOOL_PATH)


@contextmanager
def _locked():
    path = spool_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(path.suffix + ".lock"), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield path
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def append(kind: str, key: str, payload: dict) -> None:
    """Append one event durably (fsynced before returning)."""
    line = json.dumps({"kind": kind, "key": key, "payload": payload}, default=_default, sort_keys=True)
    with _locked() as path:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, (line + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
    log.warning("database unreachable: spooled %s %s to %s", kind, key, path)


def depth() -> int:
    """Number of events waiting in the spool."""
    path = spool_path()
    if not path.exists():
        return 0
    with open(path, "rb") as fh:
        return sum(1 for line in fh if line.strip())


@dataclass
class DrainResult:
    written: int = 0
    remaining: int = 0
    error: str = ""


def drain() -> DrainResult:
    """Replay the spool in order; stop at the first failure and keep it and what follows."""
    result = DrainResult()
    with _locked() as path:
        if not path.exists():
            return result
        lines = [line for line in path.read_text().splitlines() if line.strip()]
        done = 0
        for line in lines:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                # A torn last line from a crash mid-write: nothing was acknowledged for it.
                log.error("dropping unreadable spool line: %r", line[:200])
                done += 1
                continue
            handler = _handlers.get(event.get("kind"))
            if handler is None:
                result.error = f"no handler for spooled kind {event.get('kind')!r}"
                break
            try:
                handler(event["payload"])
            except Exception as exc:  # noqa: BLE001 - keep the event for the next drain
                result.error = f"{type(exc).__name__}: {exc}"
                break
            done += 1
            result.written += 1
        rest = lines[done:]
        tmp = path.with_suffix(path.suffix + ".tmp")
        with open(tmp, "w") as fh:
            fh.write("".join(line + "\n" for line in rest))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        result.remaining = len(rest)
    return result
