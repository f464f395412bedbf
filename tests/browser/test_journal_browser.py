"""The trader's evening, in a real browser: log in, filter the journal, open a trade, edit its notes,
export CSV, import a tradebook with a bad row (error shown), then a good one (preview -> confirm).
Screenshots of the list and the detail at phone width (390 px) go under /tmp, not into the repo."""

from __future__ import annotations

import csv
import io
import re
import secrets
from datetime import date, timedelta
from decimal import Decimal as D

import pytest

from journal.models import Trade, TradeAudit
from journal.serializers import TRADE_COLUMNS
from journal.services import record_trade
from tests.helpers import NOW, ist, trade_fields, user_with_role
from tests.journal.test_import import GOOD, row, tradebook
from trading import formats
from trading.core import calendar as market_calendar

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = secrets.token_urlsafe(16)  # a fresh test password each run


@pytest.fixture(autouse=True)
def _own_var_dir(settings, tmp_path):
    """Uploads waiting for confirmation are stashed under VAR_DIR/imports: keep them out of var/."""
    settings.VAR_DIR = tmp_path / "var"


def _seed() -> None:
    user_with_role("trader", "trader", password=PASSWORD)
    # Eight sessions of May 2026 (a trade's times must fall in one), all before the contract's expiry.
    for i, day in enumerate(market_calendar.trading_days(date(2026, 5, 4), date(2026, 5, 25))[:8]):
        start = ist(day.year, day.month, day.day, 9, 30)
        record_trade(
            now=NOW,
            **trade_fields(
                trade_id=f"B-{i}",
                expiry_date="2026-05-26",
                entry_time=start,
                exit_time=start + timedelta(minutes=45),
                exit_price=D("120") if i % 3 else D("90"),
                exit_type="TARGET" if i % 3 else "STOP_LOSS",
                strategy_name="ORB" if i % 2 else "PCRStrategy",
                vix_entry=13.0 + i,
                spot_price_entry=D("24000") + i,
                spot_price_exit=D("24040") + i,
            ),
        )


def _login(page) -> None:
    page.goto(page.base_url + "/journal/")
    assert "/accounts/login/" in page.url
    page.fill("input[name=username]", "trader")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/journal/$"))


def _no_page_scroll(page) -> bool:
    """True when the page itself does not scroll sideways (tables scroll inside their wrappers)."""
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_trader_evening(page, tmp_path, screenshot_dir):
    _seed()
    _login(page)
    assert page.locator("#trades tbody tr").count() == 8

    # Filter the journal: ORB only.
    page.fill("input[name=strategy]", "ORB")
    page.click("#filters button[type=submit]")
    page.wait_for_url(re.compile(r".*strategy=ORB.*"))
    orb = Trade.objects.filter(strategy_name="ORB").order_by("-exit_time", "-id")
    assert page.locator("#trades tbody tr").count() == orb.count() == 4
    assert page.locator("#total-trades").inner_text() == "4"
    net = sum(t.net_pnl for t in orb)
    assert page.locator("#total-net").inner_text() == formats.inr(net)

    # Export CSV with the same filter: a download whose rows are exactly the filtered trades.
    with page.expect_download() as download_info:
        page.click("#export-csv")
    path = tmp_path / "export.csv"
    download_info.value.save_as(path)
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert tuple(rows[0]) == TRADE_COLUMNS
    exported = {r[TRADE_COLUMNS.index("trade_id")]: r for r in rows[1:]}
    assert set(exported) == {t.trade_id for t in orb}
    first = orb[0]
    assert exported[first.trade_id][TRADE_COLUMNS.index("net_pnl")] == str(first.net_pnl)

    # Journal list at phone width.
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    assert _no_page_scroll(page)
    page.screenshot(path=str(screenshot_dir / "journal-list-390.png"), full_page=True)
    # The P&L calendar at phone width too: days coloured, the month's net matches.
    page.goto(page.base_url + "/journal/calendar/?month=2026-05&mode=PAPER")
    assert _no_page_scroll(page)
    assert page.locator(".cal-day.win").count() + page.locator(".cal-day.loss").count() == 8
    page.screenshot(path=str(screenshot_dir / "calendar-390.png"), full_page=True)
    page.go_back()
    page.set_viewport_size({"width": 1280, "height": 900})

    # Open the newest ORB trade.
    page.locator("#trades tbody tr").first.locator("a").first.click()
    page.wait_for_url(re.compile(rf".*/journal/{first.pk}/$"))
    assert first.tradingsymbol in page.locator("h1").inner_text()
    assert page.locator("dd[data-field=net_pnl]").inner_text() == formats.inr(first.net_pnl)
    # The chart drew (Chart.js from static/vendor, no CDN).
    assert page.evaluate("typeof Chart") == "function"
    assert page.evaluate("Chart.getChart(document.getElementById('trade-chart')) !== undefined")

    # Edit its notes in place (fetch), see the audit row appear without a reload.
    page.fill("#annotate-form textarea[name=notes]", "Chased the breakout; size was right.")
    page.fill("#annotate-form input[name=tags]", "breakout, review")
    page.click("#annotate-form button[type=submit]")
    page.wait_for_selector("#annotate-status.win")
    assert page.locator("#annotate-status").inner_text() == "Saved"
    assert "Chased the breakout" in page.locator("#audit-history").inner_text()
    first.refresh_from_db()
    assert first.notes == "Chased the breakout; size was right." and first.tag_list == ["breakout", "review"]
    audit = TradeAudit.objects.get(trade=first, field="notes")
    assert audit.source == "page" and audit.user.username == "trader"
    page.reload()
    assert page.locator("#annotate-form textarea[name=notes]").input_value() == first.notes

    # Trade detail at phone width.
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    page.wait_for_function("Chart.getChart(document.getElementById('trade-chart')) !== undefined")
    assert _no_page_scroll(page)
    page.screenshot(path=str(screenshot_dir / "trade-detail-390-top.png"))
    page.screenshot(path=str(screenshot_dir / "trade-detail-390.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})

    # Import a tradebook with a bad row: the line and reason are shown, nothing is imported.
    bad = tmp_path / "tradebook-bad.csv"
    bad.write_bytes(
        tradebook(
            row("NIFTY2651224000CE", "buy", 65, "100.00", "F1", "O1", "09:30:00"),
            row("NIFTY2651224000CE", "sell", 65, "120.00", "F2", "O2", "10:00:00"),
            row("NIFTY2651224000CE", "sell", 64, "121.00", "F3", "O3", "10:05:00"),
        )
    )
    page.goto(page.base_url + "/journal/import/")
    page.set_input_files("input[name=file]", str(bad))
    page.click("#upload-form button[type=submit]")
    errors = page.locator("#import-errors")
    errors.wait_for()
    assert "Line 4: quantity 64 is not a whole number of NIFTY lots of 65" in errors.inner_text()
    assert page.locator("#confirm-form").count() == 0
    before = Trade.objects.count()

    # A good tradebook: preview first (nothing saved), then confirm.
    good = tmp_path / "tradebook.csv"
    good.write_bytes(GOOD)
    page.set_input_files("input[name=file]", str(good))
    page.click("#upload-form button[type=submit]")
    page.locator("#preview-trades").wait_for()
    assert page.locator("#preview-trades tbody tr").count() == 4
    assert "+₹2,517.39" in page.locator("#preview-trades").inner_text()
    assert Trade.objects.count() == before
    page.click("#confirm-import")
    page.wait_for_url(re.compile(r".*/journal/\?mode=LIVE$"))
    assert "Imported 4 trade(s)" in page.locator(".messages").inner_text()
    listed = page.locator("#trades").inner_text()
    assert "NIFTY2651224000CE" in listed and "NIFTY2651224000PE" in listed
    assert Trade.objects.count() == before + 4
