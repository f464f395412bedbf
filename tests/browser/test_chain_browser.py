"""The option-chain page in a real browser: log in, see the table, the OI chart drawn by the vendored
Chart.js, switch the expiry. A screenshot goes under /tmp, not into the repo."""

from __future__ import annotations

import re
import secrets
from datetime import date, datetime, time

import pytest

from tests.helpers import user_with_role
from trading.core import calendar as market_calendar
from trading.market.services import snapshot_store
from trading.marketdata.simulated import SimulatedFeed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = secrets.token_urlsafe(16)  # a fresh test password each run


def test_chain_page_draws_the_oi_chart(page, screenshot_dir) -> None:
    user_with_role("viewer", "trader", password=PASSWORD)
    feed = SimulatedFeed(seed=4, start=date(2025, 10, 1))
    for hh, mm in ((9, 16), (11, 1)):
        at = datetime.combine(date(2025, 10, 6), time(hh, mm), tzinfo=market_calendar.IST)
        snapshot_store(feed.snapshot(at), "SIM")
    page.goto(page.base_url + "/market/chain/")
    page.fill("input[name=username]", "trader")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/market/chain/$"))
    assert page.locator("#chain-table tbody tr").count() == 41
    assert page.locator("#chain-table tr.atm").count() == 1
    page.wait_for_function("() => window.Chart && Chart.getChart('oi-chart') !== undefined")
    bars = page.evaluate("() => Chart.getChart('oi-chart').data.datasets.map(d => d.data.length)")
    assert bars == [41, 41, 41, 41]
    page.screenshot(path=str(screenshot_dir / "chain.png"), full_page=True)
    page.select_option("select[name=expiry]", "2025-10-28")
    page.click("form.chain-form button[type=submit]")
    page.wait_for_url(re.compile(r".*expiry=2025-10-28.*"))
    assert page.locator("select[name=expiry]").input_value() == "2025-10-28"
