"""The minute importer with a column mapping, on vendor-like files: other column names, UTC times
stamped at the bar's end, prices in paise, OI in lots, volume per minute, C/P for the option type.

The vendor rows (2025-10-06, NIFTY weekly expiring 2025-10-07, lot 75) and what the store must hold:

    ts (UTC, bar end)      strike_paise right close_paise bid/ask_paise oi_lots qty  ->  IST start, strike, ltp, oi, volume
    2025-10-06 03:46:00    2400000      C     11240       11235/11260    60      750  -> 09:15, 24000, 112.40, 4500, 750
    2025-10-06 03:46:00    2400000      P      9610        9595/9620     67      900  -> 09:15, 24000,  96.10, 5025, 900
    2025-10-06 03:46:00    2405000      C      8905        8900/8915     40      300  -> 09:15, 24050,  89.05, 3000, 300
    2025-10-06 03:46:00    2405000      P     12020            /         41      150  -> 09:15, 24050, 120.20, 3075, 150
    2025-10-06 03:47:00    2400000      C     11505       11500/11520    62      450  -> 09:16, 24000, 115.05, 4650, 1200
    2025-10-06 03:47:00    2400000      P      9400        9390/9410     66      600  -> 09:16, 24000,  94.00, 4950, 1500
    2025-10-06 03:47:00    2405000      C      9150        9145/9160     41      225  -> 09:16, 24050,  91.50, 3075, 525
    2025-10-06 03:47:00    2405000      P     11800       11790/11810    40       75  -> 09:16, 24050, 118.00, 3000, 225

(03:46 UTC = 09:16 IST, the end of the 09:15 bar; volume accumulates per contract over the session.)
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.marketdata.store.conftest import snapshot_files
from trading.core import calendar as market_calendar
from trading.marketdata.store.errors import ImportFileError, MappingError
from trading.marketdata.store.importer import import_file
from trading.marketdata.store.mapping import load_mapping
from trading.marketdata.store.minute import read_mapped
from trading.marketdata.store_feed import StoreFeed

SESSION = date(2025, 10, 6)
EXPIRY = date(2025, 10, 7)

VENDOR_CSV = """ts,symbol,expiry,strike_paise,right,close_paise,bid_paise,ask_paise,oi_lots,qty
2025-10-06 03:46:00,NIFTY,07OCT2025,2400000,C,11240,11235,11260,60,750
2025-10-06 03:46:00,NIFTY,07OCT2025,2400000,P,9610,9595,9620,67,900
2025-10-06 03:46:00,NIFTY,07OCT2025,2405000,C,8905,8900,8915,40,300
2025-10-06 03:46:00,NIFTY,07OCT2025,2405000,P,12020,,,41,150
2025-10-06 03:47:00,NIFTY,07OCT2025,2400000,C,11505,11500,11520,62,450
2025-10-06 03:47:00,NIFTY,07OCT2025,2400000,P,9400,9390,9410,66,600
2025-10-06 03:47:00,NIFTY,07OCT2025,2405000,C,9150,9145,9160,41,225
2025-10-06 03:47:00,NIFTY,07OCT2025,2405000,P,11800,11790,11810,40,75
"""

CHAIN_MAP = """
kind = "chain"
timezone = "UTC"
bar_time = "end"
volume = "per_minute"
key = ["ts", "symbol", "expiry", "strike_paise", "right"]

[columns]
time = "ts"
index = "symbol"
expiry = "expiry"
strike = "strike_paise"
option_type = "right"
ltp = "close_paise"
bid = "bid_paise"
ask = "ask_paise"
oi = "oi_lots"
volume = "qty"

[scale]
strike = 0.01
ltp = 0.01
bid = 0.01
ask = 0.01
oi = "lot"

[formats]
time = "%Y-%m-%d %H:%M:%S"
expiry = "%d%b%Y"

[values.option_type]
C = "CE"
P = "PE"
"""

# Spot bars of another vendor: IST wall-clock times, stamped at the bar start, semicolon-separated.
SPOT_CSV = """Date;Time;O;H;L;C
06/10/2025;09:15;24012.35;24020.1;24001.5;24015.8
06/10/2025;09:16;24015.8;24031;24010.25;24028.4
"""
SPOT_MAP = """
kind = "spot"
delimiter = ";"
[columns]
time = "Stamp"
open = "O"
high = "H"
low = "L"
close = "C"
[constants]
index = "NIFTY"
[formats]
time = "%d/%m/%Y %H:%M"
"""


def ist(hh: int, mm: int) -> pd.Timestamp:
    return pd.Timestamp(datetime.combine(SESSION, time(hh, mm), tzinfo=market_calendar.IST)).tz_convert(UTC)


@pytest.fixture
def vendor(tmp_path):
    csv = tmp_path / "vendor_chain.csv"
    csv.write_text(VENDOR_CSV)
    mapping = tmp_path / "vendor.toml"
    mapping.write_text(CHAIN_MAP)
    return csv, load_mapping(mapping)


EXPECTED = pd.DataFrame(
    [
        (ist(9, 15), 24000.0, "CE", 112.40, 112.35, 112.60, 4500.0, 750.0),
        (ist(9, 15), 24000.0, "PE", 96.10, 95.95, 96.20, 5025.0, 900.0),
        (ist(9, 15), 24050.0, "CE", 89.05, 89.00, 89.15, 3000.0, 300.0),
        (ist(9, 15), 24050.0, "PE", 120.20, float("nan"), float("nan"), 3075.0, 150.0),
        (ist(9, 16), 24000.0, "CE", 115.05, 115.00, 115.20, 4650.0, 1200.0),
        (ist(9, 16), 24000.0, "PE", 94.00, 93.90, 94.10, 4950.0, 1500.0),
        (ist(9, 16), 24050.0, "CE", 91.50, 91.45, 91.60, 3075.0, 525.0),
        (ist(9, 16), 24050.0, "PE", 118.00, 117.90, 118.10, 3000.0, 225.0),
    ],
    columns=["time", "strike", "option_type", "ltp", "bid", "ask", "oi", "volume"],
)


def check_rows(frame: pd.DataFrame) -> None:
    frame = frame.sort_values(["time", "strike", "option_type"]).reset_index(drop=True)
    assert (frame["expiry"] == EXPIRY).all() and frame["iv"].isna().all()
    for col in EXPECTED.columns:
        if col in ("time", "option_type"):
            assert list(frame[col]) == list(EXPECTED[col]), col
        else:
            pd.testing.assert_series_equal(frame[col].astype(float), EXPECTED[col], check_names=False)


def test_vendor_csv_maps_names_times_units_and_volume(vendor) -> None:
    csv, mapping = vendor
    (session,) = read_mapped(csv, mapping)
    assert (session.index, session.session) == ("NIFTY", SESSION)
    check_rows(session.frames["chain_minute"])


def test_vendor_parquet_with_real_timestamps_gives_the_same_rows(vendor, tmp_path) -> None:
    csv, mapping = vendor
    df = pd.read_csv(csv, dtype={"expiry": str})
    df["ts"] = pd.to_datetime(df["ts"]).dt.tz_localize("UTC")  # a timestamp column, not text
    path = tmp_path / "vendor_chain.parquet"
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path)
    (session,) = read_mapped(path, mapping)
    check_rows(session.frames["chain_minute"])


def test_mapped_import_into_the_store_and_served_with_spot(vendor, store, tmp_path) -> None:
    csv, mapping = vendor
    assert import_file(store, "minute", csv, mapping=mapping).added == 8
    assert import_file(store, "minute", csv, mapping=mapping).written == 0  # idempotent
    spot_csv = tmp_path / "spot.csv"
    spot_csv.write_text(SPOT_CSV.replace("Date;Time", "Stamp").replace("2025;09", "2025 09"))
    spot_map = tmp_path / "spot.toml"
    spot_map.write_text(SPOT_MAP)
    result = import_file(store, "minute", spot_csv, mapping=load_mapping(spot_map))
    assert result.ok, result.error
    feed = StoreFeed(store, "NIFTY")
    (day,) = feed.days(SESSION, SESSION)
    assert len(day) == 2 and day.expiries == (EXPIRY,)
    bar = day.bar(1)
    assert bar.close == 24028.4 and bar.volume == 0  # spot volume: 0 when the vendor has none
    chain = bar.chains[0]
    assert chain.strikes.tolist() == [24000, 24050]
    assert chain.call_ltp.tolist() == [115.05, 91.5] and chain.put_volume.tolist() == [1500, 225]
    (gaps,) = feed.gaps(SESSION, SESSION)
    assert gaps.counts["missing_minutes"] == 373 and gaps.counts["missing_vix"] == 2
    assert gaps.counts["missing_strikes"] == 0 and gaps.counts["one_sided"] == 0


@pytest.mark.parametrize(
    ("edit", "line", "reason"),
    [
        (lambda t: t.replace("2400000,C,11240", "2400000,C,11x40"), 2, "ltp (close_paise): '11x40' is not a number"),
        (lambda t: t.replace("07OCT2025,2405000,C,8905", "2025-10-07,2405000,C,8905"), 4, "expiry: '2025-10-07'"),
        (lambda t: t.replace("2405000,P,11800", "2405000,X,11800"), 9, "option_type 'X' is not CE or PE"),
        (lambda t: t.replace("11790,11810", "11830,11810"), 9, "bid 118.3 is above ask 118.1"),
        (lambda t: t.replace("2025-10-06 03:47:00,NIFTY,07OCT2025,2405000,P", "2025-10-06 03:46:00,NIFTY,07OCT2025,2405000,P"),
         9, "repeats line 5 on the key"),
        (lambda t: t.replace("2025-10-06 03:46:00", "2025-10-06 11:00:00"), 2, "outside the 09:15-15:29 session"),
        (lambda t: t.replace("03:47:00,NIFTY,07OCT2025,2405000,C,9150", "03:47:30,NIFTY,07OCT2025,2405000,C,9150"),
         8, "not on a whole minute"),
        (lambda t: t.replace(",62,450", ",-62,450"), 6, "oi: -4650 must be >= 0"),
    ],
)  # fmt: skip
def test_bad_vendor_rows_are_refused_with_line_and_reason(vendor, store, edit, line, reason) -> None:
    csv, mapping = vendor
    csv.write_text(edit(VENDOR_CSV))
    with pytest.raises(ImportFileError) as info:
        read_mapped(csv, mapping)
    assert info.value.line == line and reason in info.value.reason, str(info.value)
    result = import_file(store, "minute", csv, mapping=mapping)
    assert not result.ok and snapshot_files(store) == {}


def test_times_in_the_wrong_zone_are_named_with_the_mapping(vendor) -> None:
    csv, mapping = vendor
    mapping.timezone = "Asia/Kolkata"  # the user forgot that the vendor writes UTC
    with pytest.raises(ImportFileError) as info:
        read_mapped(csv, mapping)
    assert "09:15-15:29 session" in info.value.reason and "timezone 'Asia/Kolkata'" in info.value.reason


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (CHAIN_MAP.replace('kind = "chain"', 'kind = "bars"'), "kind 'bars'"),
        (CHAIN_MAP.replace('ltp = "close_paise"', 'last = "close_paise"'), "unknown field 'last'"),
        (CHAIN_MAP.replace('oi = "oi_lots"\n', ""), "no column or constant for oi"),
        (CHAIN_MAP.replace('timezone = "UTC"', 'timezone = "Mars/Olympus"'), "not a time zone"),
        (CHAIN_MAP.replace('bar_time = "end"', 'bar_time = "middle"'), "bar_time 'middle'"),
        (CHAIN_MAP.replace("strike = 0.01", 'strike = "lot"'), "applies to oi/volume"),
        ("colour = 1\n" + CHAIN_MAP, "unknown key(s) colour"),
        ("kind = [", "not valid TOML"),
    ],
)
def test_bad_mappings_name_the_key(tmp_path, text, message) -> None:
    path = tmp_path / "m.toml"
    path.write_text(text)
    with pytest.raises(MappingError) as info:
        load_mapping(path)
    assert message in str(info.value) and str(path) in str(info.value)


def test_a_mapped_column_missing_from_the_file(vendor) -> None:
    csv, mapping = vendor
    csv.write_text(VENDOR_CSV.replace("oi_lots", "open_int"))
    with pytest.raises(ImportFileError) as info:
        read_mapped(csv, mapping)
    assert info.value.line == 1 and "oi_lots" in info.value.reason
