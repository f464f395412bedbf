"""The strategies page, its staff-only switch, and the admin that saves through the service."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from journal.models import StrategyPerformance
from tests.helpers import user_with_role
from trading.core.strategies import registry
from trading.strategies.models import StrategyConfig, StrategyConfigAudit
from trading.strategies.services import ensure_strategy_configs, signal_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff():
    return get_user_model().objects.create_user("desk", password="pw", is_staff=True, is_superuser=True)


@pytest.fixture
def trader():
    return user_with_role("trader", "trader", password="pw")


def _client(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def test_page_needs_a_login():
    res = Client().get("/strategies/")
    assert res.status_code == 302 and "/accounts/login/" in res["Location"]


def test_page_shows_every_strategy_with_rules_params_signals_and_performance(trader):
    signal_record(
        strategy_name="PCRStrategy", bar_time=datetime(2025, 1, 6, 4, 0, tzinfo=UTC), direction="PUT", strength=0.7,
        reason="PCR 1.45 > 1.30 and close 23900 < EMA20 23990 - 11 (VIX 14.0, normal)",
    )  # fmt: skip
    StrategyPerformance.objects.create(
        strategy_name="PCRStrategy", mode="PAPER", trades=3, net_pnl=Decimal("1234.50")
    )
    body = _client(trader).get("/strategies/").content.decode()
    for name in registry.names():
        assert f'id="{name}"' in body
    assert "PCR 1.45 &gt; 1.30 and close 23900" in body  # the reason of the recent signal
    assert "<dt>Last accepted signal</dt><dd>2025-01-06 09:30</dd>" in body  # 04:00 UTC, shown in IST
    assert "pcr_high" in body and "contrarian" in body  # parameters and rules
    assert "₹1,234.50" in body  # performance once analytics has rows (Indian grouping)
    assert "No closed trades yet." in body  # the other strategies
    assert "Disable</button>" not in body  # no switch for non-staff


def test_detail_page(trader):
    res = _client(trader).get("/strategies/SupertrendStrategy/")
    assert res.status_code == 200 and "Supertrend(10, 3)" in res.content.decode()
    assert _client(trader).get("/strategies/NoSuch/").status_code == 404


def test_staff_switch_goes_through_the_service(staff, trader):
    ensure_strategy_configs()
    assert "Disable</button>" in _client(staff).get("/strategies/").content.decode()
    res = _client(staff).post("/strategies/PCRStrategy/enabled/", {"enabled": "0"})
    assert res.status_code == 302
    assert not StrategyConfig.objects.get(name="PCRStrategy").enabled
    audit = StrategyConfigAudit.objects.get()
    assert (audit.field, audit.old_value, audit.new_value, audit.user.username) == (
        "enabled",
        "true",
        "false",
        "desk",
    )
    # a non-staff user cannot switch
    _client(trader).post("/strategies/PCRStrategy/enabled/", {"enabled": "1"})
    assert (
        not StrategyConfig.objects.get(name="PCRStrategy").enabled
        and StrategyConfigAudit.objects.count() == 1
    )


def _admin_data(config: StrategyConfig, **over) -> dict:
    data = {
        "enabled": "on" if config.enabled else "",
        "index": config.index,
        "parameters": "{}",
        "capital_allocation": str(config.capital_allocation),
        "max_open_positions": str(config.max_open_positions),
        "cooldown_minutes": str(config.cooldown_minutes),
        "audits-TOTAL_FORMS": "0",
        "audits-INITIAL_FORMS": "0",
        "audits-MIN_NUM_FORMS": "0",
        "audits-MAX_NUM_FORMS": "0",
    }
    data.update(over)
    return {k: v for k, v in data.items() if v != ""}


def test_admin_save_is_validated_and_audited(staff):
    ensure_strategy_configs()
    config = StrategyConfig.objects.get(name="PCRStrategy")
    url = f"/admin/trading/strategyconfig/{config.pk}/change/"
    client = _client(staff)
    assert client.get("/admin/trading/strategyconfig/").status_code == 200
    assert client.get(url).status_code == 200
    bad = client.post(url, _admin_data(config, parameters='{"pcr_high": 9}'))
    assert bad.status_code == 200 and "pcr_high: 9.0 is above the maximum 3.0" in bad.content.decode()
    assert (
        StrategyConfig.objects.get(pk=config.pk).parameters == {} and not StrategyConfigAudit.objects.exists()
    )
    good = client.post(url, _admin_data(config, parameters='{"pcr_high": 1.6}', cooldown_minutes="45"))
    assert good.status_code == 302, good.content.decode()[:2000]
    saved = StrategyConfig.objects.get(pk=config.pk)
    assert saved.parameters == {"pcr_high": 1.6} and saved.cooldown_minutes == 45
    assert set(StrategyConfigAudit.objects.values_list("field", "new_value", "user__username")) == {
        ("parameters.pcr_high", "1.6", "desk"), ("cooldown_minutes", "45", "desk"),
    }  # fmt: skip
