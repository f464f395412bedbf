"""The backtest run page in a real browser: a finished run shows its own figures, the analytics report
of its trades (charts drawn) and its trades; a running one's progress bar follows the run as the
worker writes it, and the page turns to the failure when the run fails. No console error, nothing
fetched from another host."""

from __future__ import annotations

import pytest

from tests.backtests.conftest import END, SEED, START, STRATEGY
from tests.browser.test_pages_browser import charts_state, open_as, visit
from tests.helpers import user_with_role
from trading import formats
from trading.execution import backtests
from trading.execution.models import BacktestRun, RunStatus

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _embedded(settings):
    """The embedded set-up (no broker): a run or a sweep started here runs in this process, also when
    the suite has REDIS_URL (the research workers' own tests: test_research_workers.py)."""
    settings.CELERY_TASK_ALWAYS_EAGER = True


@pytest.fixture(autouse=True)
def _own_var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"


def test_the_run_page_shows_the_runs_figures_and_follows_a_running_run(playwright_browser, live_server):
    run = backtests.backtest_execute(
        start=START,
        end=END,
        seed=SEED,
        strategies=[STRATEGY],
        overrides={STRATEGY: {"gap_em": 0.02, "memory": 30}},
    )
    assert run.trade_count > 0
    page = open_as(playwright_browser, live_server, user_with_role("viewer", "v"))
    visit(page, f"/backtests/{run.pk}/")
    assert page.locator("#run-net").inner_text() == formats.inr(run.net_pnl)
    assert page.locator("#run-trades").inner_text() == str(run.trade_count)
    assert page.locator("#trades tbody tr").count() == run.trade_count
    assert page.locator("[data-status-text]").inner_text() == "DONE"
    assert page.locator("#progress progress").evaluate("p => p.value") == 1.0
    # The analytics report of the run's trades: its trade count and drawn charts.
    assert page.locator("#report").get_attribute("data-trades") == str(run.trade_count)
    charts = charts_state(page)
    assert charts.get("equity-chart") and all(charts.values()), charts
    href = page.locator("#tearsheet-link").get_attribute("href")
    assert f"backtest_run={run.pk}" in href
    net_text = formats.inr(run.net_pnl, plus=True)
    assert page.locator('#key-figures [data-key="net_pnl"] b').inner_text() == net_text
    # The tearsheet (the link's download) shows the same figure, opened from the file.
    with page.expect_download() as download:
        page.locator("#tearsheet-link").click()
    sheet = download.value.path()
    assert sheet is not None and net_text in open(sheet, encoding="utf-8").read()
    assert page.errors == []

    # A run in progress: the bar follows what the worker writes, then the failure shows.
    request = backtests.backtest_request(start=START, end=END, seed=SEED, strategies=[STRATEGY])
    running = backtests.backtest_create(request)
    BacktestRun.objects.filter(pk=running.pk).update(status=RunStatus.RUNNING, bars_done=375)
    visit(page, f"/backtests/{running.pk}/")
    assert page.locator("#progress progress").evaluate("p => p.value") == pytest.approx(1 / 3, abs=1e-3)
    BacktestRun.objects.filter(pk=running.pk).update(bars_done=750)
    page.wait_for_function("document.querySelector('#progress progress').value > 0.66")
    assert "750/1125 bars" in page.locator("[data-progress-text]").inner_text()
    backtests.backtest_fail(running.pk, "RuntimeError: the worker's disk filled")
    page.wait_for_selector("#run-error")
    assert "the worker's disk filled" in page.locator("#run-error").inner_text()
    assert page.locator("[data-status-text]").inner_text() == "FAILED"
    assert page.errors == []


def test_a_traders_running_run_is_stopped_from_its_page(playwright_browser, live_server):
    """The Stop button: shown to the run's own trader (not to a viewer); clicked, the page shows the
    run FAILED "stopped by" them, with no button left."""
    trader = user_with_role("trader", "asha")
    request = backtests.backtest_request(start=START, end=END, seed=SEED, strategies=[STRATEGY])
    running = backtests.backtest_create(request, user=trader)
    BacktestRun.objects.filter(pk=running.pk).update(status=RunStatus.RUNNING, bars_done=375)
    viewer = open_as(playwright_browser, live_server, user_with_role("viewer", "v"))
    visit(viewer, f"/backtests/{running.pk}/")
    assert viewer.locator("#stop-run").count() == 0
    page = open_as(playwright_browser, live_server, trader)
    visit(page, f"/backtests/{running.pk}/")
    page.locator("#stop-run button").click()
    page.wait_for_selector("#run-error")
    assert page.locator("#run-error").inner_text() == "Failed: stopped by asha"
    assert (
        page.locator("[data-status-text]").inner_text() == "FAILED" and page.locator("#stop-run").count() == 0
    )
    assert BacktestRun.objects.get(pk=running.pk).status == RunStatus.FAILED
    assert page.errors == [] and viewer.errors == []
