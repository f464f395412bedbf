"""A manual edit through the admin re-derives the trade, refreshes the performance rows and audits."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest
from django.contrib.admin import autodiscover
from django.contrib.admin.sites import site
from django.forms import MultiWidget
from django.test import RequestFactory

from journal.models import DailyPerformance, StrategyPerformance, Trade, TradeAudit
from journal.services import record_trade
from tests.helpers import NOW, trade_fields

pytestmark = pytest.mark.django_db

autodiscover()  # the ModelAdmins registered, whether or not a test before loaded the URLs


def _admin_post_data(admin_user, trade) -> dict:
    """What the admin's change form would post back unchanged, built from the form itself."""
    model_admin = site._registry[Trade]
    request = RequestFactory().get("/")
    request.user = admin_user
    form = model_admin.get_form(request, trade)(instance=trade)
    data = {}
    for name, bound in form.fields.items():
        value = form[name].value()
        widget = bound.widget
        if isinstance(widget, MultiWidget):
            parts = widget.decompress(value)
            for i, (sub, part) in enumerate(zip(widget.widgets, parts, strict=True)):
                data[f"{name}_{i}"] = sub.format_value(part) or ""
        elif value is None:
            data[name] = ""
        elif isinstance(value, bool):
            if value:
                data[name] = "on"
        else:
            formatted = widget.format_value(value)
            data[name] = "" if formatted is None else formatted
    data.update(
        {
            "audits-TOTAL_FORMS": "0",
            "audits-INITIAL_FORMS": "0",
            "audits-MIN_NUM_FORMS": "0",
            "audits-MAX_NUM_FORMS": "1000",
        }
    )
    return data


def test_admin_edit_recomputes_and_audits(admin_client, admin_user):
    trade = record_trade(now=NOW, **trade_fields())
    data = _admin_post_data(admin_user, trade)
    data["exit_price"] = "130.00"
    data["notes"] = "took profit late"
    response = admin_client.post(f"/admin/journal/trade/{trade.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    trade.refresh_from_db()
    # exit 130: gross 65 x 30 = 1950. Charges: brokerage 40; STT 0.15% x 8450 = 12.675 -> 13;
    # txn 0.03553% x 14950 = 5.3117 -> 5.31; SEBI 0.01495 -> 0.01; stamp 0.20; GST 18% x 45.32 = 8.1576 -> 8.16
    # total 66.68; net 1883.32
    assert trade.total_charges == D("66.68") and trade.net_pnl == D("1883.32")
    assert trade.notes == "took profit late"
    assert DailyPerformance.objects.get(date=date(2026, 5, 5), mode="PAPER").net_pnl == D("1883.32")
    assert StrategyPerformance.objects.get(strategy_name="PCRStrategy", mode="PAPER").net_pnl == D("1883.32")
    audit = TradeAudit.objects.get(trade=trade, field="exit_price")
    assert (audit.old_value, audit.new_value, audit.user, audit.source) == (
        "120.00",
        "130.00",
        admin_user,
        "admin",
    )
    assert TradeAudit.objects.filter(trade=trade, field="net_pnl", new_value="1883.32").exists()


def test_admin_edit_that_breaks_a_rule_is_not_saved(admin_client, admin_user):
    trade = record_trade(now=NOW, **trade_fields())
    data = _admin_post_data(admin_user, trade)
    data["exit_price"] = "130.03"
    admin_client.post(f"/admin/journal/trade/{trade.pk}/change/", data)
    trade.refresh_from_db()
    assert trade.exit_price == D("120.00") and not TradeAudit.objects.exists()


def test_performance_tables_are_read_only_in_the_admin(admin_client):
    record_trade(now=NOW, **trade_fields())
    row = DailyPerformance.objects.get()
    assert admin_client.get("/admin/journal/dailyperformance/").status_code == 200
    assert admin_client.get("/admin/journal/dailyperformance/add/").status_code == 403
    response = admin_client.post(f"/admin/journal/dailyperformance/{row.pk}/change/", {"trades": "9"})
    assert response.status_code == 403
