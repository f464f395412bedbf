"""Manual entry (issue 11, item 9): ``record_trade`` - the one place for every caller - refuses times
outside a session of the exchange's calendar, after the contract's expiry or after the caller's clock,
and MAE above 0 or MFE below 0; every bad field is named at once, and the page shows them all.

The calendar facts used: 2026-05-09 is a Saturday; 2026-05-05 a Tuesday (a normal session, 09:15 to
15:30 IST); the contract of ``trade_fields`` expires on Tuesday 2026-05-12.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from rest_framework.test import APIClient

from journal.import_services import import_preview
from journal.models import Trade
from journal.services import record_trade
from tests.helpers import NOW, ist, trade_fields, user_with_role
from tests.journal.test_import import row, tradebook

pytestmark = pytest.mark.django_db
UTC = ZoneInfo("UTC")


def _refused(now=NOW, **over) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as info:
        record_trade(now=now, **trade_fields(**over))
    assert not Trade.objects.exists()
    return info.value.message_dict


def test_the_issues_five_trades_are_refused_each_naming_its_field():
    now = ist(2026, 5, 6, 12, 0)  # the caller's clock: Wednesday noon
    errors = _refused(now, entry_time=ist(2026, 5, 7, 9, 30), exit_time=ist(2026, 5, 7, 10, 0))
    assert "in the future" in errors["entry_time"][0] and "in the future" in errors["exit_time"][0]
    errors = _refused(entry_time=ist(2026, 5, 9, 10, 0), exit_time=ist(2026, 5, 9, 11, 0))
    assert "no session on Saturday" in errors["entry_time"][0]
    errors = _refused(entry_time=ist(2026, 5, 5, 2, 0), exit_time=ist(2026, 5, 5, 10, 0))
    assert (
        list(errors) == ["entry_time"] and "02:00 IST is outside the NSE sessions" in errors["entry_time"][0]
    )
    errors = _refused(entry_time=ist(2026, 5, 13, 9, 30), exit_time=ist(2026, 5, 13, 10, 0))
    assert "after the contract's expiry on 2026-05-12" in errors["exit_time"][0]
    errors = _refused(mae=D("500"))
    assert list(errors) == ["mae"] and "above 0" in errors["mae"][0]
    errors = _refused(mfe=D("-0.01"))
    assert list(errors) == ["mfe"] and "below 0" in errors["mfe"][0]


def test_every_bad_field_is_named_at_once():
    errors = _refused(
        entry_time=ist(2026, 5, 9, 10, 0),
        exit_time=ist(2026, 5, 13, 3, 0),
        mae=D("500"),
        mfe=D("-5"),
        entry_price=D("100.03"),
        quantity=64,
        tags=["ok", "evil\u202etxt"],
    )
    assert set(errors) == {"entry_time", "exit_time", "mae", "mfe", "entry_price", "quantity", "tags"}
    assert len(errors["exit_time"]) == 2  # outside a session, and after the expiry


def test_the_session_includes_its_close_and_an_expiring_option_settles_then():
    trade = record_trade(
        now=NOW,
        **trade_fields(
            trade_id="EXP-1",
            entry_time=ist(2026, 5, 12, 9, 15),
            exit_time=ist(2026, 5, 12, 15, 30),
            exit_price=D("0"),
            exit_type="EXPIRY",
        ),
    )
    assert trade.trade_date.isoformat() == "2026-05-12"
    with pytest.raises(ValidationError) as info:
        record_trade(now=NOW, **trade_fields(trade_id="LATE-1", exit_time=ist(2026, 5, 5, 15, 30, 1)))
    assert "outside the NSE sessions" in info.value.message_dict["exit_time"][0]


def test_the_caller_clock_decides_the_future_the_engines_may_run_ahead_of_the_wall():
    """A simulated session ahead of the wall clock: the engine passes the feed's clock and its trade
    is recorded; the same trade against the wall clock is refused."""
    wall = timezone.now()
    day = (wall + timedelta(days=14)).astimezone(ZoneInfo("Asia/Kolkata")).date()
    while day.weekday() >= 5:
        day += timedelta(days=1)
    entry = datetime(day.year, day.month, day.day, 10, 0, tzinfo=ZoneInfo("Asia/Kolkata"))
    fields = trade_fields(
        trade_id="SIM-AHEAD",
        entry_time=entry,
        exit_time=entry + timedelta(minutes=30),
        expiry_date=(day + timedelta(days=7)).isoformat(),
    )
    with pytest.raises(ValidationError) as info:
        record_trade(now=wall, **fields)
    assert "in the future" in info.value.message_dict["exit_time"][0]
    feed_clock = entry + timedelta(minutes=31)
    assert record_trade(now=feed_clock, origin="ENGINE", **fields).origin == "ENGINE"


def test_record_trade_needs_the_callers_clock():
    with pytest.raises(TypeError):
        record_trade(**trade_fields())  # the missing keyword is the point
    with pytest.raises(ValueError, match="aware"):
        record_trade(now=datetime(2030, 1, 1), **trade_fields())


# --- the callers: page, API, import ---------------------------------------------------------------------


FORM = {
    "trade_id": "MAN-1",
    "symbol": "NIFTY",
    "instrument_type": "CALL",
    "strike_price": "24000",
    "expiry_date": "2026-05-12",
    "side": "LONG",
    "quantity": "65",
    "entry_time": "2026-05-09T10:00",  # a Saturday
    "entry_price": "100",
    "exit_time": "2026-05-13T02:00",  # after the expiry, at night
    "exit_price": "abc",  # does not parse: the form's own error
    "exit_type": "MANUAL",
    "entry_mode": "PAPER",
    "data_source": "SIM",
    "strategy_name": "MANUAL",
    "mae": "500",
    "mfe": "-5",
}


def test_the_manual_entry_page_shows_every_error_at_once(client):
    client.force_login(user_with_role("trader"))
    response = client.post("/journal/new/", FORM)
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert set(errors) == {"entry_time", "exit_time", "exit_price", "mae", "mfe"}, errors
    page = response.content.decode()
    for text in ("no session on Saturday", "after the contract&#x27;s expiry", "above 0", "below 0"):
        assert text in page
    assert not Trade.objects.exists()


def test_the_api_names_every_bad_field():
    client = APIClient()
    client.force_authenticate(user_with_role("trader"))
    body = {
        **{k: str(v) for k, v in trade_fields(trade_id="API-1").items()},
        "entry_time": "2026-05-09T10:00:00+05:30",
        "exit_time": "2099-05-11T10:00:00+05:30",
        "mae": "500",
    }
    response = client.post("/api/trades/", body, format="json")
    assert response.status_code == 400
    errors = response.json()
    assert set(errors) == {"entry_time", "exit_time", "mae"}
    assert any("in the future" in m for m in errors["exit_time"])


def test_an_import_with_a_fill_on_a_saturday_is_refused():
    content = tradebook(
        row("NIFTY2651224000CE", "buy", 65, "100.00", "S1", "O1", "10:00:00", day="2026-05-09"),
        row("NIFTY2651224000CE", "sell", 65, "110.00", "S2", "O2", "11:00:00", day="2026-05-09"),
    )
    preview = import_preview(content=content, filename="tb.csv", now=NOW)
    assert not preview.ok
    assert "no session on Saturday" in str(preview.errors[0])


def test_the_admin_refuses_a_trade_in_the_future(client):
    client.force_login(user_with_role("operator"))
    future = (timezone.now() + timedelta(days=3)).astimezone(ZoneInfo("Asia/Kolkata")).date()
    data = {
        "trade_id": "ADM-1",
        "symbol": "NIFTY",
        "exchange": "NFO",
        "instrument_type": "CALL",
        "strike_price": "24000",
        "expiry_date": (future + timedelta(days=7)).isoformat(),
        "side": "LONG",
        "entry_time_0": future.isoformat(),
        "entry_time_1": "10:00:00",
        "exit_time_0": future.isoformat(),
        "exit_time_1": "11:00:00",
        "entry_price": "100",
        "exit_price": "110",
        "quantity": "65",
        "entry_mode": "PAPER",
        "data_source": "SIM",
        "exit_type": "MANUAL",
        "strategy_name": "MANUAL",
        "entry_orders": "1",
        "exit_orders": "1",
        "entry_features": "{}",
        "audits-TOTAL_FORMS": "0",
        "audits-INITIAL_FORMS": "0",
    }
    response = client.post("/admin/journal/trade/add/", data)
    assert response.status_code == 200  # the form again, with its errors
    assert "in the future" in response.content.decode() or "no session" in response.content.decode()
    assert not Trade.objects.exists()


# --- special sessions of the exchange calendar (trading/core/data/special_sessions.csv) ------------------------


def _special(trade_id: str, day, start: tuple[int, int], end: tuple[int, int], expiry: str) -> dict:
    from trading.core import contracts

    lot = contracts.lot_size("NIFTY", date.fromisoformat(expiry))
    return trade_fields(
        trade_id=trade_id,
        entry_time=ist(day.year, day.month, day.day, *start),
        exit_time=ist(day.year, day.month, day.day, *end),
        expiry_date=expiry,
        quantity=lot,
    )


def test_a_trade_in_the_muhurat_hour_is_accepted_and_outside_it_refused():
    """2025-10-21, a holiday (Diwali), had one NSE session: Muhurat trading, 13:45-14:45 IST."""
    diwali = date(2025, 10, 21)
    trade = record_trade(now=NOW, **_special("MUH-1", diwali, (13, 50), (14, 40), "2025-10-28"))
    assert trade.trade_date == diwali
    with pytest.raises(ValidationError) as info:
        record_trade(now=NOW, **_special("MUH-2", diwali, (10, 0), (14, 40), "2025-10-28"))
    errors = info.value.message_dict
    assert list(errors) == ["entry_time"] and "(13:45-14:45 IST)" in errors["entry_time"][0]


def test_a_trade_in_the_sunday_budget_session_is_accepted_and_another_sunday_refused():
    """2026-02-01 was a Sunday with a full session for the Union Budget; 2026-02-08 was not."""
    budget = date(2026, 2, 1)
    assert record_trade(now=NOW, **_special("BUD-1", budget, (10, 0), (11, 0), "2026-02-03")).pk
    with pytest.raises(ValidationError) as info:
        record_trade(now=NOW, **_special("BUD-2", date(2026, 2, 8), (10, 0), (11, 0), "2026-02-10"))
    assert "no session on Sunday" in info.value.message_dict["entry_time"][0]
