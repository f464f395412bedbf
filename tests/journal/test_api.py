"""The REST API: authentication, permissions, every filter, both paginations, the history shape,
writes through the services, validation errors naming fields, and no 500 on malformed input."""

from __future__ import annotations

import json
from decimal import Decimal
from urllib.parse import parse_qs, urlparse

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from journal.models import DailyPerformance, Trade, TradeAudit
from journal.serializers import TRADE_COLUMNS
from tests.helpers import NOW, ist, trade_fields, user_with_role
from tests.journal.api_data import make_engine_rows, make_journal
from trading.audit import ControlAudit

pytestmark = pytest.mark.django_db

ENDPOINTS = [
    "/api/trades/",
    "/api/trades/history",
    "/api/trades/totals",
    "/api/trades/export.csv",
    "/api/trades/export.xlsx",
    "/api/orders/",
    "/api/positions/",
    "/api/signals/",
]


@pytest.fixture
def user():
    return user_with_role("viewer", "viewer", password="pw")


@pytest.fixture
def staff():
    return user_with_role("operator", "boss", password="pw")


def _client(user) -> APIClient:
    client = APIClient()
    token = Token.objects.create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def api(user):
    return _client(user)


@pytest.fixture
def staff_api(staff):
    return _client(staff)


@pytest.fixture
def journal():
    return make_journal()


def _reference_order(trades):
    return sorted(trades, key=lambda t: (t.exit_time, t.id), reverse=True)


# --- Authentication and permissions ----------------------------------------------------------------


@pytest.mark.parametrize("url", ENDPOINTS)
def test_anonymous_gets_401_with_www_authenticate(url):
    response = APIClient().get(url)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Token")


def test_bad_token_is_401():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token nope")
    assert client.get("/api/trades/").status_code == 401


def test_session_authentication_works(user, journal):
    client = APIClient()
    assert client.login(username="viewer", password="pw")
    assert client.get("/api/trades/").status_code == 200


def test_non_staff_writes_are_403(api, journal):
    tid = journal[0].trade_id
    assert api.post("/api/trades/", trade_fields(trade_id="X-1"), format="json").status_code == 403
    assert api.patch(f"/api/trades/{tid}/", {"notes": "x"}, format="json").status_code == 403
    assert api.delete(f"/api/trades/{tid}/").status_code == 403
    assert not Trade.objects.filter(trade_id="X-1").exists()
    assert Trade.objects.get(trade_id=tid).notes == journal[0].notes


def test_put_is_not_allowed(staff_api, journal):
    assert staff_api.put(f"/api/trades/{journal[0].trade_id}/", {}, format="json").status_code == 405


# --- Cursor pagination of /api/trades/ ----------------------------------------------------------------


def _walk(client, url):
    pages, seen = [], []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        pages.append(response.json())
        seen += [row["trade_id"] for row in response.json()["results"]]
        url = response.json()["next"]
    return pages, seen


def test_cursor_pages_walk_the_whole_journal_in_order(api, journal):
    pages, seen = _walk(api, "/api/trades/?page_size=5")
    assert seen == [t.trade_id for t in _reference_order(journal)]
    assert len(pages) == 5 and pages[0]["previous"] is None


def test_cursor_previous_walks_back(api, journal):
    pages, _ = _walk(api, "/api/trades/?page_size=4")
    back = pages[-1]["previous"]
    for expected in reversed(pages[:-1]):
        response = api.get(back).json()
        assert [r["trade_id"] for r in response["results"]] == [r["trade_id"] for r in expected["results"]]
        back = response["previous"]
    assert back is None


def test_cursor_handles_ties_on_exit_time(api):
    # Five trades closing at the same instant: the id breaks the tie, none is lost or repeated.
    for i in range(5):
        from journal.services import record_trade

        record_trade(now=NOW, **trade_fields(trade_id=f"TIE-{i}"))
    _, seen = _walk(api, "/api/trades/?page_size=2")
    ref = [t.trade_id for t in Trade.objects.order_by("-id")]
    assert seen == ref


def test_cursor_pages_keep_the_filters(api, journal):
    _, seen = _walk(api, "/api/trades/?page_size=2&mode=PAPER&winning=true")
    ref = [t.trade_id for t in _reference_order(journal) if t.entry_mode == "PAPER" and t.net_pnl > 0]
    assert seen == ref and ref


def test_trade_object_has_the_export_columns(api, journal):
    row = api.get("/api/trades/?page_size=1").json()["results"][0]
    assert tuple(row) == TRADE_COLUMNS
    t = _reference_order(journal)[0]
    assert row["trade_id"] == t.trade_id
    assert row["net_pnl"] == f"{t.net_pnl:.2f}"
    assert row["tags"] == t.tag_list and isinstance(row["tags"], list)
    assert row["exit_time"] == t.exit_time.astimezone(ist(2026, 1, 1).tzinfo).isoformat()
    assert row["is_winning_trade"] is (t.net_pnl > 0)


@pytest.mark.parametrize(
    "query,field",
    [
        ("cursor=abc", "cursor"),
        ("cursor=eyJ0IjoxfQ", "cursor"),  # {"t":1}
        ("cursor=" + "A" * 5000, "cursor"),
        ("cursor=%00%ff", "cursor"),
        ("page_size=0", "page_size"),
        ("page_size=501", "page_size"),
        ("page_size=99999999999999999999999", "page_size"),
        ("page_size=-5", "page_size"),
        ("page_size=ten", "page_size"),
    ],
)
def test_bad_pagination_input_is_400_naming_it(api, journal, query, field):
    response = api.get(f"/api/trades/?{query}")
    assert response.status_code == 400
    assert field in response.json()


# --- Filters through the API ------------------------------------------------------------------------

FILTER_BAD = {
    "date_from": "2026-02-30",
    "date_to": "x",
    "exit_from": "noon",
    "exit_to": "2026-05-05T10:00:00+99:00",
    "strategy": "s" * 100,
    "symbol": "N" * 50,
    "instrument_type": "XX",
    "mode": "DEMO",
    "status": "PENDING",
    "winning": "2",
    "tag": "a,b",
    "exit_type": "x",
    "pnl_min": "1..2",
    "pnl_max": "1e1000",
    "vix_min": "nan",
    "vix_max": "-inf",
    "pcr_min": "½",
    "pcr_max": "1,5",
}


@pytest.mark.parametrize(
    "url", ["/api/trades/", "/api/trades/history", "/api/trades/totals", "/api/trades/export.csv"]
)
@pytest.mark.parametrize("name", sorted(FILTER_BAD))
def test_malformed_filter_is_400_naming_it(api, journal, url, name):
    response = api.get(url, {name: FILTER_BAD[name]})
    assert response.status_code == 400, (url, name)
    assert name in response.json()


def test_filters_select_like_the_reference(api, journal):
    rows = api.get("/api/trades/", {"tag": "gap", "page_size": 500}).json()["results"]
    assert {r["trade_id"] for r in rows} == {t.trade_id for t in journal if "gap" in t.tag_list}
    rows = api.get("/api/trades/", {"symbol": "NIFTY", "instrument_type": "PUT", "page_size": 500}).json()[
        "results"
    ]
    assert {r["trade_id"] for r in rows} == {
        t.trade_id for t in journal if t.symbol == "NIFTY" and t.instrument_type == "PUT"
    }


# --- /api/trades/history --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params,predicate",
    [
        ({}, lambda t: True),
        ({"mode": "PAPER"}, lambda t: t.entry_mode == "PAPER"),
        (
            {"date_from": "2026-05-05", "date_to": "2026-05-07"},
            lambda t: "2026-05-05" <= str(t.trade_date) <= "2026-05-07",
        ),
        ({"tag": "gap-up"}, lambda t: "gap-up" in t.tag_list),
        (
            {"strategy": "PCRStrategy", "mode": "PAPER"},
            lambda t: t.strategy_name == "PCRStrategy" and t.entry_mode == "PAPER",
        ),
    ],
)
@pytest.mark.parametrize("page_size", [1, 2, 5, 7])
def test_history_pages_concatenate_to_the_reference(api, journal, params, predicate, page_size):
    ref = [t.trade_id for t in _reference_order(journal) if predicate(t)]
    got, page = [], 1
    while True:
        body = api.get("/api/trades/history", {**params, "page": page, "page_size": page_size}).json()
        assert set(body) == {"trades", "total", "page", "page_size"}
        assert body["total"] == len(ref) and body["page"] == page
        if not body["trades"]:
            break
        got += [t["trade_id"] for t in body["trades"]]
        page += 1
    assert got == ref
    assert page == -(-len(ref) // page_size) + 1


def test_history_seed_shape(api, journal):
    body = api.get("/api/trades/history").json()
    assert body["page"] == 1 and body["total"] == len(journal)
    first = body["trades"][0]
    for key in ("trade_id", "symbol", "entry_time", "exit_time", "net_pnl", "strategy_name"):
        assert key in first


def test_history_total_for_date_and_mode_filters_costs_no_count(api, journal):
    with CaptureQueriesContext(connection) as ctx:
        body = api.get("/api/trades/history", {"mode": "PAPER", "page": 2, "page_size": 3}).json()
    assert body["total"] == sum(1 for t in journal if t.entry_mode == "PAPER")
    trade_counts = [
        q["sql"] for q in ctx.captured_queries if "COUNT(" in q["sql"].upper() and "journal_trade" in q["sql"]
    ]
    assert trade_counts == []
    assert any("analytics_dailyperformance" in q["sql"] for q in ctx.captured_queries)


def test_strategy_total_comes_from_strategy_performance(api, journal):
    with CaptureQueriesContext(connection) as ctx:
        body = api.get(
            "/api/trades/history", {"strategy": "PCRStrategy", "mode": "PAPER", "page_size": 2}
        ).json()
        totals = api.get("/api/trades/totals", {"strategy": "PCRStrategy"}).json()
    assert body["total"] == sum(
        1 for t in journal if t.strategy_name == "PCRStrategy" and t.entry_mode == "PAPER"
    )
    mine = [t for t in journal if t.strategy_name == "PCRStrategy"]
    assert totals["trades"] == len(mine) and Decimal(totals["net_pnl"]) == sum(t.net_pnl for t in mine)
    assert not [
        q for q in ctx.captured_queries if "COUNT(" in q["sql"].upper() and "journal_trade" in q["sql"]
    ]


def test_history_page_past_the_end_is_empty(api, journal):
    body = api.get("/api/trades/history", {"page": 1000, "page_size": 50}).json()
    assert body["trades"] == [] and body["total"] == len(journal)
    body = api.get("/api/trades/history", {"page": 999999999, "page_size": 500, "tag": "gap"}).json()
    assert body["trades"] == []


@pytest.mark.parametrize(
    "query,field",
    [
        ("page=0", "page"),
        ("page=-1", "page"),
        ("page=x", "page"),
        ("page=1e3", "page"),
        ("page=10000000000000", "page"),
        ("page_size=501", "page_size"),
        ("page_size=", None),
    ],
)
def test_history_bad_paging_is_400(api, journal, query, field):
    response = api.get(f"/api/trades/history?{query}")
    if field is None:
        assert response.status_code == 200
    else:
        assert response.status_code == 400 and field in response.json()


def test_totals_match_reference(api, journal):
    for params, pred in [
        ({}, lambda t: True),
        ({"mode": "PAPER"}, lambda t: t.entry_mode == "PAPER"),
        ({"winning": "false"}, lambda t: t.net_pnl <= 0),
    ]:
        sel = [t for t in journal if pred(t)]
        body = api.get("/api/trades/totals", params).json()
        wins = sum(1 for t in sel if t.net_pnl > 0)
        assert body["trades"] == len(sel) and body["wins"] == wins
        assert Decimal(body["net_pnl"]) == sum(t.net_pnl for t in sel)
        assert Decimal(body["gross_pnl"]) == sum(t.gross_pnl for t in sel)
        assert Decimal(body["total_charges"]) == sum(t.total_charges for t in sel)
        assert Decimal(body["win_rate"]) == (Decimal(wins * 100) / len(sel)).quantize(Decimal("0.01"))


# --- Retrieve, create, edit, delete --------------------------------------------------------------------


def test_retrieve_by_trade_id_and_404(api, journal):
    t = journal[3]
    body = api.get(f"/api/trades/{t.trade_id}/").json()
    assert body["id"] == t.id and body["net_pnl"] == str(t.net_pnl)
    assert api.get("/api/trades/NOPE/").status_code == 404
    assert api.get("/api/trades/%00/").status_code == 404


def test_staff_creates_a_manual_trade_like_record_trade(staff_api):
    body = trade_fields(trade_id="M-1", tags=["scalp", "Opening"], vix_entry=14.2)
    body = json.loads(json.dumps(body, default=str))
    response = staff_api.post("/api/trades/", body, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    # DOMAIN.md's worked example: 1 NIFTY lot 100 -> 120, charges 65.41
    assert (
        data["gross_pnl"] == "1300.00" and data["total_charges"] == "65.41" and data["net_pnl"] == "1234.59"
    )
    assert data["tags"] == ["opening", "scalp"]
    assert DailyPerformance.objects.get(mode="PAPER").trades == 1
    # The same trade_id again changes nothing and answers 200.
    again = staff_api.post("/api/trades/", {**body, "exit_price": "130"}, format="json")
    assert again.status_code == 200 and again.json()["net_pnl"] == "1234.59"
    assert Trade.objects.count() == 1


@pytest.mark.parametrize(
    "change,field",
    [
        ({"entry_price": "100.03"}, "entry_price"),
        ({"quantity": 64}, "quantity"),
        ({"quantity": "lots"}, "quantity"),
        ({"quantity": 10**30}, "quantity"),
        ({"quantity": 65 * 10**9}, "quantity"),
        ({"instrument_type": "FUT"}, "instrument_type"),
        ({"entry_mode": "DEMO"}, "entry_mode"),
        ({"symbol": "DOWJONES"}, "symbol"),
        ({"exit_time": "2026-05-05T08:00:00+05:30"}, "exit_time"),
        ({"entry_time": "2026-05-05T09:30:00"}, "entry_time"),
        ({"entry_time": "2026-02-30T09:30:00+05:30"}, "entry_time"),
        ({"expiry_date": "2026-02-30"}, "expiry_date"),
        ({"entry_time": "2001-05-05T09:30:00+05:30"}, "entry_time"),
        ({"entry_time": 12345}, "entry_time"),
        ({"strike_price": "1e20"}, "strike_price"),
        ({"strike_price": "Infinity"}, "strike_price"),
        ({"exit_price": [1]}, "exit_price"),
        ({"trade_id": "x" * 65}, "trade_id"),
        ({"tradingsymbol": "x" * 41}, "tradingsymbol"),
        ({"strategy_name": "s" * 65}, "strategy_name"),
        ({"tags": ["t" * 600]}, "tags"),
        ({"tags": {"a": 1}}, "tags"),
        ({"signal_id": 999999}, "signal_id"),
        ({"signal_id": "1; drop"}, "signal_id"),
        ({"backtest_run_id": 424242}, "backtest_run_id"),
        ({"lots": "abc"}, "lots"),
        ({"lots": 3}, "lots"),
        ({"bogus": 1}, "bogus"),
        ({"trade_id": None}, "trade_id"),
    ],
)
def test_create_validation_error_names_the_field(staff_api, change, field):
    body = json.loads(json.dumps(trade_fields(trade_id="V-1"), default=str))
    body.update(change)
    response = staff_api.post("/api/trades/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert not Trade.objects.exists()


@pytest.mark.parametrize(
    "payload,content_type",
    [
        ("{not json", "application/json"),
        ("[1, 2]", "application/json"),
        ('"x"', "application/json"),
        ("null", "application/json"),
        ("a=b", "text/plain"),
        ("\xff\xfe", "application/json"),
    ],
)
def test_create_with_a_malformed_body_is_4xx_not_500(staff_api, payload, content_type):
    response = staff_api.generic("POST", "/api/trades/", payload.encode("latin-1"), content_type=content_type)
    assert response.status_code in (400, 415)


def test_patch_notes_and_tags_is_audited(staff_api, staff, journal):
    t = journal[0]
    response = staff_api.patch(
        f"/api/trades/{t.trade_id}/", {"notes": "late entry", "tags": ["fomo"]}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["notes"] == "late entry" and response.json()["tags"] == ["fomo"]
    audits = {a.field: a for a in TradeAudit.objects.filter(trade=t)}
    assert set(audits) == {"notes", "tags"}
    assert audits["notes"].source == "api" and audits["notes"].user == staff
    assert audits["notes"].old_value == t.notes and audits["notes"].new_value == "late entry"


def test_patch_a_correction_rederives_and_refreshes_performance(staff_api, journal):
    t = journal[0]
    new_exit = t.entry_price + Decimal("40")
    response = staff_api.patch(f"/api/trades/{t.trade_id}/", {"exit_price": str(new_exit)}, format="json")
    assert response.status_code == 200, response.content
    data = response.json()
    # Independent reference: gross = (exit - entry) x qty for a long trade; net = gross - charges.
    gross = (new_exit - t.entry_price) * t.quantity
    assert Decimal(data["gross_pnl"]) == gross
    assert Decimal(data["net_pnl"]) == gross - Decimal(data["total_charges"])
    day = DailyPerformance.objects.get(date=t.trade_date, mode=t.entry_mode)
    same_day = Trade.objects.filter(trade_date=t.trade_date, entry_mode=t.entry_mode)
    assert day.net_pnl == sum(x.net_pnl for x in same_day)


@pytest.mark.parametrize(
    "body,field",
    [
        ({"trade_id": "NEW"}, "trade_id"),
        ({"exit_price": "abc"}, "exit_price"),
        ({"exit_price": "0"}, "exit_price"),
        ({"gross_pnl": "1"}, "gross_pnl"),
        ({"notes": None}, None),
        ({"exit_time": "9999-12-31T23:00:00-05:00"}, "exit_time"),
    ],
)
def test_patch_validation(staff_api, journal, body, field):
    t = journal[0]
    response = staff_api.patch(f"/api/trades/{t.trade_id}/", body, format="json")
    if field is None:
        assert response.status_code == 200
    else:
        assert response.status_code == 400 and field in response.json(), response.content


def test_patch_unknown_trade_is_404(staff_api):
    assert staff_api.patch("/api/trades/NOPE/", {"notes": "x"}, format="json").status_code == 404


def test_staff_deletes_a_trade(staff_api, journal):
    t = journal[0]
    assert staff_api.delete(f"/api/trades/{t.trade_id}/").status_code == 204
    assert not Trade.objects.filter(pk=t.pk).exists()
    assert ControlAudit.objects.filter(action="trade_delete").count() == 1
    day = DailyPerformance.objects.filter(date=t.trade_date, mode=t.entry_mode).first()
    remaining = Trade.objects.filter(trade_date=t.trade_date, entry_mode=t.entry_mode).count()
    assert (day.trades if day else 0) == remaining
    assert staff_api.delete(f"/api/trades/{t.trade_id}/").status_code == 404


# --- Orders, positions, signals -------------------------------------------------------------------


@pytest.fixture
def engine_rows():
    return make_engine_rows()


@pytest.mark.parametrize(
    "url,key,params,pred",
    [
        ("/api/orders/", "orders", {}, lambda o: True),
        ("/api/orders/", "orders", {"status": "filled"}, lambda o: o.status == "FILLED"),
        ("/api/orders/", "orders", {"strategy": "VixBreakout"}, lambda o: o.strategy_name == "VixBreakout"),
        ("/api/signals/", "signals", {"status": "REJECTED"}, lambda s: s.status == "REJECTED"),
        ("/api/signals/", "signals", {"strategy": "PCRStrategy"}, lambda s: s.strategy_name == "PCRStrategy"),
        ("/api/positions/", "positions", {"status": "OPEN"}, lambda p: p.status == "OPEN"),
    ],
)
def test_read_only_lists_page_and_filter(api, engine_rows, url, key, params, pred):
    rows = engine_rows[key]
    time_field = {"orders": "created_at", "signals": "bar_time", "positions": "entry_time"}[key]
    ref = [r.id for r in sorted(rows, key=lambda r: (getattr(r, time_field), r.id), reverse=True) if pred(r)]
    got, next_url = [], url + "?" + "&".join(f"{k}={v}" for k, v in {**params, "page_size": 2}.items())
    while next_url:
        body = api.get(next_url).json()
        got += [r["id"] for r in body["results"]]
        next_url = body["next"]
    assert got == ref


def test_read_only_endpoints_refuse_writes_and_unknown_ids(api, staff_api, engine_rows):
    for url in ("/api/orders/", "/api/positions/", "/api/signals/"):
        assert staff_api.post(url, {}, format="json").status_code == 405
        assert api.get(f"{url}999999/").status_code == 404
        assert api.get(f"{url}abc/").status_code == 404
        assert api.get(url, {"status": "WHATEVER"}).status_code == 400
    order = engine_rows["orders"][0]
    assert api.get(f"/api/orders/{order.id}/").json()["client_order_id"] == order.client_order_id


# --- Schema and fuzz ---------------------------------------------------------------------------------


def test_openapi_schema_is_valid(api):
    response = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    for path in (
        "/api/trades/",
        "/api/trades/{trade_id}/",
        "/api/trades/history",
        "/api/trades/totals",
        "/api/trades/export.csv",
        "/api/trades/export.xlsx",
        "/api/orders/",
        "/api/positions/",
        "/api/signals/",
    ):
        assert path in schema["paths"], path
    params = {p["name"] for p in schema["paths"]["/api/trades/"]["get"]["parameters"]}
    assert {"cursor", "page_size", "mode", "tag", "pnl_min", "vix_max", "exit_from"} <= params
    from drf_spectacular.validation import validate_schema

    validate_schema(schema)  # drf-spectacular's own check against the OpenAPI 3 JSON schema
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(schema)


def test_swagger_ui_is_served(user):
    client = APIClient()
    client.force_login(user)
    assert client.get("/api/docs/").status_code == 200


NASTY = [
    "",
    " ",
    "%00",
    "\x00",
    "'",
    '"',
    "1' OR '1'='1",
    "-1",
    "0",
    "1e309",
    "NaN",
    "9" * 40,
    "😀",
    "[]",
    "{}",
    "2026-05-05T10:00:00Z",
    "true",
    "null",
    "%ff",
    "a" * 2000,
]


@pytest.mark.parametrize(
    "url",
    [
        "/api/trades/",
        "/api/trades/history",
        "/api/trades/totals",
        "/api/orders/",
        "/api/positions/",
        "/api/signals/",
    ],
)
def test_no_500_on_nasty_query_values(api, journal, url):
    names = [
        "date_from",
        "date_to",
        "exit_from",
        "exit_to",
        "strategy",
        "symbol",
        "instrument_type",
        "mode",
        "status",
        "winning",
        "tag",
        "exit_type",
        "pnl_min",
        "pnl_max",
        "vix_min",
        "vix_max",
        "pcr_min",
        "pcr_max",
        "page",
        "page_size",
        "cursor",
        "format",
        "ordering",
    ]
    for name in names:
        for value in NASTY:
            response = api.get(url, {name: value})
            assert response.status_code < 500, (url, name, value, response.status_code)


def test_links_carry_the_query(api, journal):
    body = api.get("/api/trades/", {"page_size": 3, "mode": "PAPER"}).json()
    query = parse_qs(urlparse(body["next"]).query)
    assert query["mode"] == ["PAPER"] and query["page_size"] == ["3"] and "cursor" in query
