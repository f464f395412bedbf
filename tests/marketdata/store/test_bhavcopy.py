"""The F&O bhavcopy importer on small files that copy both exchange layouts exactly.

tests/data/marketdata/fo05JAN2024bhav.csv is the older layout (trailing comma on every line, futures
with OPTION_TYP XX, dates 11-Jan-2024 / 05-JAN-2024); BhavCopy_NSE_FO_0_0_0_20240708_F_0000.csv the
34-column UDiFF one (rows ending ",,,,,"). Both mix in stock options and futures, an index that is not
configured (NIFTYNXT50), other configured indices and a later NIFTY expiry. Bad variants (a malformed
row, a duplicate, a holiday...) are made here from those files, one edit each.
"""

from __future__ import annotations

import math
import zipfile
from datetime import date

import pytest

from tests.marketdata.store.conftest import OLD_FILE, UDIFF_FILE, snapshot_files
from trading.marketdata.store.bhavcopy import parse_bhavcopy, read_bhavcopy
from trading.marketdata.store.errors import CoverageError, ImportFileError
from trading.marketdata.store.importer import import_file


def old_lines() -> list[str]:
    return OLD_FILE.read_text().splitlines()


def udiff_lines() -> list[str]:
    return UDIFF_FILE.read_text().splitlines()


def parse(lines: list[str], name: str = "edited.csv"):
    return parse_bhavcopy("\n".join(lines) + "\n", name)


def refused(lines: list[str]) -> ImportFileError:
    with pytest.raises(ImportFileError) as info:
        parse(lines)
    return info.value


# --- the older layout -----------------------------------------------------------------------------------


def test_old_layout_keeps_index_options_and_futures_of_the_configured_indices() -> None:
    (day,) = read_bhavcopy(OLD_FILE)
    assert day.layout == "fo_bhavcopy" and day.session == date(2024, 1, 5)
    assert sorted(day.chains) == ["BANKNIFTY", "NIFTY"] and sorted(day.futures) == ["BANKNIFTY", "NIFTY"]
    # 20 data rows: 4 skipped (FUTSTK RELIANCE, OPTIDX NIFTYNXT50, 2 x OPTSTK RELIANCE).
    assert day.rows == 20 and day.skipped == 4
    nifty = day.chains["NIFTY"]
    assert sorted(set(nifty["expiry"])) == [date(2024, 1, 11), date(2024, 1, 25)]  # the later expiry kept
    assert len(nifty) == 12
    row = nifty[
        (nifty["strike"] == 21700) & (nifty["option_type"] == "CE") & (nifty["expiry"] == date(2024, 1, 11))
    ]
    r = row.iloc[0]
    # OPTIDX,NIFTY,11-Jan-2024,21700,CE,100,125.4,90.15,110,110,95000,52250,300000,25000,05-JAN-2024,
    assert (r.open, r.high, r.low, r.close, r.settle) == (100, 125.4, 90.15, 110, 110)
    assert r.oi == 300000 and r.oi_change == 25000 and r.contracts == 95000
    assert r.volume == 95000 * 50  # contracts x the NIFTY lot of a Jan-2024 contract (50)
    assert r.turnover == 52250 * 100_000  # lakhs -> rupees
    assert math.isnan(r.underlying) and math.isnan(r.lot) and r.layout == "fo_bhavcopy"
    fut = day.futures["NIFTY"].iloc[0]
    assert fut.expiry == date(2024, 1, 25) and fut.settle == 21775.45 and fut.oi == 12500000
    assert day.chains["BANKNIFTY"]["volume"].tolist() == [200000 * 15, 180000 * 15]


def test_untraded_contract_keeps_its_settlement_price() -> None:
    (day,) = read_bhavcopy(OLD_FILE)
    nifty = day.chains["NIFTY"]
    r = nifty[(nifty["strike"] == 21800) & (nifty["option_type"] == "PE")].iloc[0]
    assert (r.open, r.close, r.contracts, r.settle, r.oi) == (0, 0, 0, 150, 100000)


def test_old_layout_month_names_in_any_case_and_crlf_lines() -> None:
    lines = [
        line.replace("11-Jan-2024", "11-JAN-2024").replace("05-JAN-2024", "05-jan-2024")
        for line in old_lines()
    ]
    day = parse_bhavcopy("\r\n".join(lines) + "\r\n", "crlf.csv")
    assert day.session == date(2024, 1, 5)
    assert date(2024, 1, 11) in set(day.chains["NIFTY"]["expiry"])


def test_old_layout_without_the_trailing_comma_on_one_line_is_refused_at_that_line() -> None:
    lines = old_lines()
    lines[6] = lines[6].rstrip(",")
    err = refused(lines)
    assert (
        err.line == 7 and "expected 16 fields, found 15" in err.reason and "ends with a comma" in err.reason
    )


def test_a_value_in_the_16th_column_is_refused() -> None:
    lines = old_lines()
    lines[3] = lines[3] + "x"
    err = refused(lines)
    assert err.line == 4 and "16th column must be empty" in err.reason


@pytest.mark.parametrize(
    ("line_no", "old", "new", "reason"),
    [
        (7, ",180,180,", ",180,abc,", "SETTLE_PR: 'abc' is not a number"),
        (7, "11-Jan-2024", "2024-01-11", "EXPIRY_DT '2024-01-11' is not a date"),
        (7, ",CE,", ",XX,", "OPTION_TYP 'XX' of an option row is not CE or PE"),
        (3, ",XX,", ",CE,", "of a future row should be 'XX'"),
        (7, ",21600,", ",-21600,", "STRIKE_PR '-21600' is not a positive number"),
        (7, ",100000,5000,", ",-100000,5000,", "OPEN_INT: -100000 is negative"),
        (7, ",170,195.5,150,180,", ",170,160,150,180,", "high 160 is below the open 170 or the close 180"),
        (7, "05-JAN-2024,", "06-JAN-2024,", "TIMESTAMP 06-JAN-2024 differs from 05-JAN-2024 on line 2"),
        (7, "11-Jan-2024", "04-Jan-2024", "expiry 2024-01-04 is before the trade date 2024-01-05"),
    ],
)
def test_malformed_rows_are_refused_with_line_and_reason(line_no, old, new, reason) -> None:
    lines = old_lines()
    assert old in lines[line_no - 1]
    lines[line_no - 1] = lines[line_no - 1].replace(old, new, 1)
    err = refused(lines)
    assert err.line == line_no and reason in err.reason, str(err)


def test_malformed_row_of_a_skipped_symbol_only_needs_its_shape() -> None:
    lines = old_lines()
    # OPTSTK RELIANCE with a bad price: not ours, so not our business - but its field count still is.
    lines[19] = lines[19].replace(",45.3,45.3,", ",n/a,45.3,")
    assert parse(lines).skipped == 4
    lines[19] = lines[19][: lines[19].rfind(",")]
    assert refused(lines).line == 20


def test_a_duplicate_contract_is_refused_naming_both_lines() -> None:
    lines = old_lines()
    lines.insert(9, lines[6])  # the 21600 CE row again, as line 10
    err = refused(lines)
    assert (
        err.line == 10
        and "repeats line 7" in err.reason
        and "NIFTY" in err.reason
        and "21600 CE" in err.reason
    )


def test_a_holiday_is_refused_naming_the_holiday_table() -> None:
    lines = [
        line.replace("05-JAN-2024", "26-JAN-2024").replace("25-Jan-2024", "29-Feb-2024")
        for line in old_lines()
    ]
    lines = [
        line.replace("11-Jan-2024", "01-Feb-2024").replace("10-Jan-2024", "31-Jan-2024") for line in lines
    ]
    with pytest.raises(CoverageError) as info:
        parse(lines)
    assert "2024-01-26 is an NSE holiday" in str(info.value) and "holidays.csv" in str(info.value)


def test_a_weekend_is_refused() -> None:
    lines = [line.replace("05-JAN-2024", "06-JAN-2024") for line in old_lines()]
    with pytest.raises(CoverageError, match="2024-01-06 is a Saturday, not a trading day"):
        parse(lines)


def test_a_date_before_the_holiday_table_is_refused_naming_the_table_to_extend() -> None:
    # 29-DEC-2023 parses (upper-case month) but the holiday list starts in 2024: no default calendar.
    lines = [line.replace("05-JAN-2024", "29-DEC-2023") for line in old_lines()]
    with pytest.raises(CoverageError) as info:
        parse(lines)
    message = str(info.value)
    assert "2023-12-29 is outside the NSE holiday table trading/core/data/holidays.csv" in message
    assert "add the NSE holidays of 2023" in message


def test_unknown_header_is_refused_at_line_1() -> None:
    lines = old_lines()
    lines[0] = lines[0].replace("SETTLE_PR", "SETTLE_PRICE")
    err = refused(lines)
    assert err.line == 1 and "missing SETTLE_PR" in err.reason and "unknown SETTLE_PRICE" in err.reason
    assert refused(["Date,Open,Close", "2024-01-05,1,2"]).reason.startswith("not an F&O bhavcopy")


def test_layout_comes_from_the_header_not_the_date() -> None:
    # The older layout dated after 2024-07-05 and UDiFF dated before it are read by their headers.
    old = [
        line.replace("05-JAN-2024", "08-JUL-2024").replace("-Jan-2024", "-Jul-2024") for line in old_lines()
    ]
    day = parse(old)
    assert day.layout == "fo_bhavcopy" and day.session == date(2024, 7, 8)
    assert day.chains["NIFTY"]["volume"].iloc[0] == 40000 * 25  # July-2024 contracts: lot 25
    udiff = [
        line.replace("2024-07-08", "2024-01-05").replace("2024-07-", "2024-01-") for line in udiff_lines()
    ]
    day = parse(udiff)
    assert day.layout == "udiff" and day.session == date(2024, 1, 5)


# --- UDiFF ----------------------------------------------------------------------------------------------


def test_udiff_rows_end_with_five_empty_fields_and_keep_ido_idf() -> None:
    raw = udiff_lines()
    assert len(raw[0].split(",")) == 34 and all(line.endswith(",,,,,") for line in raw[1:])
    (day,) = read_bhavcopy(UDIFF_FILE)
    assert day.layout == "udiff" and day.session == date(2024, 7, 8)
    assert sorted(day.chains) == ["BANKNIFTY", "FINNIFTY", "NIFTY"]
    assert day.skipped == 3  # NIFTYNXT50 IDO, RELIANCE STO, TCS STF
    nifty = day.chains["NIFTY"]
    assert sorted(set(nifty["expiry"])) == [date(2024, 7, 11), date(2024, 7, 25)]
    r = nifty[
        (nifty["strike"] == 24300) & (nifty["option_type"] == "PE") & (nifty["expiry"] == date(2024, 7, 11))
    ].iloc[0]
    assert (r.settle, r.underlying, r.oi, r.volume, r.lot, r.trades) == (
        100.5,
        24320.1,
        3500000,
        7500000,
        25,
        170000,
    )
    assert r.contracts == 7500000 / 25 and r.turnover == 760000000 and r.last == 100 and r.prev_close == 120
    fut = day.futures["NIFTY"].iloc[0]
    assert fut.expiry == date(2024, 7, 25) and fut.settle == 24411.55


def test_udiff_missing_field_and_bad_row() -> None:
    lines = udiff_lines()
    lines[7] = lines[7][:-1]  # 33 fields
    err = refused(lines)
    assert err.line == 8 and "expected 34 fields, found 33" in err.reason
    lines = udiff_lines()
    lines[7] = lines[7].replace(",2500000,100000,", ",,100000,")  # OpnIntrst empty on a kept row
    err = refused(lines)
    assert err.line == 8 and "OpnIntrst: missing value" in err.reason


def test_udiff_actual_expiry_wins_over_the_nominal_one() -> None:
    lines = udiff_lines()
    parts = lines[7].split(",")
    parts[10] = "2024-07-10"  # FininstrmActlXpryDt: the exchange moved it a day earlier
    lines[7] = ",".join(parts)
    nifty = parse(lines).chains["NIFTY"]
    assert date(2024, 7, 10) in set(nifty["expiry"])


# --- into the store -------------------------------------------------------------------------------------


def test_import_writes_partitions_and_reimport_is_idempotent(store) -> None:
    first = import_file(store, "bhavcopy", OLD_FILE)
    assert first.ok and first.written == 4 and first.added == 16 and first.skipped == 4
    assert store.sessions("chain_eod", "NIFTY") == [date(2024, 1, 5)]
    before = snapshot_files(store)
    again = import_file(store, "bhavcopy", OLD_FILE)
    assert again.ok and again.written == 0 and again.added == 0 and again.replaced == 0
    assert snapshot_files(store) == before  # not even rewritten
    # A corrected file for the same day replaces rows by key and adds nothing twice.
    lines = old_lines()
    lines[6] = lines[6].replace(",180,180,", ",180,181,")
    fixed = store.root.parent / "fixed.csv"
    fixed.write_text("\n".join(lines) + "\n")
    third = import_file(store, "bhavcopy", fixed)
    assert third.written == 1 and third.replaced == 1 and third.added == 0
    rows = store.read("chain_eod", "NIFTY")
    assert len(rows) == 12
    assert (
        rows[
            (rows.strike == 21600) & (rows.option_type == "CE") & (rows.expiry == date(2024, 1, 11))
        ].settle.iat[0]
        == 181
    )


def test_a_bad_file_stores_nothing(store) -> None:
    import_file(store, "bhavcopy", UDIFF_FILE)
    before = snapshot_files(store)
    lines = old_lines()
    lines[-1] = lines[-1].replace(",36.8,36.8,", ",36.8,36.8,1,")  # the last line is malformed
    bad = store.root.parent / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    result = import_file(store, "bhavcopy", bad)
    assert not result.ok and result.error.line == len(lines)
    assert snapshot_files(store) == before
    assert store.sessions("chain_eod", "NIFTY") == [date(2024, 7, 8)]
    assert not any(p.name.endswith(".tmp") for p in store.root.rglob("*"))


def test_zip_of_a_bhavcopy_imports_like_the_csv(store, tmp_path) -> None:
    archive = tmp_path / "fo05JAN2024bhav.csv.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(OLD_FILE, "fo05JAN2024bhav.csv")
    result = import_file(store, "bhavcopy", archive)
    assert result.ok and result.added == 16
    assert import_file(store, "bhavcopy", OLD_FILE).written == 0  # the same data
