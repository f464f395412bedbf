"""The report's Monte Carlo (analytics.report.monte_carlo_section): the same shuffles as the figure
function on the trades in exit order, drawn on the analytics page and in the tearsheet."""

from __future__ import annotations

from decimal import Decimal

import pytest

from analytics import report as report_module
from analytics import research
from analytics.report import MONTE_CARLO_SEED, build_report
from analytics.report_filters import report_filters
from analytics.tearsheet import render_tearsheet
from journal.models import Trade
from journal.services import record_trade
from tests.helpers import NOW, ist, trade_fields

EXITS = ["130", "85", "112", "70", "140", "95"]  # exit prices of 1 lot (65) bought at 100


@pytest.mark.django_db
def test_the_report_resamples_its_trades_and_draws_the_bands(settings):
    settings.MONTE_CARLO_FLOOR = 0.99
    for n, exit_price in enumerate(EXITS):
        record_trade(
            now=NOW,
            **trade_fields(
                trade_id=f"MC-{n}",
                entry_time=ist(2026, 5, 5, 9, 30 + n),
                exit_time=ist(2026, 5, 5, 10, 30 + n),
                exit_price=Decimal(exit_price),
                target_price=Decimal("150"),
            ),
        )
    report = build_report(report_filters({"mode": "PAPER"}))
    nets = [float(t.net_pnl) for t in Trade.objects.order_by("exit_time", "id")]
    capital = float(settings.TRADING_CAPITAL)
    want = research.monte_carlo(nets, runs=1000, seed=MONTE_CARLO_SEED, capital=capital, floor=0.99 * capital)
    got = report.monte_carlo["result"]
    assert got.as_dict() == want.as_dict()
    assert got.final_pnl["p5"] == pytest.approx(sum(nets))  # shuffling keeps the total
    html = render_tearsheet(report)
    assert 'id="mc-bands"' in html and html.count('data-band="p') == 3


@pytest.mark.django_db
def test_no_trades_no_monte_carlo():
    report = build_report(report_filters({"mode": "PAPER"}))
    assert report.monte_carlo is None
    assert 'data-empty="monte-carlo"' in render_tearsheet(report)


def test_many_trades_get_fewer_paths():
    assert report_module.monte_carlo_runs(6) == 1000
    assert report_module.monte_carlo_runs(4000) == 500  # 2,000,000 cells / 4,000 trades
    assert report_module.monte_carlo_runs(40000) == 100  # never under 100 paths
