"""Analytics' starting capital per mode (``ANALYTICS_CAPITAL``): each mode's equity and returns start
from its own capital, a mode not named from ``TRADING_CAPITAL``; a bad setting stops the start, named."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from tests.analytics.test_api import _get, _naive_days, _paper, _trades
from tradingsite.settings import _capital_by_mode

pytestmark = pytest.mark.django_db


def test_each_mode_starts_from_its_own_capital(api, settings):
    trades = _trades()
    settings.ANALYTICS_CAPITAL = {"PAPER": 100_000.0, "ALL": 2_000_000.0}
    settings.TRADING_CAPITAL = 750_000.0
    naive = _naive_days(_paper(trades), 100_000.0)  # the walk of the test module, on this capital
    daily = _get(api, "daily")["days"]
    assert [d["return"] for d in daily] == pytest.approx([d["return"] for d in naive], rel=1e-9)
    assert _get(api, "equity")["capital"] == 100_000.0
    assert _get(api, "summary")["capital"] == 100_000.0
    assert _get(api, "equity", mode="LIVE")["capital"] == 750_000.0  # not named: TRADING_CAPITAL
    assert _get(api, "equity", mode="ALL")["capital"] == 2_000_000.0


def test_the_setting_is_read_strictly():
    assert _capital_by_mode([]) == {}
    assert _capital_by_mode(["paper=100000", "LIVE = 2.5e5"]) == {"PAPER": 100000.0, "LIVE": 250000.0}
    for bad in ("PAPER", "PAPER=", "PAPER=abc", "PAPER=-5", "PAPER=0", "PAPER=nan", "PAPER=inf", "SIM=5"):
        with pytest.raises(ImproperlyConfigured, match="ANALYTICS_CAPITAL item"):
            _capital_by_mode([bad])
