"""CSV and Excel exports: every row, the API's columns and values, filters, streaming, the Excel
limit, and (on PostgreSQL) COPY writing exactly what the Python writer writes."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from rest_framework.test import APIClient

from journal import export
from journal.derive import REQUIRED, derive_trade
from journal.filters import TradeFilterSet
from journal.models import Trade
from journal.serializers import TRADE_COLUMNS
from tests.helpers import user_with_role
from tests.journal.api_data import make_journal

pytestmark = pytest.mark.django_db
IST = ZoneInfo("Asia/Kolkata")


@pytest.fixture
def api():
    client = APIClient()
    client.force_authenticate(user_with_role("viewer"))
    return client


@pytest.fixture
def journal():
    return make_journal(30)


def _csv(response) -> list[dict]:
    assert response.status_code == 200, response.content
    assert response.streaming
    body = b"".join(response.streaming_content).decode()
    reader = csv.DictReader(io.StringIO(body))
    assert tuple(reader.fieldnames) == TRADE_COLUMNS
    return list(reader)


@pytest.mark.parametrize(
    "params,predicate",
    [
        ({}, lambda t: True),
        ({"mode": "PAPER"}, lambda t: t.entry_mode == "PAPER"),
        ({"tag": "gap-up", "winning": "true"}, lambda t: "gap-up" in t.tag_list and t.net_pnl > 0),
        ({"pnl_max": "-1"}, lambda t: t.net_pnl <= -1),
        ({"mode": "LIVE", "symbol": "FINNIFTY"}, lambda t: t.entry_mode == "LIVE" and t.symbol == "FINNIFTY"),
        ({"mode": "LIVE", "symbol": "BANKNIFTY"}, lambda t: False),
    ],
)
def test_csv_export_holds_every_row_of_the_selection(api, journal, params, predicate):
    rows = _csv(api.get("/api/trades/export.csv", params))
    # The database's own count of the same selection: the file must hold exactly that many rows.
    fs = TradeFilterSet(data=params)
    assert fs.is_valid()
    assert len(rows) == fs.qs.count() == sum(1 for t in journal if predicate(t))
    expected = [
        t.trade_id for t in sorted(journal, key=lambda t: (t.exit_time, t.id), reverse=True) if predicate(t)
    ]
    assert [r["trade_id"] for r in rows] == expected


def test_csv_values_are_formatted_like_the_api(api, journal):
    rows = {r["trade_id"]: r for r in _csv(api.get("/api/trades/export.csv"))}
    api_rows = {r["trade_id"]: r for r in api.get("/api/trades/", {"page_size": 500}).json()["results"]}
    assert set(rows) == set(api_rows)
    for tid, row in rows.items():
        ref = api_rows[tid]
        for name in TRADE_COLUMNS:
            value = ref[name]
            if value is None:
                expected = ""
            elif name == "tags":
                expected = ",".join(value)
            elif name == "entry_features":
                assert json.loads(row[name]) == value
                continue
            elif isinstance(value, bool):
                expected = "true" if value else "false"
            elif isinstance(value, float):
                assert float(row[name]) == value
                continue
            elif name.endswith(("_time", "_at")):
                # Same instant, IST in both; the CSV has PostgreSQL's space where the API has a "T".
                assert datetime.fromisoformat(row[name]) == datetime.fromisoformat(value), (tid, name)
                assert row[name].endswith("+05:30") and value.endswith("+05:30")
                continue
            else:
                expected = str(value)
            assert row[name] == expected, (tid, name)


def test_csv_values_against_the_stored_trade(api, journal):
    rows = {r["trade_id"]: r for r in _csv(api.get("/api/trades/export.csv"))}
    for t in journal:
        row = rows[t.trade_id]
        assert Decimal(row["net_pnl"]) == t.net_pnl and Decimal(row["total_charges"]) == t.total_charges
        assert row["exit_time"] == t.exit_time.astimezone(IST).strftime("%Y-%m-%d %H:%M:%S+05:30")
        assert row["trade_date"] == t.trade_date.isoformat()
        assert row["tags"].split(",") == (t.tag_list or [""])
        assert float(row["vix_entry"]) == t.vix_entry


def test_csv_rows_rederive_to_the_same_trade(api, journal):
    """The export carries every raw fact: feeding a row back to derive_trade gives the same trade."""
    raw_names = [n for n in REQUIRED] + [
        "side",
        "entry_mode",
        "exit_type",
        "strategy_name",
        "stop_loss_price",
        "target_price",
        "entry_orders",
        "exit_orders",
        "tags",
    ]
    for row in _csv(api.get("/api/trades/export.csv")):
        raw = {n: row[n] for n in raw_names if row[n] != ""}
        values = derive_trade(raw)
        stored = Trade.objects.get(trade_id=row["trade_id"])
        for name in ("net_pnl", "gross_pnl", "total_charges", "trade_date", "r_multiple", "lots"):
            assert values[name] == getattr(stored, name), name


def test_csv_streams_in_chunks(journal, monkeypatch):
    monkeypatch.setattr(export, "_SQLITE_ROWS_PER_CHUNK", 7)
    monkeypatch.setattr(export, "CHUNK_BYTES", 2048)
    chunks = list(export.csv_chunks(Trade.objects.all()))
    assert len(chunks) >= 3
    assert b"".join(chunks).count(b"\n") == Trade.objects.count() + 1


def test_csv_with_a_bad_filter_is_400(api, journal):
    response = api.get("/api/trades/export.csv", {"vix_min": "high"})
    assert response.status_code == 400 and "vix_min" in response.json()


def test_xlsx_export(api, journal):
    openpyxl = pytest.importorskip("openpyxl")
    response = api.get("/api/trades/export.xlsx", {"mode": "PAPER"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    book = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    rows = list(book.active.iter_rows(values_only=True))
    assert rows[0] == TRADE_COLUMNS
    paper = sorted(
        (t for t in journal if t.entry_mode == "PAPER"), key=lambda t: (t.exit_time, t.id), reverse=True
    )
    assert len(rows) - 1 == len(paper) == Trade.objects.filter(entry_mode="PAPER").count()
    col = {name: i for i, name in enumerate(TRADE_COLUMNS)}
    for row, t in zip(rows[1:], paper):
        assert row[col["trade_id"]] == t.trade_id
        assert Decimal(str(row[col["net_pnl"]])) == t.net_pnl
        assert row[col["exit_time"]] == t.exit_time.astimezone(IST).replace(tzinfo=None)
        assert row[col["is_winning_trade"]] is t.is_winning_trade


def test_xlsx_keeps_formula_looking_text_as_text(api, journal):
    openpyxl = pytest.importorskip("openpyxl")
    Trade.objects.filter(pk=journal[0].pk).update(notes='=HYPERLINK("http://x")')
    body = b"".join(api.get("/api/trades/export.xlsx").streaming_content)
    book = openpyxl.load_workbook(io.BytesIO(body))
    notes = [r[TRADE_COLUMNS.index("notes")] for r in book.active.iter_rows(values_only=True)]
    assert '\'=HYPERLINK("http://x")' in notes  # quoted too (tests/journal/test_formula_injection.py)
    assert book.active.cell(row=2, column=TRADE_COLUMNS.index("notes") + 1).data_type == "s"


def test_xlsx_refuses_more_rows_than_a_sheet_holds(api, journal, monkeypatch):
    monkeypatch.setattr(export, "EXCEL_MAX_ROWS", len(journal))  # header + len - 1 rows fit
    response = api.get("/api/trades/export.xlsx")
    assert response.status_code == 400
    message = json.dumps(response.json())
    assert "export.csv" in message and "Excel" in message
    # One row fewer fits.
    assert api.get("/api/trades/export.xlsx", {"winning": "true"}).status_code == 200


def test_excel_limit_is_the_sheet_size():
    assert export.EXCEL_MAX_ROWS == 2**20


@pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY is PostgreSQL's")
@pytest.mark.parametrize("params", [{}, {"mode": "PAPER", "tag": "gap"}, {"pnl_min": "0", "symbol": "NIFTY"}])
def test_postgres_copy_writes_what_the_python_writer_writes(journal, params):
    Trade.objects.filter(pk=journal[0].pk).update(
        notes='comma, "quote"\nnewline', entry_features={"pcr": 0.9}
    )
    fs = TradeFilterSet(data=params)
    assert fs.is_valid()
    copy_rows = list(csv.reader(io.StringIO(b"".join(export._pg_csv_chunks(fs.qs)).decode())))
    python_rows = list(csv.reader(io.StringIO(b"".join(export._python_csv_chunks(fs.qs)).decode())))
    assert len(copy_rows) == len(python_rows) == fs.qs.count() + 1
    je = TRADE_COLUMNS.index("entry_features")
    for a, b in zip(copy_rows, python_rows):
        if a[je].startswith("{"):
            assert json.loads(a[je]) == json.loads(b[je])
            a, b = a[:je] + a[je + 1 :], b[:je] + b[je + 1 :]
        assert a == b


def test_fake_trades_are_what_record_trade_would_store():
    """The bench's bulk loader writes valid trades: each re-derives to exactly what it stored, and the
    performance rows it rebuilds count every trade."""
    from journal.management.commands.load_fake_trades import load_fake_trades, rebuild_performance
    from journal.models import DailyPerformance
    from journal.services import raw_of

    assert load_fake_trades(120, start=date(2026, 5, 4), per_day=40, seed=3) == 120
    rebuild_performance()
    assert sum(DailyPerformance.objects.values_list("trades", flat=True)) == Trade.objects.count() == 120
    assert len({t.trade_date for t in Trade.objects.all()}) == 3
    for trade in Trade.objects.all():
        values = derive_trade(raw_of(trade))
        for name in (
            "net_pnl",
            "gross_pnl",
            "total_charges",
            "trade_date",
            "hold_duration_minutes",
            "lots",
            "is_winning_trade",
            "r_multiple",
        ):
            assert values[name] == getattr(trade, name), (trade.trade_id, name)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY is PostgreSQL's")
def test_postgres_export_leaves_the_session_as_it_found_it(journal):
    """Inside a caller's transaction too: Django reads timestamptz assuming a UTC session."""
    from django.db import transaction

    before = Trade.objects.order_by("id").values_list("exit_time", flat=True)[0]
    with transaction.atomic():
        b"".join(export._pg_csv_chunks(Trade.objects.all()))
        assert Trade.objects.order_by("id").values_list("exit_time", flat=True)[0] == before
        # An abandoned download (the client went away after the first chunk) too.
        chunks = export._pg_csv_chunks(Trade.objects.all())
        monkey_small = export.CHUNK_BYTES
        export.CHUNK_BYTES = 100
        try:
            next(chunks)
            chunks.close()
        finally:
            export.CHUNK_BYTES = monkey_small
        assert Trade.objects.order_by("id").values_list("exit_time", flat=True)[0] == before
    with connection.cursor() as cursor:
        cursor.execute("SHOW TimeZone")
        assert cursor.fetchone()[0] == "UTC"


@pytest.mark.django_db(transaction=True)
def test_asgi_streams_the_export_instead_of_buffering_it():
    """Under ASGI (the Procfile serves the site with uvicorn) Django would buffer a synchronous
    iterator whole: the export must hand it an asynchronous one, and still hold every row."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from django.test import AsyncClient
    from rest_framework.authtoken.models import Token

    make_journal(12)
    token = Token.objects.create(user=user_with_role("viewer", "asgi"))

    async def fetch(path):
        from asgiref.sync import sync_to_async
        from django.db import connections

        response = await AsyncClient().get(path, headers={"Authorization": f"Token {token.key}"})
        assert response.status_code == 200 and response.is_async
        body = b"".join([chunk async for chunk in response.streaming_content])
        # The handler's thread keeps its connection (CONN_MAX_AGE): closed, PostgreSQL can drop the test DB.
        await sync_to_async(connections.close_all, thread_sensitive=True)()
        return body

    def run(path):
        # A loop of its own in a fresh thread: the browser tests' Playwright keeps a loop running in
        # the main thread for the whole session.
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, fetch(path)).result()

    body = run("/api/trades/export.csv?mode=PAPER")
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert len(rows) == Trade.objects.filter(entry_mode="PAPER").count() > 0
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.load_workbook(io.BytesIO(run("/api/trades/export.xlsx")), read_only=True)
    assert sum(1 for _ in book.active.iter_rows()) == Trade.objects.count() + 1
