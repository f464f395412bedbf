"""End-of-day analytics of imported bhavcopy days against values worked by hand.

NIFTY on 2024-01-05 (older layout), nearest expiry 2024-01-11, OI in units (thousands below):

    strike   call OI   put OI   call settle   put settle
    21600      100       500        180           60
    21650      150       400        145           75
    21700      300       350        110           95
    21750      450       200         80          120
    21800      600       100         55          150

PCR = (500+400+350+200+100) / (100+150+300+450+600) = 1550 / 1600 = 0.96875.
Max pain, pain(P) = sum callOI(K) max(P-K, 0) + putOI(K) max(K-P, 0), in thousand-units x points:
    P=21600: puts 400x50 + 350x100 + 200x150 + 100x200                 = 105,000
    P=21650: calls 100x50 = 5,000; puts 350x50 + 200x100 + 100x150 = 52,500 ->  57,500
    P=21700: calls 100x100 + 150x50 = 17,500; puts 200x50 + 100x100 = 20,000 -> 37,500
    P=21750: calls 100x150 + 150x100 + 300x50 = 45,000; puts 100x50 = 5,000  -> 50,000
    P=21800: calls 100x200 + 150x150 + 300x100 + 450x50                 =  95,000
    -> max pain 21700 (not the largest-OI strike, 21800 calls / 21600 puts).
The 2024-01-25 rows (a later expiry) must not count.

NIFTY on 2024-07-08 (UDiFF), expiry 2024-07-11, OI in millions: 24250 C 2.5 P 3.0; 24300 C 4.0 P 3.5;
24350 C 5.0 P 2.0. PCR = 8.5 / 11.5 = 0.739130...; pain: P=24250: 3.5x50 + 2.0x100 = 375;
P=24300: 2.5x50 + 2.0x50 = 225; P=24350: 2.5x100 + 4.0x50 = 450 -> max pain 24300.
"""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import brentq
from scipy.stats import norm

from tests.marketdata.store.conftest import INDEX_CLOSE_FILE, OLD_FILE, UDIFF_FILE, VIX_FILE
from trading.marketdata.store.eod import NoEodData, daily_history, eod_summary, iv_history, iv_rank_percentile
from trading.marketdata.store.importer import import_file

JAN5, JUL8 = date(2024, 1, 5), date(2024, 7, 8)
RATE_2024 = 0.065 + 0.0025  # repo 6.50% (from 2023-02-08) + the 0.25% spread of contracts.py


def naive_bs(vol: float, s: float, k: float, t: float, r: float, call: bool) -> float:
    d1 = (math.log(s / k) + (r + vol * vol / 2) * t) / (vol * math.sqrt(t))
    d2 = d1 - vol * math.sqrt(t)
    if call:
        return s * norm.cdf(d1) - k * math.exp(-r * t) * norm.cdf(d2)
    return k * math.exp(-r * t) * norm.cdf(-d2) - s * norm.cdf(-d1)


def naive_iv(price: float, s: float, k: float, t: float, r: float, call: bool) -> float:
    return brentq(lambda v: naive_bs(v, s, k, t, r, call) - price, 1e-4, 5.0, xtol=1e-12)


@pytest.fixture
def loaded(store):
    for f in (OLD_FILE, UDIFF_FILE):
        assert import_file(store, "bhavcopy", f).ok
    return store


def test_pcr_and_max_pain_of_an_older_layout_day(loaded) -> None:
    s = eod_summary(loaded, "NIFTY", JAN5)
    assert s.expiry == date(2024, 1, 11)
    assert s.pcr == pytest.approx(1550 / 1600, abs=1e-12) and s.pcr == pytest.approx(0.96875)
    assert s.max_pain == 21700
    assert (s.call_oi, s.put_oi, s.strikes) == (1_600_000, 1_550_000, 5)


def test_spot_from_put_call_parity_when_no_index_close_was_imported(loaded) -> None:
    s = eod_summary(loaded, "NIFTY", JAN5)
    t = 6 / 365  # 2024-01-05 15:30 -> 2024-01-11 15:30 IST
    # ATM by parity: |C - P| smallest at 21700 (110 - 95 = 15; 21650: 70, 21750: 40).
    forward = 21700 + math.exp(RATE_2024 * t) * (110 - 95)
    assert s.spot_source == "parity"
    assert s.years == pytest.approx(t, rel=1e-12) and s.rate == pytest.approx(RATE_2024)
    assert s.forward == pytest.approx(forward, rel=1e-12)
    assert s.spot == pytest.approx(forward * math.exp(-RATE_2024 * t), rel=1e-12)  # ~21690.94
    assert s.atm_strike == 21700
    expected = (
        naive_iv(110, s.spot, 21700, t, RATE_2024, True) + naive_iv(95, s.spot, 21700, t, RATE_2024, False)
    ) / 2
    assert s.atm_iv == pytest.approx(expected, abs=1e-7)


def test_spot_from_the_index_close_csv_once_imported(loaded) -> None:
    result = import_file(loaded, "index-close", INDEX_CLOSE_FILE, index="NIFTY")
    assert result.ok and result.rows == 3
    s = eod_summary(loaded, "NIFTY", JAN5)
    assert s.spot_source == "index_close" and s.spot == 21710.8 and s.atm_strike == 21700
    t = 6 / 365
    expected = (
        naive_iv(110, 21710.8, 21700, t, RATE_2024, True) + naive_iv(95, 21710.8, 21700, t, RATE_2024, False)
    ) / 2
    assert s.atm_iv == pytest.approx(expected, abs=1e-7)
    assert s.pcr == 0.96875 and s.max_pain == 21700  # unchanged by the spot


def test_udiff_day_uses_the_underlying_in_the_file(loaded) -> None:
    s = eod_summary(loaded, "NIFTY", JUL8)
    assert s.spot_source == "bhavcopy" and s.spot == 24320.1 and s.expiry == date(2024, 7, 11)
    assert s.pcr == pytest.approx(8.5 / 11.5, abs=1e-12) and s.max_pain == 24300
    assert s.atm_strike == 24300  # 24320.1 is nearer 24300 than 24350
    t = 3 / 365
    expected = (
        naive_iv(130, 24320.1, 24300, t, RATE_2024, True)
        + naive_iv(100.5, 24320.1, 24300, t, RATE_2024, False)
    ) / 2
    assert s.atm_iv == pytest.approx(expected, abs=1e-7)
    bank = eod_summary(loaded, "BANKNIFTY", JUL8)
    assert bank.expiry == date(2024, 7, 10) and bank.pcr == pytest.approx(2134560 / 1987650)


def test_expiry_day_has_no_iv_and_missing_days_are_named(loaded) -> None:
    fin = eod_summary(loaded, "FINNIFTY", date(2024, 7, 8))
    assert fin.expiry == date(2024, 7, 9)
    with pytest.raises(NoEodData, match="2024-01-08"):
        eod_summary(loaded, "NIFTY", date(2024, 1, 8))
    json_ready = fin.as_json()
    assert json_ready["date"] == "2024-07-08" and isinstance(json_ready["pcr"], float)


def test_daily_history_and_iv_history(loaded) -> None:
    hist = daily_history(loaded, "NIFTY")
    assert list(hist.index) == [JAN5, JUL8]
    assert hist.loc[JAN5, "pcr"] == 0.96875 and hist.loc[JUL8, "max_pain"] == 24300
    # IV history uses the nearest expiry *after* the session.
    assert hist.loc[JAN5, "iv_expiry"] == date(2024, 1, 11) and hist.loc[JAN5, "atm_iv"] > 0
    assert hist["iv_rank"].isna().all()  # fewer than IV_HISTORY_MIN sessions before
    series = iv_history(loaded, "NIFTY", before=date(2024, 12, 31))
    assert list(series.index) == [JAN5, JUL8] and series.name == "atm_iv"
    assert iv_history(loaded, "NIFTY", before=JUL8).index.tolist() == [JAN5]


def test_iv_rank_and_percentile_against_a_naive_window() -> None:
    rng = np.random.default_rng(3)
    values = rng.uniform(0.08, 0.3, 300)
    values[[5, 40, 41]] = np.nan  # unknown days are skipped, not counted
    series = pd.Series(values, index=pd.RangeIndex(300))
    out = iv_rank_percentile(series)
    for i in (0, 19, 25, 100, 260, 299):
        before = [v for v in values[:i] if not math.isnan(v)][-252:]
        iv = values[i]
        if len(before) < 20 or math.isnan(iv):
            assert math.isnan(out["iv_rank"].iat[i])
            continue
        lo, hi = min(before), max(before)
        assert out["iv_rank"].iat[i] == pytest.approx(min(max((iv - lo) / (hi - lo) * 100, 0), 100))
        assert out["iv_percentile"].iat[i] == pytest.approx(sum(v < iv for v in before) / len(before) * 100)


def test_vix_daily_history_imports(store) -> None:
    result = import_file(store, "vix", VIX_FILE)
    assert result.ok and result.rows == 3
    vix = store.read("vix_daily", "INDIAVIX")
    assert vix["close"].tolist() == [14.45, 14.3, 15.23] and vix["date"].iloc[1] == JAN5
    assert import_file(store, "vix", VIX_FILE).written == 0
