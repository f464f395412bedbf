"""PostgreSQL for the web server: a finished request's connection is kept for the next request.

Under ASGI each request's view runs on a thread of its own, so with ``CONN_MAX_AGE = 0`` (see
``tradingsite/asgi.py`` for why not more) every request opened a new connection - a new PostgreSQL
backend process each time, the largest single cost of a small API request. Here ``close()`` puts an
idle connection (no transaction open, not broken) on a short per-process list instead, at most
``DB_KEEP_IDLE`` of them (the rest are closed), and the next request of any thread takes one from
there after a round trip that proves it alive (``CONN_HEALTH_CHECKS``'s check: one killed with the
database is closed and the next tried). With none kept, a connection is opened as before - so while
the database is unreachable a request fails at once and answers 503, as without this (psycopg's pool
instead makes every request wait its timeout for a connection that cannot come).

The list belongs to the process that filled it (a forked child starts with none) and to one database
(alias, name, host, port, user). Session state is not reset: the desk sets none that outlives a
transaction (``SET LOCAL``; a session advisory lock is the trading cycle's, not a request's).
"""

from __future__ import annotations

import atexit
import os
import threading
from collections import deque

from django.conf import settings
from django_prometheus.db.backends.postgresql.base import DatabaseWrapper as PrometheusDatabaseWrapper
from psycopg import Error as PsycopgError
from psycopg import IsolationLevel
from psycopg.pq import TransactionStatus

_kept: dict[tuple, deque] = {}
_kept_pid = os.getpid()
_kept_guard = threading.Lock()


def _kept_list(key: tuple) -> deque:
    global _kept_pid
    with _kept_guard:
        if _kept_pid != os.getpid():  # a forked child: the parent's sockets are not ours to use
            _kept.clear()
            _kept_pid = os.getpid()
        return _kept.setdefault(key, deque())


@atexit.register
def close_kept() -> None:
    """Close the kept connections (at exit: a clean goodbye to PostgreSQL rather than a dropped socket)."""
    if _kept_pid == os.getpid():
        for kept in _kept.values():
            while kept:
                kept.pop().close()


class DatabaseWrapper(PrometheusDatabaseWrapper):
    def _kept_key(self) -> tuple:
        db = self.settings_dict
        return (self.alias, db["NAME"], db["HOST"], db["PORT"], db["USER"])

    def get_new_connection(self, conn_params):
        kept = _kept_list(self._kept_key())
        while True:
            try:
                connection = kept.pop()
            except IndexError:
                return super().get_new_connection(conn_params)
            try:
                connection.execute("")  # alive? (PostgreSQL may have restarted since)
            except PsycopgError:
                connection.close()
                continue
            # What super() sets besides connecting (the desk names no isolation level: the default).
            self.isolation_level = IsolationLevel(
                self.settings_dict["OPTIONS"].get("isolation_level", IsolationLevel.READ_COMMITTED)
            )
            return connection

    def _close(self):
        connection = self.connection
        if (
            connection is not None
            and not connection.closed
            and not connection.broken
            and connection.info.transaction_status == TransactionStatus.IDLE
            and connection.autocommit
        ):
            kept = _kept_list(self._kept_key())
            if len(kept) < settings.DB_KEEP_IDLE:
                kept.append(connection)
                return None
        return super()._close()
