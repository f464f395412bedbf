"""The web server's kept database connections (``tradingsite/postgresql/base.py``, on under ASGI): a
finished request's connection goes to the next request, whatever its thread; one PostgreSQL killed
since is never handed out; one in a transaction, or past ``DB_KEEP_IDLE``, is closed. PostgreSQL only
(the backend is PostgreSQL's); the server with the database stopped: tests/faults/test_web_outage.py.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def keeping(settings):
    """A new keeping connection to the test database, each call (as each request's thread gets)."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's backend")
    from tradingsite.postgresql.base import DatabaseWrapper, close_kept

    settings.DB_KEEP_IDLE = 2
    close_kept()
    yield lambda: DatabaseWrapper({**connection.settings_dict}, alias="kept")
    close_kept()  # or PostgreSQL cannot drop the test database


def _pid(wrapper) -> int:
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def test_a_closed_connection_serves_the_next_request_on_another_thread(keeping):
    first = keeping()
    pid = _pid(first)
    first.close()
    seen = []

    def request() -> None:
        second = keeping()
        seen.append(_pid(second))
        second.close()

    thread = threading.Thread(target=request)
    thread.start()
    thread.join()
    assert seen == [pid]


def test_a_connection_killed_since_is_not_handed_out(keeping):
    first = keeping()
    pid = _pid(first)
    first.close()
    with connection.cursor() as cursor:  # as a restart of PostgreSQL would
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    second = keeping()
    assert _pid(second) != pid  # a new one, and no error
    second.close()


def test_one_in_a_transaction_or_past_the_limit_is_closed(keeping):
    busy = keeping()
    _pid(busy)
    raw = busy.connection
    busy.set_autocommit(False)
    with busy.cursor() as cursor:
        cursor.execute("SELECT 1")
    busy.close()
    assert raw.closed
    three = [keeping() for _ in range(3)]
    for wrapper in three:
        _pid(wrapper)
    raws = [wrapper.connection for wrapper in three]
    for wrapper in three:
        wrapper.close()
    assert [raw.closed for raw in raws] == [False, False, True]  # DB_KEEP_IDLE = 2
