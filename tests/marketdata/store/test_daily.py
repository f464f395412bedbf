"""Daily index-close and India VIX CSVs: the exchanges' export shapes, and their refusals."""

from __future__ import annotations

from datetime import date

import pytest

from tests.marketdata.store.conftest import INDEX_CLOSE_FILE, snapshot_files
from trading.marketdata.store.daily import index_name, parse_daily
from trading.marketdata.store.errors import CoverageError, ImportFileError
from trading.marketdata.store.importer import import_file


def test_index_names_of_the_exchange_files() -> None:
    assert index_name("NIFTY 50") == "NIFTY" and index_name(" nifty  bank ") == "BANKNIFTY"
    assert index_name("NIFTY FIN SERVICE") == "FINNIFTY" and index_name("NIFTY MID SELECT") == "MIDCPNIFTY"
    assert index_name("S&P BSE SENSEX") == "SENSEX" and index_name("NIFTY IT") is None


def test_index_name_column_and_several_indices_in_one_file() -> None:
    text = (
        "Index Name,Date,Open,High,Low,Close\n"
        "NIFTY 50,05 Jan 2024,21705.75,21749.6,21629.2,21710.8\n"
        "NIFTY BANK,2024-01-05,48019.75,48179.65,47838.4,48159\n"
    )
    series = parse_daily(text, "indices.csv")
    assert sorted(series.frames) == ["BANKNIFTY", "NIFTY"]
    assert series.frames["BANKNIFTY"]["date"].iat[0] == date(2024, 1, 5)
    assert series.frames["NIFTY"]["close"].iat[0] == 21710.8


@pytest.mark.parametrize(
    ("edit", "line", "reason"),
    [
        (lambda t: t.replace('"21710.8"', '"21,71O.8"'), 3, "Close: '21,71O.8' is not a number"),
        (lambda t: t.replace('"05-JAN-2024"', '"2024/01/05"'), 3, "Date '2024/01/05' is not a date"),
        (lambda t: t.replace('"21749.6"', '"21600"'), 3, "High 21600 is below"),
        (lambda t: t.replace('"08-JAN-2024"', '"05-JAN-2024"'), 4, "repeats 2024-01-05 of line 3"),
        (lambda t: t.replace('"Close "', '"Last "'), 1, "no close column"),
    ],
)
def test_bad_rows_are_refused(edit, line, reason) -> None:
    with pytest.raises(ImportFileError) as info:
        parse_daily(edit(INDEX_CLOSE_FILE.read_text(encoding="utf-8")), "close.csv", index="NIFTY")
    assert info.value.line == line and reason in info.value.reason, str(info.value)


def test_index_close_needs_an_index_and_a_covered_date(store, tmp_path) -> None:
    result = import_file(store, "index-close", INDEX_CLOSE_FILE)
    assert not result.ok and "say which index" in result.error.reason
    with pytest.raises(CoverageError, match="holidays.csv"):
        parse_daily("Date,Close\n29-DEC-2023,21731.4\n", "old.csv", index="NIFTY")
    assert snapshot_files(store) == {}
