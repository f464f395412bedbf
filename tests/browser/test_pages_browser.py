"""Every page in a real browser at 1440 and 390 px wide, with data and without: no console error, no
sideways scroll of the page, every chart drawn (or its empty state shown). Then each reading fault of
issue 14 with a test of its fixed rendering, and the tearsheet opened from a file with the network off.

One Chromium for the session (conftest), a fresh context per test; the data is small (tests/pages/seed.py).
Screenshots only when BROWSER_SCREENSHOTS=1 (under BROWSER_SCREENSHOT_DIR, /tmp by default)."""

from __future__ import annotations

import os
import re
from decimal import Decimal as D
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client

from journal.services import record_trade
from tests.helpers import NOW, trade_fields
from tests.pages import seed
from trading.core.strategies import registry

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = {"wide": (1440, 900), "phone": (390, 844)}
# The canvases of a report with data (analytics/_report.html), on the page and in the tearsheet.
REPORT_CHARTS = {
    "equity-chart",
    "drawdown-chart",
    "daily-chart",
    "r-chart",
    "excursion-chart",
    "attribution-chart",
}
SHOOT = os.environ.get("BROWSER_SCREENSHOTS", "") == "1"


@pytest.fixture(autouse=True)
def _own_var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"


def open_as(playwright_browser, live_server, user: User, width: str = "wide"):
    """A logged-in page (the session cookie of a Django test client: no login form to fill) that
    records console errors, uncaught exceptions and requests to other hosts in ``page.errors``."""
    client = Client()
    client.force_login(user)
    w, h = WIDTHS[width]
    context = playwright_browser.new_context(accept_downloads=True, viewport={"width": w, "height": h})
    context.set_default_timeout(15_000)
    context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    page = context.new_page()
    page.errors = []
    page.on("console", lambda msg: page.errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    # Nothing from a CDN: any request to another host is an error too.
    page.on(
        "request",
        lambda req: (
            None
            if req.url.startswith((live_server.url, "data:", "blob:"))
            else page.errors.append(f"request to another host: {req.url}")
        ),
    )
    page.base_url = live_server.url
    return page


def visit(page, path: str) -> None:
    response = page.goto(page.base_url + path)
    assert response is not None and response.status < 400, f"{path}: HTTP {response and response.status}"
    page.wait_for_load_state("load")


def no_sideways_scroll(page) -> bool:
    """The page itself never scrolls sideways (wide tables scroll inside their own wrappers)."""
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def charts_state(page) -> dict:
    """Every canvas on the page and whether Chart.js drew a chart on it."""
    return page.evaluate(
        "() => Object.fromEntries([...document.querySelectorAll('canvas')].map(c => "
        "[c.id, !!(window.Chart && Chart.getChart(c))]))"
    )


def check_page(page, path: str, label: str) -> dict:
    page.errors.clear()
    visit(page, path)
    assert no_sideways_scroll(page), f"{path} scrolls sideways at {label}"
    charts = charts_state(page)
    assert all(charts.values()), f"{path} at {label}: charts not drawn {charts}"
    assert page.errors == [], f"{path} at {label}: console errors {page.errors}"
    if SHOOT:
        out = Path(os.environ.get("BROWSER_SCREENSHOT_DIR", "/tmp/journal-browser-shots"))
        out.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "home"
        page.screenshot(path=str(out / f"{name}-{label}.png"), full_page=True)
    return charts


def _pages(trade_pk: int | None) -> list[str]:
    name = registry.names()[0]
    pages = [
        "/",
        "/analytics/",
        "/journal/",
        "/journal/calendar/?month=2026-04&mode=PAPER",
        "/journal/new/",
        "/journal/import/",
        "/strategies/",
        f"/strategies/{name}/",
        "/market/chain/",
        "/control/",
        "/kite/",
        "/api/docs/",
        "/research/drift/",
        "/research/walk-forward/",
        "/research/deflated-sharpe/",
    ]
    if trade_pk is not None:
        pages.insert(3, f"/journal/{trade_pk}/")
        pages.append("/analytics/?strategy=NoSuchStrategy")  # data in the journal, none in the filter
    return pages


def test_every_page_without_data(playwright_browser, live_server):
    user = seed.staff_user()
    for width in WIDTHS:
        page = open_as(playwright_browser, live_server, user, width)
        for path in _pages(None):
            charts = check_page(page, path, width)
            if path == "/analytics/":
                assert charts == {}
                empty = page.locator("[data-empty]")
                assert empty.count() == 9 and all(e.is_visible() for e in empty.all())  # 9th: Monte Carlo
            if path == "/":
                assert charts == {} and page.locator("#sparkline-empty").is_visible()
        # the login page, as someone not logged in sees it
        page.context.clear_cookies()
        check_page(page, "/accounts/login/", width)
        page.context.close()


def test_every_page_with_data(playwright_browser, live_server):
    desk = seed.desk()
    trade = desk["trades"][0]
    drawn = {}
    for width in WIDTHS:
        page = open_as(playwright_browser, live_server, desk["user"], width)
        for path in _pages(trade.pk):
            drawn[(path, width)] = check_page(page, path, width)
        page.context.close()
    for width in WIDTHS:
        assert set(drawn[("/analytics/", width)]) == REPORT_CHARTS
        assert set(drawn[("/", width)]) == {"equity-sparkline"}
        assert set(drawn[(f"/journal/{trade.pk}/", width)]) == {"trade-chart"}
        assert set(drawn[("/market/chain/", width)]) == {"oi-chart"}
        assert drawn[("/analytics/?strategy=NoSuchStrategy", width)] == {}


# --- Issue 14, item 3: the layout faults, measured -------------------------------------------------------

WRAPPED_NUMBERS = """() => [...document.querySelectorAll('td.num, dd.num, .stats b, .key-figures b')]
  .filter(e => { const r = document.createRange(); r.selectNodeContents(e);
                 return new Set([...r.getClientRects()].map(x => Math.round(x.top))).size > 1; })
  .map(e => e.textContent.trim())"""


def _inside(page, wrap: str, cell: str) -> bool:
    """True when ``wrap`` does not scroll sideways and ``cell`` lies inside it."""
    return page.evaluate(
        """([wrap, cell]) => { const w = document.querySelector(wrap), c = document.querySelector(cell);
             const a = w.getBoundingClientRect(), b = c.getBoundingClientRect();
             return w.scrollWidth <= w.clientWidth + 1 && b.right <= a.right + 1 && b.left >= a.left - 1; }""",
        [wrap, cell],
    )


def test_trade_page_shows_at_exit_and_numbers_never_wrap(playwright_browser, live_server):
    desk = seed.desk()
    big = record_trade(
        now=NOW,
        **trade_fields(
            trade_id="BIG-1",
            quantity=65 * 40,
            entry_price=D("474.50"),
            exit_price=D("22.05"),
            spot_price_entry=D("24474.50"),
            spot_price_exit=D("23012.35"),
            max_pain_entry=D("24500"),
            max_pain_exit=D("24450"),
            theta_entry=-1234.5,
            vega_entry=2345.6,
            iv_entry=0.131223,
            iv_exit=0.2011,
        ),
    )
    for width in WIDTHS:
        page = open_as(playwright_browser, live_server, desk["user"], width)
        for trade in (desk["trades"][0], big):
            check_page(page, f"/journal/{trade.pk}/", width)
            assert _inside(page, "#market-context .table-wrap", "#market-context thead th:last-child"), width
            assert page.locator("#market-context thead th:last-child").inner_text() == "At exit"
            assert page.evaluate(WRAPPED_NUMBERS) == [], width
        page.context.close()


def test_journal_table_fits_1440_and_counts_pages(playwright_browser, live_server):
    desk = seed.desk()
    record_trade(
        now=NOW,
        **trade_fields(
            trade_id="WIDE-1", quantity=65 * 30, exit_price=D("0.05"), strategy_name=seed.STRATEGIES[0]
        ),
    )
    # 1440 px, and 1440 px less a classic 17 px scrollbar (headless Chromium draws none)
    for width in (1440, 1423):
        page = open_as(playwright_browser, live_server, desk["user"])
        page.set_viewport_size({"width": width, "height": 900})
        check_page(page, "/journal/?mode=PAPER&per=25", "wide")
        assert _inside(page, ".table-wrap", "#trades thead th:last-child"), width
        assert page.locator("#page-count").inner_text() == "Page 1 of 1 · trades 1–13 of 13"
        assert page.evaluate(WRAPPED_NUMBERS) == []
        page.context.close()


def test_strategies_and_chain_fit_a_phone_even_after_a_resize(playwright_browser, live_server):
    desk = seed.desk()
    page = open_as(playwright_browser, live_server, desk["user"])
    for path in ("/strategies/", "/market/chain/", "/market/chain/?expiry=2099-01-01"):
        page.set_viewport_size({"width": 1440, "height": 900})
        page.goto(page.base_url + path)
        page.set_viewport_size({"width": 390, "height": 844})
        page.wait_for_function("document.documentElement.scrollWidth <= window.innerWidth + 1")
        assert no_sideways_scroll(page), path
    page.context.close()


def test_strategy_comparison_sorts(playwright_browser, live_server):
    desk = seed.desk()
    page = open_as(playwright_browser, live_server, desk["user"])
    check_page(page, "/analytics/", "wide")

    def column(key: str) -> list[float]:
        return page.evaluate(
            f"[...document.querySelectorAll('#strategy-table tbody tr')].map(r => parseFloat(r.dataset.{key}))"
        )

    page.click("#strategy-table th[data-sort=net_pnl] button")
    nets = column("net_pnl")
    assert nets == sorted(nets, reverse=True) and len(nets) == 3
    page.click("#strategy-table th[data-sort=net_pnl] button")
    assert column("net_pnl") == sorted(nets)
    page.click("#strategy-table th[data-sort=name] button")
    names = page.evaluate(
        "[...document.querySelectorAll('#strategy-table tbody tr')].map(r => r.dataset.name)"
    )
    assert names == sorted(names)
    page.context.close()


def test_tearsheet_opens_from_a_file_with_the_network_off(playwright_browser, live_server, tmp_path):
    desk = seed.desk()
    page = open_as(playwright_browser, live_server, desk["user"])
    visit(page, "/analytics/?mode=PAPER")
    with page.expect_download() as download:
        page.click("#tearsheet-link")
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    page.context.close()
    assert path.name.startswith("tearsheet-PAPER-") and path.suffix == ".html"
    for width in WIDTHS.values():
        sheet, requested = _open_offline(playwright_browser, path, width)
        sheet.wait_for_function("() => window.Chart && Chart.getChart('equity-chart') !== undefined")
        charts = charts_state(sheet)
        assert set(charts) == REPORT_CHARTS
        assert all(charts.values()) and sheet.errors == []
        assert [u for u in requested if not u.startswith("file://")] == []
        assert no_sideways_scroll(sheet)
        assert sheet.locator("#key-figures [data-key=trades] b").inner_text() == "12"
        sheet.context.close()


def _open_offline(playwright_browser, path: Path, size: tuple[int, int]):
    """``path`` opened in a context with the network off, where any request but a file's is aborted
    (and recorded): the page, and the URLs it asked for."""
    context = playwright_browser.new_context(offline=True, viewport={"width": size[0], "height": size[1]})
    requested: list[str] = []

    def only_files(route):
        requested.append(route.request.url)
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            route.abort()

    context.route("**/*", only_files)
    sheet = context.new_page()
    sheet.errors = []
    sheet.on("console", lambda msg: sheet.errors.append(msg.text) if msg.type == "error" else None)
    sheet.on("pageerror", lambda exc: sheet.errors.append(str(exc)))
    sheet.goto(path.as_uri())
    return sheet, requested
