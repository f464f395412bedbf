"""A combo in a real browser: the journal folds its legs under its row and unfolds them on a click;
a leg's page shows the combo, its legs and the payoff chart drawn from the vendored Chart.js."""

from __future__ import annotations

import secrets
from decimal import Decimal as D

import pytest

from journal.combos import combo_record, combo_refresh_totals
from journal.models import Trade
from journal.services import record_trade
from tests.helpers import NOW, ist, trade_fields, user_with_role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = secrets.token_urlsafe(16)  # a fresh test password each run
COMBO = "P-NIFTY-20260505-0930-PCRStrategy-C-C"


def _seed() -> None:
    user_with_role("viewer", "viewer", password=PASSWORD)
    entry, exit_ = ist(2026, 5, 5, 9, 30), ist(2026, 5, 5, 14, 0)
    legs = []
    for n, (kind, premium) in enumerate((("CE", 150.0), ("PE", 140.0)), start=1):
        legs.append(
            {
                "leg": n,
                "instrument": kind,
                "side": "SELL",
                "strike": 24000.0,
                "expiry": "2026-05-12",
                "lots": 1,
                "lot_size": 65,
                "premium": premium,
                "iv": None,
                "status": "CLOSED",
                "reentries": 0,
            }
        )
    combo_record(
        now=NOW,
        combo_id=COMBO,
        strategy_name="PCRStrategy",
        symbol="NIFTY",
        template="short_straddle",
        status="CLOSED",
        entry_time=entry,
        exit_time=exit_,
        exit_type="SQUARE_OFF",
        payoff_known=True,
        max_profit=D("18850.00"),
        max_loss=None,
        breakevens=[23710.0, 24290.0],
        margin=D("289000.00"),
        legs=legs,
    )
    for n, (kind, entry_price, exit_price) in enumerate((("CALL", 150, 170), ("PUT", 140, 100)), start=1):
        record_trade(
            now=NOW,
            **trade_fields(
                trade_id=f"{COMBO}-L{n}",
                combo_id=COMBO,
                instrument_type=kind,
                side="SHORT",
                entry_time=entry,
                exit_time=exit_,
                entry_price=D(entry_price),
                exit_price=D(exit_price),
                exit_type="SQUARE_OFF",
                stop_loss_price=None,
                target_price=None,
                spot_price_entry=D("24010"),
            ),
        )
    record_trade(now=NOW, **trade_fields(trade_id="SINGLE-1"))
    combo_refresh_totals([COMBO])


def test_the_journal_folds_a_combos_legs_and_the_leg_page_draws_its_payoff(page):
    _seed()
    page.goto(page.base_url + "/journal/")
    page.fill("input[name=username]", "viewer")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_url("**/journal/**")
    legs = page.locator("tr.leg")
    assert legs.count() == 2
    assert not legs.first.is_visible()  # folded by the script
    assert page.locator("tr.combo").count() == 1 and page.locator("table#trades tbody tr").count() == 4
    page.click("button.combo-toggle")
    assert legs.first.is_visible() and legs.nth(1).is_visible()
    assert page.get_attribute("button.combo-toggle", "aria-expanded") == "true"
    page.click("tr.leg >> nth=0 >> a >> nth=1")
    page.wait_for_selector("#combo")
    assert "unlimited" in page.inner_text("#combo-max-loss")
    assert page.locator("#combo-legs tbody tr").count() == 2
    net = sum(t.net_pnl for t in Trade.objects.filter(combo_id=COMBO))
    assert page.inner_text("#combo-net").replace(",", "").replace("₹", "").strip().lstrip("+") == f"{net:.2f}"
    drawn = page.evaluate("() => Chart.getChart(document.getElementById('combo-payoff')) !== undefined")
    assert drawn
