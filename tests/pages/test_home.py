"""The home page: the desk at a glance, its numbers against sums written in the test."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from decimal import Decimal as D
from html import unescape

import pytest
from django.test import Client

from journal.models import Trade
from journal.selectors import period_nets
from journal.services import record_trade
from tests.helpers import NOW, ist, trade_fields, user_with_role
from tests.pages import seed
from trading import formats

pytestmark = pytest.mark.django_db

TODAY = date(2026, 5, 20)  # a Wednesday


def _trade(i: int, day: date, exit_price: str) -> Trade:
    at = ist(day.year, day.month, day.day, 10, 0)
    return record_trade(
        now=NOW,
        **trade_fields(
            trade_id=f"H-{i}",
            entry_time=at,
            exit_time=at + timedelta(minutes=20),
            exit_price=D(exit_price),
            expiry_date="2026-05-26",
        ),
    )


def test_period_nets_are_sums_of_the_right_days():
    days = [TODAY, TODAY - timedelta(days=1), TODAY - timedelta(days=2), date(2026, 5, 15), date(2026, 4, 30)]
    made = [_trade(i, d, "120" if i % 2 == 0 else "95") for i, d in enumerate(days)]
    _trade(99, TODAY, "130")  # a second trade today
    made.append(Trade.objects.get(trade_id="H-99"))
    record_trade(
        now=NOW,
        **trade_fields(
            trade_id="L-1",
            entry_mode="LIVE",
            data_source="KITE",
            exit_time=ist(2026, 5, 20, 11),
            expiry_date="2026-05-26",
        ),
    )

    def net(since: date) -> D:
        return sum((t.net_pnl for t in made if since <= t.trade_date <= TODAY), D("0.00"))

    got = {p.label: (p.trades, p.net_pnl) for p in period_nets(mode="PAPER", today=TODAY)}
    assert got == {
        "Today": (2, net(TODAY)),
        "This week": (4, net(date(2026, 5, 18))),  # Monday 18 May
        "This month": (5, net(date(2026, 5, 1))),
    }


def test_home_page_shows_the_desk(settings):
    settings.TRADING_MODE = "PAPER"
    desk = seed.desk()
    client = Client()
    client.force_login(desk["user"])
    response = client.get("/")
    assert response.status_code == 200
    html = unescape(response.content.decode())
    # the open position marked at its last price: (112.35 - 100) x 65 = 802.75
    assert "+₹802.75" in html and "NIFTY26MAY24000CE" in html
    # breaker tripped, kill switch off
    assert re.search(r'id="breaker"[^>]*>TRIPPED: daily loss limit', html)
    assert re.search(r'id="kill-switch"[^>]*>off<', html)
    # the last five trades, newest first, each linking to its page
    last = list(Trade.objects.filter(entry_mode="PAPER").order_by("-exit_time", "-id")[:5])
    rows = re.findall(r'<td><a href="/journal/(\d+)/">\d\d \w{3} \d\d:\d\d</a></td>', html)
    assert [int(pk) for pk in rows] == [t.pk for t in last]
    # the sparkline: capital + every trade's net, at the last point
    data = json.loads(re.search(r'id="sparkline-data" type="application/json">(.*?)</script>', html).group(1))
    total = sum(t.net_pnl for t in Trade.objects.filter(entry_mode="PAPER"))
    assert data["equity"][-1] == pytest.approx(float(settings.TRADING_CAPITAL) + float(total), abs=0.005)
    assert formats.inr(data["last"], 0) in html
    # links onward
    for href in ("/journal/", "/analytics/", "/strategies/", "/market/chain/", "/control/", "/kite/"):
        assert f'href="{href}"' in html


def test_home_page_without_anything_yet(django_user_model):
    client = Client()
    client.force_login(user_with_role("viewer", "new"))
    html = client.get("/").content.decode()
    assert "No closed trades yet" in html and "No open positions." in html
    assert 'id="sparkline-empty"' in html
    assert 'href="/control/"' not in html  # a viewer: no control links


def test_home_needs_a_login():
    response = Client().get("/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
