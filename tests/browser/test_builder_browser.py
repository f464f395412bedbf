"""The strategy builder in a real browser: add legs and see the payoff redraw, a template, a bad leg
named, save, start a backtest, and the page at 390 px. Screenshots go under /tmp."""

from __future__ import annotations

import re
import secrets
from datetime import date, datetime, time

import pytest

from tests.helpers import user_with_role
from trading.core import calendar as market_calendar
from trading.execution.models import BacktestRun
from trading.market.services import snapshot_store
from trading.marketdata.simulated import SimulatedFeed
from trading.strategies.models import StrategyConfig

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = secrets.token_urlsafe(16)  # a fresh test password each run


def _curve(page) -> list[float]:
    return page.evaluate("() => Chart.getChart('payoff-chart').data.datasets[0].data.map(p => p.y)")


def _computed(page, after: int) -> int:
    page.wait_for_function(f"() => Number(document.body.dataset.computed || 0) > {after}")
    return int(page.evaluate("() => Number(document.body.dataset.computed)"))


def test_build_save_and_backtest(page, screenshot_dir, settings) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = True  # the run is made by the web process, as embedded
    user_with_role("operator", "op", password=PASSWORD)
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
    # Save as a strategy's configuration, then backtest that strategy with one click.
    page.select_option("#save-strategy", "PCRStrategy")
    page.click("#save")
    page.wait_for_selector("#saved-table tr[data-name='PCRStrategy']")
    spec = StrategyConfig.objects.get(name="PCRStrategy").combo["spec"]
    assert spec["name"] == "iron_condor" and len(spec["legs"]) == 4
    # Load it back after removing a leg: the four legs return.
    page.locator("#legs-table tbody tr").nth(0).locator("button.remove").click()
    assert page.locator("#legs-table tbody tr").count() == 3
    page.click("#saved-table button.load[data-name='PCRStrategy']")
    page.wait_for_function("() => document.querySelectorAll('#legs-table tbody tr').length === 4")
    page.fill("#bt-start", "2025-11-17")
    page.fill("#bt-end", "2025-11-18")
    page.click("#saved-table button.backtest[data-name='PCRStrategy']")
    page.wait_for_function(
        "() => /Backtest run \\d+: DONE/.test(document.getElementById('backtest-result').textContent)",
        timeout=120_000,
    )
    run = BacktestRun.objects.get()
    assert run.strategies == ["PCRStrategy"]
    assert page.locator("#backtest-link").get_attribute("href") == f"/backtests/{run.pk}/"
    # Usable at 390 px: nothing wider than the screen but the tables' own scrolling boxes.
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(200)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(screenshot_dir / "builder-390.png"), full_page=True)
