"""The research pages with data in Chromium at both widths: the drift report of a recorded day and a
run's Monte Carlo - no sideways scroll, no console error, every row and band drawn."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest

from tests.browser.test_pages_browser import WIDTHS, check_page, open_as
from tests.pages import seed
from tests.research.data import DAY, drifted_day
from trading.execution.models import BacktestRun

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_drift_and_monte_carlo_pages(playwright_browser, live_server, settings, tmp_path):
    drifted = drifted_day(settings, tmp_path)
    run = BacktestRun.objects.create(start=date(2026, 5, 4), end=date(2026, 5, 8), status="DONE")
    user = seed.staff_user()
    for width in WIDTHS:
        page = open_as(playwright_browser, live_server, user, width)
        check_page(page, f"/research/drift/?start={DAY.isoformat()}", width)
        assert page.locator("#drift-rows tbody tr").count() == len(drifted["trades"])
        assert page.locator('#drift-rows tr[data-status="missed"]').count() == 1
        check_page(
            page, f"/research/runs/{run.pk}/monte-carlo/?method=bootstrap&runs=200&floor=490000", width
        )
        assert page.locator("#mc-bands polyline").count() == 3
        if os.environ.get("BROWSER_SCREENSHOTS") == "1":
            out = Path(os.environ.get("BROWSER_SCREENSHOT_DIR", "/tmp/journal-browser-shots"))
            out.mkdir(parents=True, exist_ok=True)
            page.goto(page.base_url + f"/research/drift/?start={DAY.isoformat()}")
            page.screenshot(path=str(out / f"research-drift-{width}.png"), full_page=True)
        page.context.close()
