"""Import of the Zerodha Console tradebook and of the journal's own CSV.

Charges below are worked by hand from DOMAIN.md section 1 (rates in force after 2026-04-01: STT 0.15%
on sells, rounded to the rupee per trade; NSE transaction 0.03553%; SEBI 0.0001%; stamp 0.003% on
buys; GST 18% of brokerage + transaction + SEBI; brokerage Rs 20 per executed order).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest

from journal import importers
from journal.import_services import ImportRejected, import_commit, import_preview
from journal.models import DailyPerformance, ImportBatch, Trade
from journal.serializers import TRADE_COLUMNS
from journal.services import record_trade
from tests.helpers import NOW, ist, trade_fields

IST = ZoneInfo("Asia/Kolkata")
HEADER = "symbol,isin,trade_date,exchange,segment,series,trade_type,auction,quantity,price,trade_id,order_id,order_execution_time,expiry_date"
CE = "NIFTY2651224000CE"  # NIFTY 24000 CE, weekly expiry Tuesday 2026-05-12, lot 65
PE = "NIFTY2651224000PE"


def row(symbol, side, qty, price, fill, order, at, day="2026-05-05", expiry="2026-05-12", exchange="NFO"):
    return (
        f"{symbol},,{day},{exchange},FO,OPTIDX,{side},false,{qty},{price},{fill},{order},{day} {at},{expiry}"
    )


def tradebook(*rows: str) -> bytes:
    return ("\n".join((HEADER, *rows)) + "\n").encode()


# Line 2-4: one order of 130 bought at 100, sold by one order filled in two exchange trades at 120.
# Line 5-7: two buys at different prices closed by one sell of 130 (the sell is split FIFO).
# Line 8-9: a short: sold first at 80, bought back at 70.
# Line 10: bought and never sold: reported open, not imported.
GOOD = tradebook(
    row(CE, "buy", 130, "100.00", "F1", "O1", "09:30:00"),
    row(CE, "sell", 65, "120.00", "F2", "O2", "10:00:00"),
    row(CE, "sell", 65, "120.00", "F3", "O2", "10:00:01"),
    row(PE, "buy", 65, "50.00", "F4", "O3", "11:00:00"),
    row(PE, "buy", 65, "52.00", "F5", "O4", "11:05:00"),
    row(PE, "sell", 130, "60.00", "F6", "O5", "11:30:00"),
    row("NIFTY2651224100CE", "sell", 65, "80.00", "F7", "O6", "12:00:00"),
    row("NIFTY2651224100CE", "buy", 65, "70.00", "F8", "O7", "12:30:00"),
    row("NIFTY2651224200CE", "buy", 65, "30.00", "F9", "O8", "13:00:00"),
)

pytestmark = pytest.mark.django_db


def _by_key(trades):
    return {(t.tradingsymbol, t.entry_price, t.exit_price): t for t in trades}


# --- Pure parsing and pairing --------------------------------------------------------------------------


def test_parse_pairs_fifo_and_merges_fills_of_one_price_pair():
    result = importers.parse_zerodha_tradebook(GOOD.decode())
    assert result.errors == []
    raws = {(t.raw["tradingsymbol"], t.raw["entry_price"], t.raw["exit_price"]): t for t in result.trades}
    assert len(raws) == 4
    one = raws[(CE, D("100.00"), D("120.00"))]
    assert one.raw["quantity"] == 130 and one.raw["side"] == "LONG"
    assert (one.raw["entry_orders"], one.raw["exit_orders"]) == (1, 1)  # O1 / O2 (two fills, one order)
    assert one.raw["entry_time"] == datetime(2026, 5, 5, 9, 30, tzinfo=IST)
    assert one.raw["exit_time"] == datetime(2026, 5, 5, 10, 0, 1, tzinfo=IST)
    assert one.lines == (2, 3, 4)
    assert (one.raw["symbol"], one.raw["instrument_type"], one.raw["strike_price"]) == (
        "NIFTY",
        "CALL",
        D("24000"),
    )
    assert one.raw["expiry_date"] == date(2026, 5, 12)
    assert (one.raw["entry_mode"], one.raw["data_source"]) == ("LIVE", "KITE")
    # The sell of 130 at 60 closes 65 bought at 50 and 65 bought at 52: two trades.
    a, b = raws[(PE, D("50.00"), D("60.00"))], raws[(PE, D("52.00"), D("60.00"))]
    assert a.raw["quantity"] == b.raw["quantity"] == 65
    assert a.lines == (5, 7) and b.lines == (6, 7)
    short = raws[("NIFTY2651224100CE", D("80.00"), D("70.00"))]
    assert short.raw["side"] == "SHORT" and short.raw["quantity"] == 65
    assert result.open_positions == [
        importers.OpenQuantity("NIFTY2651224200CE", "LONG", 65, date(2026, 5, 12), (10,))
    ]
    # Deterministic ids: parsing the same fills again gives the same ids.
    again = importers.parse_zerodha_tradebook(GOOD.decode())
    assert [t.raw["trade_id"] for t in again.trades] == [t.raw["trade_id"] for t in result.trades]
    assert all(t.raw["trade_id"].startswith("ZT-") for t in result.trades)


def _fill(n, buy, qty, price, order=None):
    return importers.Fill(
        line=n + 1,
        fill_id=f"F{n}",
        order_id=order or f"O{n}",
        tradingsymbol=CE,
        index="NIFTY",
        exchange="NFO",
        instrument_type="CALL",
        strike=D("24000"),
        expiry=date(2026, 5, 12),
        buy=buy,
        quantity=qty,
        price=D(price),
        time=ist(2026, 5, 5, 9, 30 + n),
    )


def test_pairing_partial_fills_and_reversal():
    # buy 195 (three lots) in one fill; sell 65, sell 260: the second sell closes 130 and opens a short of 130.
    fills = [
        _fill(1, True, 195, "100"),
        _fill(2, False, 65, "110"),
        _fill(3, False, 260, "120"),
        _fill(4, True, 130, "90"),
    ]
    pieces, left = importers.pair_fills(fills)
    summary = [(p.cycle, p.side, p.opening.fill_id, p.closing.fill_id, p.quantity) for p in pieces]
    assert summary == [
        (1, "LONG", "F1", "F2", 65),
        (1, "LONG", "F1", "F3", 130),
        (2, "SHORT", "F3", "F4", 130),
    ]
    assert left == []


def test_pairing_reports_open_quantity():
    pieces, left = importers.pair_fills([_fill(1, True, 130, "100"), _fill(2, False, 65, "110")])
    assert [(p.quantity) for p in pieces] == [65]
    assert [(o.side, o.quantity, o.lines) for o in left] == [("LONG", 65, (2,))]


# --- Preview and commit ------------------------------------------------------------------------------


def test_preview_derives_charges_and_saves_nothing():
    preview = import_preview(content=GOOD, filename="tradebook.csv")
    assert preview.ok and preview.kind == "zerodha" and preview.rows == 9
    assert Trade.objects.count() == 0 and ImportBatch.objects.count() == 0
    values = {(t.values["tradingsymbol"], t.values["entry_price"]): t.values for t in preview.trades}
    one = values[(CE, D("100.00"))]
    # Buy 130 @ 100 (13,000), sell 130 @ 120 (15,600); turnover 28,600; one order each side.
    # brokerage 40.00; STT 0.15% x 15,600 = 23.40 -> 23; txn 0.03553% x 28,600 = 10.16158 -> 10.16;
    # SEBI 0.0286 -> 0.03; stamp 0.003% x 13,000 = 0.39; GST 18% x (40 + 10.16 + 0.03) = 9.0342 -> 9.03.
    assert (
        one["brokerage"],
        one["stt"],
        one["exchange_txn"],
        one["sebi_fee"],
        one["stamp_duty"],
        one["gst"],
    ) == (D("40.00"), D("23.00"), D("10.16"), D("0.03"), D("0.39"), D("9.03"))
    assert one["total_charges"] == D("82.61")
    assert one["gross_pnl"] == D("2600.00") and one["net_pnl"] == D("2517.39")
    a = values[(PE, D("50.00"))]
    # Buy 65 @ 50 (3,250), sell 65 @ 60 (3,900): STT 5.85 -> 6; txn 0.03553% x 7,150 = 2.5404 -> 2.54;
    # SEBI 0.00715 -> 0.01; stamp 0.0975 -> 0.10; GST 18% x 42.55 = 7.659 -> 7.66; total 56.31.
    assert a["total_charges"] == D("56.31") and a["net_pnl"] == D("593.69")
    b = values[(PE, D("52.00"))]
    # Buy 65 @ 52 (3,380), sell 65 @ 60: STT 6; txn 0.03553% x 7,280 = 2.5866 -> 2.59; SEBI 0.01;
    # stamp 0.1014 -> 0.10; GST 18% x 42.60 = 7.668 -> 7.67; total 56.37; gross 520.
    assert b["total_charges"] == D("56.37") and b["net_pnl"] == D("463.63")
    short = values[("NIFTY2651224100CE", D("80.00"))]
    # Sold 65 @ 80 (5,200; STT 7.80 -> 8), bought back @ 70 (4,550; stamp 0.1365 -> 0.14);
    # txn 0.03553% x 9,750 = 3.4642 -> 3.46; SEBI 0.00975 -> 0.01; GST 18% x 43.47 = 7.8246 -> 7.82.
    assert short["side"] == "SHORT" and short["gross_pnl"] == D("650.00")
    assert short["total_charges"] == D("59.43") and short["net_pnl"] == D("590.57")
    assert [o.tradingsymbol for o in preview.open_positions] == ["NIFTY2651224200CE"]


def test_commit_imports_once_and_the_same_file_twice_adds_nothing():
    first = import_commit(content=GOOD, filename="tradebook.csv")
    assert first.added == 4 and not first.already_imported
    assert Trade.objects.count() == 4
    batch = ImportBatch.objects.get()
    assert batch.trades == 4 and batch.kind == "zerodha" and len(batch.sha256) == 64
    one = Trade.objects.get(tradingsymbol=CE)
    assert one.net_pnl == D("2517.39") and one.entry_mode == "LIVE" and one.data_source == "KITE"
    assert one.strategy_name == "MANUAL" and one.tag_list == ["zerodha"]
    assert one.trade_date == date(2026, 5, 5)
    # Performance rows follow the imported trades.
    daily = DailyPerformance.objects.get(date=date(2026, 5, 5), mode="LIVE")
    assert daily.trades == 4
    assert daily.net_pnl == D("2517.39") + D("593.69") + D("463.63") + D("590.57")

    second = import_commit(content=GOOD, filename="tradebook-again.csv")
    assert second.added == 0 and second.already_imported
    assert Trade.objects.count() == 4 and ImportBatch.objects.count() == 1
    preview = import_preview(content=GOOD, filename="tradebook.csv")
    assert preview.already_imported is not None and preview.new_trades == []

    # Another file holding the same fills (rows in another order, CRLF line ends) adds nothing either.
    lines = GOOD.decode().strip().split("\n")
    shuffled = ("\r\n".join([lines[0], *reversed(lines[1:])]) + "\r\n").encode()
    third = import_commit(content=shuffled, filename="other.csv")
    assert third.added == 0 and not third.already_imported
    assert Trade.objects.count() == 4


def test_a_bad_row_is_reported_with_its_line_and_nothing_is_saved():
    bad = tradebook(
        row(CE, "buy", 65, "100.00", "F1", "O1", "09:30:00"),
        row(CE, "sell", 65, "120.00", "F2", "O2", "10:00:00"),
        row(CE, "hold", 65, "120.00", "F3", "O3", "10:05:00"),  # line 4
        row(CE, "buy", 50, "100.00", "F4", "O4", "10:10:00"),  # line 5: not a whole lot of 65
        row("NIFTY26XYZ24000CE", "buy", 65, "100.00", "F5", "O5", "10:15:00"),  # line 6
        row(CE, "buy", 65, "100.03", "F6", "O6", "10:20:00"),  # line 7: off tick
    )
    preview = import_preview(content=bad, filename="bad.csv")
    assert not preview.ok
    reasons = {e.line: e.reason for e in preview.errors}
    assert sorted(reasons) == [4, 5, 6, 7]
    assert "trade_type 'hold'" in reasons[4]
    assert "not a whole number of NIFTY lots of 65" in reasons[5]
    assert "bad option symbol" in reasons[6]
    assert "0.05 tick" in reasons[7]
    with pytest.raises(ImportRejected) as exc:
        import_commit(content=bad, filename="bad.csv")
    assert [e.line for e in exc.value.errors] == [4, 5, 6, 7]
    assert Trade.objects.count() == 0 and ImportBatch.objects.count() == 0


def test_missing_column_and_unknown_file():
    content = b"symbol,trade_type,quantity\nNIFTY2651224000CE,buy,65\n"
    preview = import_preview(content=content, filename="x.csv")
    assert not preview.ok and preview.errors[0].line == 1
    assert "missing column" in preview.errors[0].reason
    preview = import_preview(content=b"a,b,c\n1,2,3\n", filename="x.csv")
    assert not preview.ok and "unrecognised header" in preview.errors[0].reason
    preview = import_preview(content=b"\xff\xfe\x00bad", filename="x.csv")
    assert not preview.ok and "UTF-8" in preview.errors[0].reason


def test_duplicate_fill_id_is_a_bad_row():
    content = tradebook(
        row(CE, "buy", 65, "100.00", "F1", "O1", "09:30:00"),
        row(CE, "sell", 65, "120.00", "F1", "O2", "10:00:00"),
    )
    preview = import_preview(content=content, filename="dup.csv")
    assert [(e.line, "appears twice" in e.reason) for e in preview.errors] == [(3, True)]


# --- The journal's own CSV: export -> import round trip -------------------------------------------------


def _export_csv(client) -> bytes:
    response = client.get("/api/trades/export.csv")
    assert response.status_code == 200
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_export_import_round_trip_gives_the_same_trades(admin_client):
    originals = [
        trade_fields(
            vix_entry=14.25,
            pcr_entry=1.12,
            spot_price_entry=D("24010.35"),
            entry_features={"pcr": 1.12, "note": 'a, "quoted" value'},
            tags=["pcr", "good-entry"],
            notes="line one\nline two, with a comma",
            mae=D("-325.00"),
            mfe=D("1400.00"),
        ),
        trade_fields(
            trade_id="T-2",
            side="SHORT",
            entry_price=D("120"),
            exit_price=D("135.5"),
            stop_loss_price=D("140"),
            target_price=D("100"),
            exit_type="STOP_LOSS",
            entry_time=ist(2026, 5, 6, 11, 0, 5),
            exit_time=ist(2026, 5, 6, 14, 59, 59),
        ),
        trade_fields(
            trade_id="T-3",
            symbol="BANKNIFTY",
            strike_price=D("55000"),
            expiry_date="2026-05-26",
            quantity=60,
            entry_price=D("210.05"),
            exit_price=D("0"),
            exit_type="EXPIRY",
            entry_mode="LIVE",
            data_source="KITE",
            instrument_type="PUT",
            stop_loss_price=None,
            target_price=None,
            entry_time=ist(2026, 5, 25, 15, 0),
            exit_time=ist(2026, 5, 26, 15, 30),
        ),
        trade_fields(
            trade_id="T-4",
            symbol="SENSEX",
            strike_price=D("81000"),
            expiry_date="2026-05-14",
            quantity=40,
            entry_orders=2,
            entry_mode="BACKTEST",
            data_source="REPLAY",
            entry_time=ist(2026, 5, 12, 9, 20),
            exit_time=ist(2026, 5, 12, 9, 50),
        ),
    ]
    for fields in originals:
        record_trade(now=NOW, **fields)
    # Everything but who wrote them: the re-imported trades are the import's.
    columns = [c for c in TRADE_COLUMNS if c not in ("id", "created_at", "updated_at", "origin")]
    before = {t["trade_id"]: t for t in Trade.objects.values(*columns)}
    daily_before = sorted(
        DailyPerformance.objects.values_list("date", "mode", "trades", "net_pnl", "total_charges")
    )
    exported = _export_csv(admin_client)

    Trade.objects.all().delete()
    DailyPerformance.objects.all().delete()
    preview = import_preview(content=exported, filename="journal.csv")
    assert preview.ok and preview.kind == "journal", preview.errors
    assert preview.notices == []  # the re-derived figures equal the exported ones
    result = import_commit(content=exported, filename="journal.csv")
    assert result.added == 4

    after = {t["trade_id"]: t for t in Trade.objects.values(*columns)}
    assert after == before
    assert set(Trade.objects.values_list("origin", flat=True)) == {"IMPORT"}
    assert (
        sorted(DailyPerformance.objects.values_list("date", "mode", "trades", "net_pnl", "total_charges"))
        == daily_before
    )
    # Importing the export again into the now-full journal adds nothing.
    assert import_commit(content=exported, filename="journal.csv").added == 0


def test_journal_csv_bad_row_and_changed_figures_notice():
    header = "trade_id,symbol,instrument_type,strike_price,expiry_date,side,entry_time,exit_time,entry_price,exit_price,quantity,net_pnl"
    good = "J-1,NIFTY,CALL,24000,2026-05-12,LONG,2026-05-05T09:30:00+05:30,2026-05-05T10:45:00+05:30,100,120,65,1234.59"
    edited = "J-2,NIFTY,PUT,24000,2026-05-12,LONG,2026-05-05 09:30:00,2026-05-05 10:45:00,100,120,65,999.00"
    bad = (
        "J-3,NIFTY,CALL,24000,2026-05-12,LONG,2026-05-05T09:30:00+05:30,2026-05-05T10:45:00+05:30,100,120,64,"
    )
    preview = import_preview(content="\n".join([header, good, edited, bad]).encode(), filename="hand.csv")
    assert [(e.line, "quantity" in e.reason) for e in preview.errors] == [(4, True)]
    assert preview.notices == ["line 3: net_pnl 999.00 in the file, 1234.59 re-derived"]
    # A naive time is IST.
    j2 = next(t for t in preview.trades if t.values["trade_id"] == "J-2")
    assert j2.values["entry_time"] == ist(2026, 5, 5, 9, 30)
    with pytest.raises(ImportRejected):
        import_commit(content="\n".join([header, good, edited, bad]).encode(), filename="hand.csv")
    assert Trade.objects.count() == 0
