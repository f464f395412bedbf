"""The analytics report behind /analytics/, the tearsheet and ``manage.py report``: its figures against
a naive second computation over the stored trades, its filters (the journal's, one mode), the one
generator for the page, the download and the command, and a self-contained file."""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal as D
from html import unescape
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import Client

from analytics import report as report_module
from analytics.report import build_report
from analytics.report_filters import report_filters
from analytics.tearsheet import render_tearsheet
from journal.models import Trade
from journal.services import record_trade
from tests.helpers import NOW, trade_fields
from tests.pages import seed
from trading.execution.models import BacktestRun

pytestmark = pytest.mark.django_db
IST = ZoneInfo("Asia/Kolkata")
FIXED_NOW = datetime(2026, 6, 1, 18, 30, tzinfo=IST)


@pytest.fixture
def frozen(monkeypatch):
    """The report's "generated at" fixed, so two renderings can be compared byte for byte."""
    monkeypatch.setattr(report_module, "_now", lambda: FIXED_NOW)


@pytest.fixture
def staff_client():
    client = Client()
    client.force_login(seed.staff_user())
    return client


def _report(**params):
    filters = report_filters(params)
    assert filters.is_valid(), filters.errors
    return build_report(filters)


def _naive(trades: list[Trade], capital: float) -> dict:
    """The same figures written the plain way, over the trades as stored."""
    nets = [float(t.net_pnl) for t in trades]
    wins = [n for n in nets if n > 0]
    losses = [n for n in nets if n < 0]
    by_day: dict[date, float] = defaultdict(float)
    for t in trades:
        by_day[t.trade_date] += float(t.net_pnl)
    equity, peak, worst, monthly = capital, capital, 0.0, defaultdict(lambda: 1.0)
    for day in sorted(by_day):
        monthly[f"{day:%Y-%m}"] *= 1 + by_day[day] / equity
        equity += by_day[day]
        peak = max(peak, equity)
        worst = min(worst, equity - peak)
    return {
        "net": round(sum(nets), 2),
        "win_rate": len(wins) / len(nets) * 100,
        "profit_factor": sum(wins) / -sum(losses),
        "final_equity": round(capital + sum(nets), 2),
        "max_drawdown": round(worst, 2),
        "monthly": {k: v - 1 for k, v in monthly.items()},
    }


def test_figures_equal_a_naive_computation():
    trades = seed.trades(12)
    rep = _report(mode="PAPER")
    expected = _naive(trades, rep.capital)
    s = rep.summary
    assert rep.trades == 12
    assert s["net_pnl"] == pytest.approx(expected["net"], abs=0.005)
    assert s["win_rate"] == pytest.approx(expected["win_rate"])
    assert s["profit_factor"] == pytest.approx(expected["profit_factor"])
    assert s["final_equity"] == pytest.approx(expected["final_equity"], abs=0.005)
    assert s["max_drawdown"] == pytest.approx(expected["max_drawdown"], abs=0.005)
    # the chart data: the equity's last point, the days from the first exit to the last
    daily = rep.charts["daily"]
    assert daily["equity"][-1] == pytest.approx(expected["final_equity"], abs=0.005)
    assert daily["dates"][0] == f"{trades[0].trade_date}" and daily["dates"][-1] == f"{trades[-1].trade_date}"
    assert sum(v for v in daily["net"]) == pytest.approx(expected["net"], abs=0.01)
    # the heat map: each month's compounded return, shown in percent with one decimal
    cells = {c["key"]: c["text"] for row in rep.monthly["rows"] for c in row["cells"] if c["text"]}
    assert cells == {k: f"{v * 100:.1f}%" for k, v in expected["monthly"].items()}
    # the key figures read in the shared formats (Indian grouping, a sign on the P&L)
    net_text = next(f.text for f in rep.key_figures if f.key == "net_pnl")
    assert net_text.startswith("+₹" if expected["net"] > 0 else "-₹") and "," in net_text


def test_breakdowns_and_strategies_equal_a_grouping_by_hand():
    trades = seed.trades(12)
    rep = _report()
    by_strategy: dict[str, list[float]] = defaultdict(list)
    for t in trades:
        by_strategy[t.strategy_name].append(float(t.net_pnl))
    table = {b["name"]: b for b in rep.breakdowns}["strategy"]
    got = {r["label"]: (r["trades"], r["net_value"]) for r in table["rows"]}
    assert got == {k: (len(v), pytest.approx(sum(v), abs=0.005)) for k, v in by_strategy.items()}
    # sorted by net, biggest first, with bars relative to the biggest |net|
    nets = [r["net_value"] for r in table["rows"]]
    assert nets == sorted(nets, reverse=True)
    assert max(float(r["bar"]) for r in table["rows"]) == 100.0
    # CE/PE: the seed alternates CALL and PUT
    sides = {
        r["label"]: r["trades"] for r in {b["name"]: b for b in rep.breakdowns}["instrument_type"]["rows"]
    }
    assert sides == {"CE": 6, "PE": 6}
    # the comparison table: one row per strategy, raw values to sort on
    rows = {r["name"]: r["sort"] for r in rep.strategies}
    assert set(rows) == set(by_strategy)
    for name, nets_of in by_strategy.items():
        assert rows[name]["trades"] == len(nets_of)
        assert rows[name]["net_pnl"] == pytest.approx(sum(nets_of), abs=0.005)


def test_attribution_of_a_hand_worked_trade():
    """One LONG 65 call: spot 24,012.35 -> 24,052.35, IV 13.1223% -> 14.02%, 40 minutes; entry Greeks
    delta 0.52, gamma 0.00071, theta -11.25 a day, vega 12.9 a vol point (tests/pages/seed.py)."""
    (trade,) = seed.trades(1)
    rep = _report()
    ds = 24052.35 - 24012.35
    days = 40 / (24 * 60)
    expected = {
        "delta": 65 * 0.52 * ds,
        "gamma": 65 * 0.5 * 0.00071 * ds * ds,
        "theta": 65 * -11.25 * days,
        "vega": 65 * 12.9 * (0.1402 - 0.131223) * 100,
    }
    expected["residual"] = float(trade.gross_pnl) - sum(expected.values())
    # by hand: 1,352.00 + 36.92 - 20.31 + 752.72 = 2,121.33 of the 2,047.50 gross; residual -73.83
    assert expected["residual"] == pytest.approx(-73.83, abs=0.01)
    (row,) = rep.attribution["rows"]
    # The report reads the attribution stored on the trade (rupees to the paisa): each part within half
    # a paisa of the hand-worked value, and the five add up to the gross.
    for part, value in expected.items():
        assert row["parts"][part] == pytest.approx(value, abs=0.005), part
    assert sum(row["parts"].values()) == pytest.approx(float(trade.gross_pnl), abs=1e-6)


def test_filters_are_the_journals_with_one_mode(settings):  # noqa: F811 - pytest's settings fixture
    seed.trades(4)
    record_trade(now=NOW, **trade_fields(trade_id="L-1", entry_mode="LIVE", data_source="KITE"))
    run = BacktestRun.objects.create(start=date(2026, 3, 2), end=date(2026, 3, 6), status="DONE")
    record_trade(now=NOW, **trade_fields(trade_id="B-1", entry_mode="BACKTEST", backtest_run=run))
    record_trade(now=NOW, **trade_fields(trade_id="B-2", entry_mode="BACKTEST"))
    settings.TRADING_MODE = "PAPER"
    assert _report().trades == 4  # no mode: the configured one
    assert _report(mode="LIVE").trades == 1
    assert _report(mode="ALL").trades == 7 and _report(mode="").trades == 7  # ALL or the bar's "All modes"
    assert _report(backtest_run=run.pk).trades == 1  # a run fixes its mode
    assert _report(backtest_run=run.pk).mode == "ALL"
    assert _report(strategy="PCRStrategy", mode="PAPER").trades == 1
    bad = report_filters({"date_from": "2026-13-01"})
    assert not bad.is_valid() and "date_from" in bad.errors


def test_page_and_download_answer_a_bad_filter_with_400_naming_it(staff_client):
    response = staff_client.get("/analytics/", {"pnl_min": "lots"})
    assert response.status_code == 400 and "Fix the filters above" in response.content.decode()
    response = staff_client.get("/analytics/tearsheet.html", {"winning": "maybe"})
    assert response.status_code == 400 and "winning" in response.content.decode()


def test_page_download_and_command_are_one_generator(staff_client, tmp_path, frozen):
    seed.trades(6)
    query = {"strategy": "PCRStrategy", "date_from": "2026-04-01", "mode": "PAPER"}
    page = staff_client.get("/analytics/", query)
    assert page.status_code == 200
    download = staff_client.get("/analytics/tearsheet.html", query)
    assert download.status_code == 200
    assert download["Content-Disposition"] == 'attachment; filename="tearsheet-PAPER-2026-06-01.html"'
    out = tmp_path / "report.html"
    call_command(
        "report",
        "--out",
        str(out),
        "--strategy",
        "PCRStrategy",
        "--date-from",
        "2026-04-01",
        "--mode",
        "PAPER",
    )
    assert out.read_bytes() == download.content
    # the page shows the same report as the file
    file_data = re.search(r'id="report-data" type="application/json">(.*?)</script>', out.read_text()).group(
        1
    )
    page_data = re.search(
        r'id="report-data" type="application/json">(.*?)</script>', page.content.decode()
    ).group(1)
    assert json.loads(file_data) == json.loads(page_data)
    assert json.loads(file_data)["daily"]["dates"]  # PCRStrategy traded


def test_tearsheet_is_self_contained(frozen):
    seed.trades(3)
    html = render_tearsheet(_report())
    # nothing to fetch: no external script, stylesheet, image or font
    assert not re.search(r"<(script|img|iframe)[^>]+src=", html)
    assert not re.search(r'<link[^>]+rel="stylesheet"', html)
    assert "/static/" not in html and "url(" not in html.replace("url(data:", "")
    markup = re.sub(r"<script>.*?</script>", "", html, flags=re.S)  # Chart.js names its site in comments
    assert not re.search(r"https?://", markup)
    # Chart.js and the chart code are inlined, with the data
    chart_js = (Path(settings.BASE_DIR) / "static/vendor/chart.umd.min.js").read_text()
    report_js = (Path(settings.BASE_DIR) / "static/analytics/report.js").read_text()
    assert chart_js in html and report_js in html and html.count("<script>") == 2
    data = json.loads(re.search(r'id="report-data" type="application/json">(.*?)</script>', html).group(1))
    assert len(data["daily"]["dates"]) >= 3


def test_command_refuses_a_bad_filter_and_writes_nothing(tmp_path):
    out = tmp_path / "x.html"
    with pytest.raises(CommandError, match="--date-to"):
        call_command("report", "--out", str(out), "--date-to", "soon")
    with pytest.raises(CommandError, match="--mode"):
        call_command("report", "--out", str(out), "--mode", "FUTURES")
    with pytest.raises(CommandError, match="no directory"):
        call_command("report", "--out", str(tmp_path / "missing" / "x.html"))
    assert list(tmp_path.iterdir()) == []


def test_command_writes_an_empty_report_readably(tmp_path):
    out = tmp_path / "empty.html"
    call_command("report", "--out", str(out))
    html = unescape(out.read_text())
    assert "No trades match these filters: no equity curve or drawdown to draw." in html
    assert "₹5,00,000" in html  # the capital, Indian grouping


def test_backtest_run_report(tmp_path):
    run = BacktestRun.objects.create(start=date(2026, 3, 2), end=date(2026, 3, 6), status="DONE")
    for i, day in enumerate((2, 4, 5)):  # sessions: 2026-03-03 was a holiday (Holi)
        at = datetime(2026, 3, day, 10, 0, tzinfo=IST)
        record_trade(
            now=NOW,
            **trade_fields(
                trade_id=f"BT-{i}",
                entry_mode="BACKTEST",
                backtest_run=run,
                entry_time=at,
                exit_time=at + timedelta(minutes=30),
                exit_price=D("130") if i else D("90"),
            ),
        )
    seed.trades(2)
    out = tmp_path / "run.html"
    call_command("report", "--out", str(out), "--backtest-run", str(run.pk))
    data = json.loads(
        re.search(r'id="report-data" type="application/json">(.*?)</script>', out.read_text()).group(1)
    )
    assert data["daily"]["dates"] == ["2026-03-02", "2026-03-04", "2026-03-05"]
    nets = [float(t.net_pnl) for t in Trade.objects.filter(backtest_run=run).order_by("exit_time")]
    assert data["daily"]["net"] == pytest.approx(nets, abs=0.005)
    assert not math.isnan(sum(nets))
