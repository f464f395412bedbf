"""Breakdown buckets: edges by hand, and the SQL CASE gives the same bucket as Python (on SQLite)."""

from __future__ import annotations

import math
import sqlite3
from datetime import UTC, date, datetime

import pytest

from journal import buckets as B
from trading.core.calendar import IST


def test_entry_time_buckets_are_15_minutes_of_the_ist_session():
    dim = B.entry_time()
    assert len(dim.buckets) == 25 + 2  # 09:15-15:30 in 15-minute steps, before and after
    # 03:50 UTC is 09:20 IST.
    assert dim.key(B.ist_minutes(datetime(2025, 3, 3, 3, 50, tzinfo=UTC))) == "0915"
    cases = {
        (9, 14, 59): "pre",
        (9, 15, 0): "0915",
        (9, 29, 59): "0915",
        (9, 30, 0): "0930",
        (15, 14, 59): "1500",
        (15, 15, 0): "1515",
        (15, 29, 59): "1515",
        (15, 30, 0): "post",
    }
    for (h, m, s), key in cases.items():
        assert dim.key(B.ist_minutes(datetime(2025, 3, 3, h, m, s, tzinfo=IST))) == key, (h, m, s)
    assert dim.label_of("0930") == "09:30-09:45" and dim.label_of("na") == "Not recorded"
    with pytest.raises(ValueError, match="naive"):
        B.ist_minutes(datetime(2025, 3, 3, 9, 20))
    with pytest.raises(ValueError, match="divide"):
        B.entry_time(7)


def test_weekday_dte_and_expiry_day():
    wd = B.weekday()
    assert wd.of(date(2025, 3, 3).weekday()).label == "Monday"  # 2025-03-03 is a Monday
    assert wd.key(date(2025, 3, 7).weekday()) == "fri"
    # 20:00 UTC on Monday 3 March is 01:30 IST on Tuesday 4 March: the IST date decides.
    late = datetime(2025, 3, 3, 20, 0, tzinfo=UTC)
    assert B.days_to_expiry(late, date(2025, 3, 6)) == 2
    dte = B.dte()
    expected = {0: "0", 1: "1", 2: "2", 3: "3-5", 5: "3-5", 6: "6+", 30: "6+", -1: "na", None: "na"}
    assert {d: dte.key(d) for d in expected} == expected
    entry = datetime(2025, 3, 6, 10, 0, tzinfo=IST)
    assert B.is_expiry_day(entry, date(2025, 3, 6)) == 1 and B.is_expiry_day(entry, date(2025, 3, 13)) == 0
    assert B.expiry_day().key(1) == "expiry" and B.expiry_day().key(0) == "other"


def test_vix_regimes_agree_with_the_strategies():
    import numpy as np

    from trading.core.strategies.base import BaseParams, regime_codes

    dim = B.vix_regime()
    values = [9.9, 11.99, 12.0, 15.0, 20.0, 20.01, 35.0]
    codes = regime_codes(np.array(values), BaseParams())
    assert [dim.key(v) for v in values] == [("low", "normal", "high")[c] for c in codes]
    assert [dim.key(v) for v in values] == ["low", "low", "normal", "normal", "normal", "high", "high"]
    assert B.vix_regime((10, 25)).key(22) == "normal"
    assert dim.of(20.0).label == "Normal (12-20)"
    with pytest.raises(ValueError):
        B.vix_regime((20, 12))


def test_pcr_iv_percentile_and_max_pain_distance():
    assert [B.pcr().key(v) for v in (0.5, 0.7, 1.3, 1.31, None)] == ["low", "normal", "normal", "high", "na"]
    ivp = B.iv_percentile()
    assert [ivp.key(v) for v in (0, 19.99, 20, 79.9, 80, 100)] == [
        "lt20",
        "lt20",
        "20_40",
        "60_80",
        "ge80",
        "ge80",
    ]
    assert ivp.label_of("20_40") == "20 to 40"
    mp = B.max_pain_distance()
    # Spot 25,000, max pain 25,100: spot is 0.4% below max pain.
    d = B.max_pain_distance_pct(25_000, 25_100)
    assert d == pytest.approx(-0.4) and mp.key(d) == "m0.5_m0.2"
    assert mp.key(0.0) == "m0.2_0.2" and mp.key(1.0) == "ge1" and mp.key(-1.5) == "ltm1"
    assert mp.label_of("ge1") == ">= 1%"
    assert B.max_pain_distance_pct(None, 25_000) is None and B.max_pain_distance_pct(0, 1) is None
    with pytest.raises(ValueError):
        B.iv_percentile((50, 20))


def test_month_keys():
    assert B.month_key(date(2025, 1, 31)) == "2025-01" and B.month_label("2025-01") == "Jan 2025"


def test_every_dimension_has_unique_stable_keys_and_covers_the_line():
    dims = B.dimensions()
    assert set(dims) == {
        "entry_time",
        "weekday",
        "days_to_expiry",
        "expiry_day",
        "vix_regime",
        "pcr",
        "iv_percentile",
        "max_pain_distance",
    }
    assert B.dimensions() == dims  # the same keys every time
    for dim in dims.values():
        assert len(set(dim.keys())) == len(dim.keys()) and dim.keys()[-1] == "na"
        # Buckets do not overlap: each value is in at most one.
        for v in (-1e9, -1.0, -0.2, 0.0, 0.5, 0.7, 1.0, 1.3, 6.0, 12.0, 20.0, 555.0, 930.0, 1e9):
            assert sum(b.contains(v) for b in dim.buckets) <= 1, (dim.name, v)
        assert dim.of(math.nan) is B.MISSING


def test_sql_case_gives_the_same_bucket_as_python():
    db = sqlite3.connect(":memory:")
    values = [
        None,
        -2.0,
        -1.0,
        -0.5,
        -0.2,
        0.0,
        0.2,
        0.5,
        0.69,
        0.7,
        1.0,
        1.3,
        1.31,
        2.0,
        2.5,
        3.0,
        5.99,
        6.0,
        11.99,
        12.0,
        20.0,
        20.01,
        40.0,
        80.0,
        554.9,
        555.0,
        569.99,
        570.0,
        929.0,
        930.0,
    ]
    db.execute("CREATE TABLE t (v REAL)")
    db.executemany("INSERT INTO t VALUES (?)", [(v,) for v in values])
    for dim in B.dimensions().values():
        got = [row[0] for row in db.execute(f"SELECT {dim.sql_case('v')} FROM t ORDER BY rowid")]
        assert got == [dim.key(v) for v in values], dim.name
