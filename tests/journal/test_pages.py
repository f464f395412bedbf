"""The journal's pages: list (filters, sorting, keyset pages, totals, export links), detail (fields,
chart data, notes and tags edited in place and audited), manual entry, P&L calendar, import."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from decimal import Decimal as D
from html import unescape
from urllib.parse import parse_qs, urlparse

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from journal.models import ImportBatch, Trade, TradeAudit
from journal.services import record_trade
from tests.helpers import NOW, ist, trade_fields, user_with_role
from tests.journal.test_import import GOOD, row, tradebook
from trading.core import calendar as market_calendar

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _own_var_dir(settings, tmp_path):
    """Uploads waiting for confirmation are stashed under VAR_DIR/imports: keep them out of var/."""
    settings.VAR_DIR = tmp_path / "var"


@pytest.fixture
def user(db):
    return user_with_role("trader", "trader")


@pytest.fixture
def client_in(client, user):
    client.force_login(user)
    return client


def _trades(n: int, **over) -> list[Trade]:
    """n PAPER trades on successive days, net P&L varying with i (exit i x 1.5 points above entry)."""
    out = []
    for i in range(n):
        session = market_calendar.trading_days(date(2026, 5, 4), date(2026, 7, 31))[i // 5]
        day = ist(session.year, session.month, session.day, 9, 30) + timedelta(minutes=30 * (i % 5))
        out.append(
            record_trade(
                now=NOW,
                **trade_fields(
                    trade_id=f"P-{i}",
                    entry_time=day,
                    exit_time=day + timedelta(minutes=20),
                    exit_price=D("100") + D("1.5") * (i % 7) - D("3"),
                    exit_type="MANUAL",
                    strategy_name="PCRStrategy" if i % 2 else "ORB",
                    **{"expiry_date": "2026-05-26", **over},
                ),
            )
        )
    return out


def test_pages_need_login(client):
    for url in ("/journal/", "/journal/new/", "/journal/calendar/", "/journal/import/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_home_is_the_desk_summary_linking_to_the_journal(client_in):
    response = client_in.get("/")
    assert response.status_code == 200 and 'href="/journal/"' in response.content.decode()


def test_list_defaults_to_the_configured_mode_and_totals_the_filtered_set(client_in):
    paper = _trades(6)
    live = record_trade(now=NOW, **trade_fields(trade_id="L-1", entry_mode="LIVE", data_source="KITE"))
    response = client_in.get("/journal/")
    assert response.status_code == 200
    shown = [t.pk for t in response.context["page"].trades]
    assert live.pk not in shown and set(shown) == {t.pk for t in paper}
    totals = response.context["totals"]
    assert totals.trades == 6
    assert totals.net_pnl == sum(t.net_pnl for t in paper)
    assert totals.wins == sum(1 for t in paper if t.net_pnl > 0)
    assert totals.total_charges == sum(t.total_charges for t in paper)
    # mode= (empty) means every mode
    response = client_in.get("/journal/?mode=")
    assert {t.pk for t in response.context["page"].trades} == {t.pk for t in paper} | {live.pk}
    # a filter outside the per-day counts (strategy) totals by query
    response = client_in.get("/journal/?strategy=ORB")
    orb = [t for t in paper if t.strategy_name == "ORB"]
    assert response.context["totals"].trades == len(orb)
    assert response.context["totals"].net_pnl == sum(t.net_pnl for t in orb)
    html = response.content.decode()
    assert "Export CSV" in html and "/api/trades/export.csv?" in html


def test_export_links_carry_the_filters(client_in):
    _trades(2)
    response = client_in.get("/journal/?strategy=ORB&winning=true&sort=net_pnl")
    for key in ("export_csv", "export_xlsx"):
        url = urlparse(response.context[key])
        query = parse_qs(url.query)
        assert query == {"strategy": ["ORB"], "winning": ["true"], "mode": ["PAPER"]}
    csv_url = response.context["export_csv"]
    exported = client_in.get(csv_url)
    assert exported.status_code == 200


def test_bad_filter_shows_its_error_and_lists_nothing(client_in):
    _trades(2)
    response = client_in.get("/journal/?winning=maybe&date_from=2026-13-01")
    assert response.status_code == 400
    assert response.context["page"].trades == []
    errors = response.context["form"].errors
    assert "winning" in errors and "date_from" in errors


def test_sorting_is_whitelisted_and_keyset_pages_cover_every_trade_once(client_in):
    trades = _trades(60)  # 7 distinct net P&Ls: ties are broken by id
    ascending = [t.pk for t in sorted(trades, key=lambda t: (t.net_pnl, t.pk))]
    response = client_in.get("/journal/?sort=net_pnl&per=25")
    assert [t.pk for t in response.context["page"].trades] == ascending[:25]
    seen: list[int] = []
    url = "/journal/?sort=-net_pnl&per=25"
    while url:
        response = client_in.get(url)
        seen += [t.pk for t in response.context["page"].trades]
        url = response.context["next_url"] and "/journal/" + response.context["next_url"]
    assert seen == ascending[::-1]
    # column headers toggle the direction and keep the filters
    response = client_in.get("/journal/?strategy=ORB&sort=-net_pnl")
    assert parse_qs(urlparse(response.context["cols"]["net_pnl"]["url"]).query) == {
        "strategy": ["ORB"],
        "sort": ["net_pnl"],
        "mode": ["PAPER"],
    }
    # an unknown sort column falls back to the default order (newest exit first)
    response = client_in.get("/journal/?sort=notes")
    assert response.context["sort"] == "-exit_time"


def test_keyset_next_and_previous_pages(client_in):
    trades = _trades(60)
    order = [t.pk for t in sorted(trades, key=lambda t: (t.exit_time, t.pk), reverse=True)]
    first = client_in.get("/journal/?per=25")
    assert [t.pk for t in first.context["page"].trades] == order[:25]
    assert first.context["prev_url"] == ""
    second = client_in.get("/journal/" + first.context["next_url"])
    assert [t.pk for t in second.context["page"].trades] == order[25:50]
    third = client_in.get("/journal/" + second.context["next_url"])
    assert [t.pk for t in third.context["page"].trades] == order[50:]
    assert third.context["next_url"] == ""
    back = client_in.get("/journal/" + third.context["prev_url"])
    assert [t.pk for t in back.context["page"].trades] == order[25:50]
    back = client_in.get("/journal/" + back.context["prev_url"])
    assert [t.pk for t in back.context["page"].trades] == order[:25]
    assert back.context["prev_url"] == ""
    # a forged cursor starts from the first page instead of failing
    assert client_in.get("/journal/?after=not-a-cursor").status_code == 200


def test_detail_shows_every_group_and_the_itemised_charges(client_in):
    trade = record_trade(
        now=NOW,
        **trade_fields(
            vix_entry=14.5,
            vix_exit=15.25,
            pcr_entry=1.2,
            spot_price_entry=D("24010"),
            spot_price_exit=D("24080"),
            entry_features={"pcr": 1.2, "ema_gap": -3.5},
            signal_reason="PCR 1.2 and rising",
            mae=D("-300"),
            mfe=D("1500"),
        ),
    )
    response = client_in.get(f"/journal/{trade.pk}/")
    assert response.status_code == 200
    html = unescape(response.content.decode())
    for title in (
        "Contract",
        "Entry and exit",
        "P&L and charges",
        "Risk",
        "Strategy and signal",
        "Market context",
        "Signal features",
        "Edit history",
        "Notes and tags",
    ):
        assert title in html
    items = {i["name"]: i["value"] for g in response.context["groups"] for i in g["items"]}
    # DOMAIN.md's worked example, itemised
    assert (
        items["brokerage"],
        items["stt"],
        items["exchange_txn"],
        items["sebi_fee"],
        items["stamp_duty"],
        items["gst"],
        items["total_charges"],
        items["net_pnl"],
    ) == ("₹40.00", "₹12.00", "₹5.08", "₹0.01", "₹0.20", "₹8.12", "₹65.41", "₹1,234.59")
    assert items["r_multiple"] == "0.95R" and items["mae"] == "-₹300.00"
    assert items["entry_time"] == "2026-05-05 09:30:00 IST"
    assert "PCR 1.2 and rising" in html and "ema_gap" in html
    context = {r["label"]: (r["entry"], r["exit"]) for r in response.context["context_rows"]}
    assert context["India VIX"] == ("14.50", "15.25") and context["Spot"] == ("24,010.00", "24,080.00")
    chart = json.loads(
        re.search(r'id="trade-chart-data" type="application/json">(.*?)</script>', html).group(1)
    )
    assert chart["source"] == "entry_exit"
    assert [(p["x"], p["y"]) for p in chart["premium"]] == [(0, 100.0), (75.0, 120.0)]
    assert [(p["x"], p["y"]) for p in chart["spot"]] == [(0, 24010.0), (75.0, 24080.0)]
    assert chart["levels"]["stop"][0]["y"] == 80.0
    assert "vendor/chart.umd.min.js" in html
    assert client_in.get("/journal/999999/").status_code == 404


def test_chart_uses_market_snapshots_between_entry_and_exit(client_in):
    from trading.market.models import MarketSnapshot

    trade = record_trade(now=NOW, **trade_fields())
    for minutes, spot, ltp in ((10, 24020.0, 104.5), (20, 24040.0, 109.0), (30, 24050.0, 114.0)):
        MarketSnapshot.objects.create(
            index="NIFTY",
            time=ist(2026, 5, 5, 9, 30) + timedelta(minutes=minutes),
            source="SIM",
            spot=spot,
            chain={
                "2026-05-12": {
                    "strikes": [23950, 24000, 24050],
                    "CE": {"ltp": [140.0, ltp, 90.0]},
                    "PE": {"ltp": [60.0, 70.0, 80.0]},
                }
            },
        )
    MarketSnapshot.objects.create(
        index="NIFTY", time=ist(2026, 5, 5, 11), source="SIM", spot=1.0
    )  # after exit
    MarketSnapshot.objects.create(
        index="NIFTY", time=ist(2026, 5, 5, 10), source="KITE", spot=1.0
    )  # other source
    response = client_in.get(f"/journal/{trade.pk}/")
    chart = response.context["chart"]
    assert chart["source"] == "snapshots" and chart["snapshots"] == 3
    assert [(p["x"], p["y"]) for p in chart["premium"]] == [
        (0, 100.0),
        (10, 104.5),
        (20, 109.0),
        (30, 114.0),
        (75, 120.0),
    ]
    assert [p["y"] for p in chart["spot"]] == [24020.0, 24040.0, 24050.0]


def test_notes_and_tags_saved_in_place_and_audited(client_in, user):
    trade = record_trade(now=NOW, **trade_fields())
    response = client_in.post(
        f"/journal/{trade.pk}/annotate/", {"notes": "Entered late", "tags": "FOMO, late"}
    )
    assert response.status_code == 302 and response["Location"] == f"/journal/{trade.pk}/"
    trade.refresh_from_db()
    assert trade.notes == "Entered late" and trade.tag_list == ["fomo", "late"]
    audits = {a.field: a for a in TradeAudit.objects.filter(trade=trade)}
    assert set(audits) == {"notes", "tags"}
    assert audits["notes"].source == "page" and audits["notes"].user == user
    assert audits["notes"].old_value == "" and audits["notes"].new_value == "Entered late"
    # through fetch: JSON back with the audit history re-rendered
    response = client_in.post(
        f"/journal/{trade.pk}/annotate/",
        {"notes": "Entered late, chased", "tags": "late"},
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 200
    data = response.json()
    assert data["ok"] and data["tags"] == ["late"] and "Entered late, chased" in data["audit_html"]
    assert TradeAudit.objects.filter(trade=trade, field="notes").count() == 2
    # net P&L untouched by a note
    trade.refresh_from_db()
    assert trade.net_pnl == D("1234.59")
    # too long: refused, nothing changes
    response = client_in.post(
        f"/journal/{trade.pk}/annotate/", {"notes": "x", "tags": "t" * 600}, HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 400 and "tags" in response.json()["errors"]
    assert client_in.get(f"/journal/{trade.pk}/annotate/").status_code == 405


def _manual_post(**over) -> dict:
    data = {
        "trade_id": "MAN-test-1",
        "symbol": "NIFTY",
        "instrument_type": "CALL",
        "strike_price": "24000",
        "expiry_date": "2026-05-12",
        "side": "LONG",
        "quantity": "65",
        "entry_time": "2026-05-05T09:30",
        "entry_price": "100",
        "exit_time": "2026-05-05T10:45",
        "exit_price": "120",
        "exit_type": "TARGET",
        "entry_mode": "LIVE",
        "data_source": "KITE",
        "strategy_name": "MANUAL",
        "stop_loss_price": "80",
        "target_price": "120",
        "tags": "hand",
        "notes": "by hand",
    }
    data.update(over)
    return data


def test_manual_trade_is_recorded_like_record_trade(client_in):
    response = client_in.get("/journal/new/")
    assert response.status_code == 200
    assert response.context["form"]["trade_id"].value().startswith("MAN-")
    response = client_in.post("/journal/new/", _manual_post())
    trade = Trade.objects.get(trade_id="MAN-test-1")
    assert response.status_code == 302 and response["Location"] == f"/journal/{trade.pk}/"
    # DOMAIN.md's worked example: entry 09:30 IST, not UTC
    assert trade.entry_time == ist(2026, 5, 5, 9, 30)
    assert (
        trade.total_charges == D("65.41")
        and trade.net_pnl == D("1234.59")
        and trade.r_multiple == D("0.9497")
    )
    assert trade.entry_mode == "LIVE" and trade.tag_list == ["hand"]
    # the same form posted twice records one trade
    client_in.post("/journal/new/", _manual_post())
    assert Trade.objects.count() == 1


@pytest.mark.parametrize(
    "over, field, words",
    [
        ({"quantity": "64"}, "quantity", "not a whole number of NIFTY lots of 65"),
        ({"exit_time": "2026-05-05T09:00"}, "exit_time", "exit is before entry"),
        ({"entry_price": "100.03"}, "entry_price", "off the 0.05 tick"),
        ({"exit_price": "0"}, "exit_price", "allowed only for exit type EXPIRY"),
        ({"entry_price": ""}, "entry_price", "required"),
        ({"strike_price": "abc"}, "strike_price", "number"),
    ],
)
def test_manual_trade_errors_next_to_fields_and_nothing_saved(client_in, over, field, words):
    response = client_in.post("/journal/new/", _manual_post(**over))
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert field in errors and words in " ".join(errors[field]), errors
    assert Trade.objects.count() == 0
    html = response.content.decode()
    assert f'id="field-{field}"' in html


def test_calendar_colours_days_and_links_to_their_trades(client_in):
    win = record_trade(now=NOW, **trade_fields())  # 2026-05-05, net +1234.59
    loss = record_trade(
        now=NOW,
        **trade_fields(
            trade_id="T-2",
            entry_time=ist(2026, 5, 7, 9, 30),
            exit_time=ist(2026, 5, 7, 10),
            exit_price=D("90"),
            exit_type="STOP_LOSS",
        ),
    )  # 2026-05-07, net -711.59
    record_trade(
        now=NOW,
        **trade_fields(
            trade_id="L-1",
            entry_mode="LIVE",
            entry_time=ist(2026, 5, 8, 9, 30),
            exit_time=ist(2026, 5, 8, 10),
        ),
    )
    response = client_in.get("/journal/calendar/?month=2026-05")
    assert response.status_code == 200
    month = response.context["month"]
    cells = {c.day.isoformat(): c for week in month.weeks for c in week if c.in_month}
    assert len(cells) == 31
    assert cells["2026-05-05"].css_class == "win" and cells["2026-05-05"].perf.net_pnl == win.net_pnl
    assert cells["2026-05-07"].css_class == "loss" and cells["2026-05-07"].perf.net_pnl == loss.net_pnl
    assert cells["2026-05-08"].css_class == "none"  # the LIVE trade is not in the PAPER calendar
    assert cells["2026-05-05"].weight == 1.0 and 0 < cells["2026-05-07"].weight < 1
    assert month.net_pnl == win.net_pnl + loss.net_pnl and month.trades == 2
    # Mondays first: 2026-05-01 is a Friday
    assert month.weeks[0][4].day.isoformat() == "2026-05-01"
    # click through: the day's trades in the journal list
    link = cells["2026-05-07"].url
    listed = client_in.get(link)
    assert [t.pk for t in listed.context["page"].trades] == [loss.pk]
    assert f'href="{link.replace("&", "&amp;")}"' in response.content.decode()
    live = client_in.get("/journal/calendar/?month=2026-05&mode=LIVE")
    cells = {c.day.isoformat(): c for week in live.context["month"].weeks for c in week if c.in_month}
    assert cells["2026-05-08"].css_class == "win" and cells["2026-05-05"].css_class == "none"
    assert parse_qs(urlparse(response.context["month_url"]).query) == {
        "date_from": ["2026-05-01"],
        "date_to": ["2026-05-31"],
        "mode": ["PAPER"],
    }
    april = client_in.get("/journal/calendar/?month=2026-04")  # its last week runs into May
    assert parse_qs(urlparse(april.context["month_url"]).query)["date_to"] == ["2026-04-30"]
    assert (april.context["prev"], april.context["next"]) == ("2026-03", "2026-05")
    assert client_in.get("/journal/calendar/?month=2026-13").status_code == 400


def test_import_page_bad_file_then_good_file(client_in, user):
    bad = tradebook(
        row("NIFTY2651224000CE", "buy", 65, "100.00", "F1", "O1", "09:30:00"),
        row("NIFTY2651224000CE", "sell", 65, "abc", "F2", "O2", "10:00:00"),
    )
    response = client_in.post("/journal/import/", {"file": SimpleUploadedFile("bad.csv", bad, "text/csv")})
    assert response.status_code == 400
    html = response.content.decode()
    assert "Line 3: price &#x27;abc&#x27; is not a number" in html and "Nothing was imported" in html
    assert "confirm-form" not in html
    assert Trade.objects.count() == 0

    response = client_in.post("/journal/import/", {"file": SimpleUploadedFile("tb.csv", GOOD, "text/csv")})
    assert response.status_code == 200 and response.context["can_confirm"]
    preview = response.context["preview"]
    assert len(preview.new_trades) == 4 and Trade.objects.count() == 0
    html = response.content.decode()
    assert "₹2,517.39" in html and "NIFTY2651224200CE: LONG 65" in html
    # a forged hash is refused
    response = client_in.post("/journal/import/confirm/", {"sha256": "0" * 64})
    assert response.status_code == 302 and response["Location"] == "/journal/import/"
    response = client_in.post("/journal/import/confirm/", {"sha256": preview.sha256})
    assert response.status_code == 302 and response["Location"] == "/journal/?mode=LIVE"
    assert Trade.objects.count() == 4
    assert ImportBatch.objects.get().user == user
    # the same file again: the preview says so, and there is nothing to confirm
    response = client_in.post("/journal/import/", {"file": SimpleUploadedFile("tb.csv", GOOD, "text/csv")})
    assert response.context["preview"].already_imported is not None and not response.context["can_confirm"]
    assert "importing it again adds nothing" in response.content.decode()
