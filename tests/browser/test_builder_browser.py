"""The strategy builder in a real browser: add legs and see the payoff redraw, a template, a bad leg
named, and the page at 390 px. Screenshots go under /tmp."""

from __future__ import annotations

import re
from datetime import date, datetime, time

import pytest

from tests.helpers import user_with_role
from trading.core import calendar as market_calendar
from trading.market.services import snapshot_store
from trading.marketdata.simulated import SimulatedFeed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "builder-pw-1"


def _curve(page) -> list[float]:
    return page.evaluate("() => Chart.getChart('payoff-chart').data.datasets[0].data.map(p => p.y)")


def _computed(page, after: int) -> int:
    page.wait_for_function(f"() => Number(document.body.dataset.computed || 0) > {after}")
    return int(page.evaluate("() => Number(document.body.dataset.computed)"))


def test_build_a_combo_and_see_its_payoff(page, screenshot_dir) -> None:
    user_with_role("viewer", "op", password=PASSWORD)
    feed = SimulatedFeed(seed=4, start=date(2025, 10, 1))
    snapshot_store(
        feed.snapshot(datetime.combine(date(2025, 10, 6), time(11, 1), tzinfo=market_calendar.IST)), "SIM"
    )
    page.goto(page.base_url + "/builder/")
    page.fill("input[name=username]", "op")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/builder/$"))
    # The stored snapshot's spot starts the page with one long ATM call, drawn.
    n = _computed(page, 0)
    assert page.locator("#legs-table tbody tr").count() == 1
    assert page.locator("#figures [data-k=max_profit]").inner_text() == "unlimited"
    one_leg = _curve(page)
    # Add a leg: sell a call 200 points higher - a bull call spread: the curve changes, profit capped.
    page.click("#add-leg")
    row = page.locator("#legs-table tbody tr").nth(1)
    strike = float(page.locator("#legs-table tbody tr").nth(0).locator(".strike").input_value())
    row.locator(".side").select_option("SELL")
    row.locator(".strike").fill(str(strike + 200))
    n = _computed(page, n)
    page.wait_for_function(
        "() => document.querySelector('#figures [data-k=max_profit]').textContent !== 'unlimited'"
    )
    assert _curve(page) != one_leg
    assert page.locator("#greeks-table tbody tr").count() == 2
    # A bad leg is named, and its row marked.
    row.locator(".lots").fill("0")
    page.wait_for_function(
        "() => document.getElementById('builder-error').textContent.includes('Leg 2 lots')"
    )
    assert "bad" in (row.get_attribute("class") or "")
    row.locator(".lots").fill("2")
    n = _computed(page, n)
    assert page.locator("#builder-error").inner_text() == ""
    # A template replaces the legs.
    page.select_option("#template", "iron_condor")
    page.click("#use-template")
    page.wait_for_function("() => document.querySelectorAll('#legs-table tbody tr').length === 4")
    n = _computed(page, n)
    assert page.locator("#figures [data-k=max_loss]").inner_text().startswith("-")
    page.screenshot(path=str(screenshot_dir / "builder.png"), full_page=True)
    # Usable at 390 px: nothing wider than the screen but the tables' own scrolling boxes.
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(200)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(screenshot_dir / "builder-390.png"), full_page=True)
