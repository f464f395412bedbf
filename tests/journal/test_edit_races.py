"""Journal writes at the same moment: an edit or a delete of a trade that another request deletes is a
404 with one audit of the one delete, never a 500 (found by schemathesis with two workers: a PATCH
whose trade a DELETE removed between the view's read and the service's lock); trades of one day and
strategy recorded at once are all counted once."""

from __future__ import annotations

import threading
import time
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection, connections, transaction
from django.forms.models import model_to_dict
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from journal import performance, services
from journal.models import DailyPerformance, StrategyPerformance, Trade, TradeAudit
from tests.helpers import NOW, at_once, ist, trade_fields, user_with_role
from tests.journal.api_data import make_journal
from trading.audit import ControlAudit


def _deletes() -> int:
    return ControlAudit.objects.filter(action="trade_delete").count()


@pytest.mark.django_db
def test_an_edit_or_a_delete_of_a_trade_deleted_since_it_was_read_raises_and_audits_nothing():
    stale = make_journal(3)[0]
    services.trade_delete(trade=Trade.objects.get(pk=stale.pk))
    with pytest.raises(Trade.DoesNotExist):
        services.trade_update(trade=stale, notes="too late")
    with pytest.raises(Trade.DoesNotExist):
        services.trade_delete(trade=stale)
    assert _deletes() == 1
    assert not TradeAudit.objects.filter(trade_id=stale.pk).exists()


def _client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def _wait_for_a_lock_wait(seconds: float = 20) -> None:
    """Until another backend of this database waits on a row lock (the second request, blocked)."""
    deadline = time.monotonic() + seconds
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.05)
    raise AssertionError("the second request never waited for the first one's lock")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("second", ["patch", "delete"])
def test_a_request_racing_a_delete_of_its_trade_is_404_on_postgresql(second):
    if connection.vendor != "postgresql":
        pytest.skip("row locks that make a request wait are PostgreSQL's (SQLite runs one writer at a time)")
    trade = make_journal(3)[0]
    operator = user_with_role("operator", "racer")
    locked, release, answers = threading.Event(), threading.Event(), {}

    def first_delete() -> None:
        try:
            with transaction.atomic():  # the delete's lock held until the second request waits on it
                services.trade_delete(trade=Trade.objects.get(pk=trade.pk), user=operator, source="api")
                locked.set()
                release.wait(30)
        finally:
            connections.close_all()

    def second_request() -> None:
        try:
            client, url = _client(operator), f"/api/trades/{trade.trade_id}/"
            response = client.patch(url, {"notes": "mine"}, format="json") if second == "patch" else None
            answers["status"] = (response or client.delete(url)).status_code
        except BaseException as exc:  # noqa: BLE001 - a 500 raises in the test client
            answers["error"] = exc
        finally:
            connections.close_all()

    deleting = threading.Thread(target=first_delete)
    deleting.start()
    assert locked.wait(30)
    racing = threading.Thread(target=second_request)
    racing.start()
    try:
        _wait_for_a_lock_wait()  # it read the trade (still there for it) and waits for the lock
    finally:
        release.set()
        deleting.join(30)
        racing.join(30)
    assert "error" not in answers, answers.get("error")
    assert answers["status"] == 404
    assert not Trade.objects.filter(pk=trade.pk).exists()
    assert _deletes() == 1
    assert not TradeAudit.objects.filter(trade_id=trade.pk).exists()


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_trades_of_one_day_and_strategy_recorded_at_once_are_all_counted_once():
    """Eight writers at once, each its own trade of the same day, mode and strategy: every trade
    stored, and the day's and the strategy's rows (extended trade by trade under their row locks) as a
    rebuild from the trades computes them."""
    assert connection.vendor == "postgresql"

    def writer(i: int) -> None:
        fields = trade_fields(
            trade_id=f"R-{i}", exit_price=Decimal(96 + 3 * i), exit_time=ist(2026, 5, 5, 11, i)
        )
        services.record_trade(now=NOW, **fields)

    _, errors = at_once(8, writer)
    assert not errors, errors
    assert Trade.objects.filter(trade_id__startswith="R-").count() == 8
    rows = _performance_rows()
    assert rows[0]["trades"] == rows[1]["trades"] == 8
    assert rows[0]["net_pnl"] == rows[1]["net_pnl"] == sum(t.net_pnl for t in Trade.objects.all())
    performance.rebuild_all()  # from the trades, one reading: what the rows must hold
    assert _performance_rows() == rows


def _performance_rows() -> list[dict]:
    """The day's and the strategy's rows, every statistic (not the ids and the time of writing)."""
    rows = (
        DailyPerformance.objects.get(date=date(2026, 5, 5), mode="PAPER"),
        StrategyPerformance.objects.get(strategy_name="PCRStrategy", mode="PAPER"),
    )
    return [{k: v for k, v in model_to_dict(row).items() if k not in ("id", "updated_at")} for row in rows]
