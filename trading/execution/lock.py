"""One cycle of an index at a time, across threads, processes and hosts."""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import redis
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection

log = logging.getLogger(__name__)

_process_locks: dict[str, threading.Lock] = {}
_process_locks_guard = threading.Lock()


class CycleBusy(RuntimeError):
    """Another cycle of the same index holds its lock beyond the wait."""


def _advisory_key(index: str) -> int:
    return zlib.crc32(f"desk-cycle-{index}".encode()) & 0x7FFFFFFF


def _try_advisory_lock(key: int, timeout: float) -> bool | None:
    """Take PostgreSQL's session advisory lock ``key`` within ``timeout`` seconds: True when taken,
    False when someone else holds it, None when the database is unreachable."""
    try:
        deadline = time.monotonic() + timeout
        with connection.cursor() as cursor:
            while True:
                cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
                if cursor.fetchone()[0]:
                    return True
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.1)
    except (OperationalError, InterfaceError):
        return None


@contextmanager
def _postgres_lock(index: str, timeout: float) -> Iterator[None]:
    key = _advisory_key(index)
    got = _try_advisory_lock(key, timeout)
    if got is False:
        raise CycleBusy(f"cycle of {index} busy elsewhere")
    if got is None and getattr(settings, "REDIS_URL", ""):
        # The database is down: the cycle (exits only) still runs one at a time across processes,
        # on Redis's lock - the state it trades on is carried there too (``execution.carrier``).
        # Redis away as well: nothing can coordinate the processes; the exits of this one go on.
        with ExitStack() as stack:
            try:
                stack.enter_context(_redis_lock(index, timeout))
            except redis.RedisError as exc:
                log.error(
                    "cycle of %s: PostgreSQL and Redis both unreachable (%s): this process's lock only",
                    index,
                    exc,
                )
            yield
        return
    # got is None without Redis: the embedded loop, the only trader - this process's lock suffices.
    try:
        yield
    finally:
        if got:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
            except (OperationalError, InterfaceError):
                pass


@contextmanager
def _redis_lock(index: str, timeout: float) -> Iterator[None]:
    client = redis.Redis.from_url(settings.REDIS_URL)
    lock = client.lock(f"desk:cycle:{index}", timeout=max(timeout, 10), blocking_timeout=timeout)
    if not lock.acquire():
        raise CycleBusy(f"cycle of {index} busy elsewhere")
    try:
        yield
    finally:
        try:
            lock.release()
        except Exception:  # noqa: BLE001 - expired: nothing to release
            pass


@contextmanager
def cycle_lock(index: str, timeout: float | None = None) -> Iterator[None]:
    """One cycle of an index at a time, across processes and hosts.

    PostgreSQL: a session advisory lock - it dies with the connection, so a worker killed mid-cycle
    frees it at once and the redelivered task can proceed; while PostgreSQL is unreachable, the Redis
    lock. Otherwise a Redis lock with an expiry
    (``REDIS_URL``), else a lock of this process (the embedded runtrader is the only trader).
    Raises ``CycleBusy`` when the lock is not free within ``timeout`` (``CYCLE_LOCK_TIMEOUT``, 30 s).
    """
    timeout = float(timeout if timeout is not None else getattr(settings, "CYCLE_LOCK_TIMEOUT", 30))
    with _process_locks_guard:
        local = _process_locks.setdefault(index, threading.Lock())
    if not local.acquire(timeout=timeout):
        raise CycleBusy(f"cycle of {index} busy in this process")
    try:
        if connection.vendor == "postgresql":
            with _postgres_lock(index, timeout):
                yield
        elif getattr(settings, "REDIS_URL", ""):
            with _redis_lock(index, timeout):
                yield
        else:
            yield
    finally:
        local.release()
