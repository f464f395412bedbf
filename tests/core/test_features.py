"""The feature frame: definitions against naive references, the two paths equal, no lookahead."""

from __future__ import annotations

import math
import random
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pandas as pd
import pytest

from trading.core import calendar as market_calendar
from trading.core import chain as chain_math
from trading.core import contracts
from trading.core import features as features_module
from trading.core.bars import CHAIN_FIELDS, DayBars
from trading.core.features import COLUMNS, IV_HISTORY_MIN, FeatureBuilder, feature_frame, truncate_day
from trading.core.options import bs_price, year_fraction
from trading.core.simulator import MarketSimulator

WEEK_START = date(2025, 10, 6)  # Mon; the NIFTY weekly expires on Tuesday 2025-10-07
WEEK_END = date(2025, 10, 10)
NUMERIC = [c for c in COLUMNS if c not in ("session", "expiry", "is_expiry_day")]


@pytest.fixture(scope="module")
def sim() -> MarketSimulator:
    return MarketSimulator(seed=21, start=date(2025, 10, 1))


@pytest.fixture(scope="module")
def warmup(sim: MarketSimulator) -> pd.DataFrame:
    return sim.warmup_history()


@pytest.fixture(scope="module")
def week(sim: MarketSimulator) -> list[DayBars]:
    return list(sim.days(date(2025, 10, 1), WEEK_END))


@pytest.fixture(scope="module")
def week_frame(week: list[DayBars], warmup: pd.DataFrame) -> pd.DataFrame:
    return feature_frame(week, warmup)


def assert_rows_equal(a: pd.DataFrame, b: pd.DataFrame, tol: float = 1e-9) -> None:
    assert list(a.columns) == list(b.columns) == list(COLUMNS)
    assert a.index.equals(b.index)
    for col in ("session", "expiry", "is_expiry_day"):
        assert (a[col].to_numpy() == b[col].to_numpy()).all(), col
    for col in NUMERIC:
        x, y = a[col].to_numpy(dtype=float), b[col].to_numpy(dtype=float)
        same_nan = np.isnan(x) == np.isnan(y)
        assert same_nan.all(), f"{col}: NaN differs at {a.index[~same_nan][:3]}"
        ok = ~np.isnan(x)
        err = np.abs(x[ok] - y[ok]) / np.maximum(1.0, np.abs(y[ok]))
        assert err.size == 0 or err.max() <= tol, f"{col}: max relative difference {err.max()}"


# --- a hand-built session -------------------------------------------------------------------------------


def _ist(d: date, hh: int, mm: int) -> datetime:
    return datetime.combine(d, time(hh, mm), tzinfo=market_calendar.IST)


def make_day(
    session: date,
    closes: list[float],
    *,
    start_minute: int = 0,
    volume: float | None = 1000.0,
    expiry: date | None = None,
    strikes: np.ndarray | None = None,
    chain: dict[str, np.ndarray] | None = None,
) -> DayBars:
    """A session of len(closes) bars from 09:15 + start_minute; open = previous close, high/low +-2/3."""
    T = len(closes)
    close = np.asarray(closes, dtype=float)
    open_ = np.concatenate([[close[0] - 1.0], close[:-1]])
    high = np.maximum(open_, close) + 2.0
    low = np.minimum(open_, close) - 3.0
    t0 = _ist(session, 9, 15) + timedelta(minutes=start_minute)
    times = np.array(
        [
            np.datetime64((t0 + timedelta(minutes=i)).astimezone(UTC).replace(tzinfo=None), "ns")
            for i in range(T)
        ]
    )
    expiry = expiry or session + timedelta(days=2)
    if strikes is None:
        strikes = np.array([24000.0 + 50.0 * j for j in range(-3, 4)])
    S = strikes.shape[-1]
    strikes3 = np.broadcast_to(
        strikes.reshape(-1, S)[:, None, :] if strikes.ndim == 2 else strikes, (T, 1, S)
    ).copy()
    fields = {name: np.full((T, 1, S), np.nan) for name in CHAIN_FIELDS}
    for name, values in (chain or {}).items():
        fields[name] = np.broadcast_to(
            np.asarray(values, dtype=float).reshape(-1, S)[:, None, :], (T, 1, S)
        ).copy()
    return DayBars(
        index="NIFTY",
        session=session,
        times=times,
        open=open_,
        high=high,
        low=low,
        close=close,
        volume=np.full(T, volume if volume is not None else 0.0),
        vix=np.full(T, 15.0),
        expiries=(expiry,),
        strikes=strikes3,
        **fields,
    )


def naive_wilder(x: list[float], n: int) -> list[float]:
    out, avg = [], math.nan
    for i in range(len(x)):
        if i + 1 < n:
            out.append(math.nan)
        elif i + 1 == n:
            avg = sum(x[:n]) / n
            out.append(avg)
        else:
            avg = (avg * (n - 1) + x[i]) / n
            out.append(avg)
    return out


def naive_supertrend(h, lo, c, atr, mult=3.0):
    line, dirs = [], []
    fu = fl = math.nan
    d = 0
    for i in range(len(c)):
        if math.isnan(atr[i]):
            line.append(math.nan)
            dirs.append(math.nan)
            continue
        bu = (h[i] + lo[i]) / 2 + mult * atr[i]
        bl = (h[i] + lo[i]) / 2 - mult * atr[i]
        if d == 0:
            fu, fl, d = bu, bl, 1
        else:
            fu = bu if (bu < fu or c[i - 1] > fu) else fu
            fl = bl if (bl > fl or c[i - 1] < fl) else fl
            if d == 1 and c[i] < fl:
                d = -1
            elif d == -1 and c[i] > fu:
                d = 1
        line.append(fl if d == 1 else fu)
        dirs.append(float(d))
    return line, dirs


def test_columns_index_and_types(week_frame: pd.DataFrame) -> None:
    f = week_frame
    assert tuple(f.columns) == COLUMNS
    assert isinstance(f.index, pd.DatetimeIndex) and f.index.name == "time" and str(f.index.tz) == "UTC"
    assert f.index.is_monotonic_increasing and f.index.is_unique
    assert isinstance(f["session"].iloc[0], date) and isinstance(f["expiry"].iloc[0], date)
    assert f["minute"].dtype == np.int64 and f["is_expiry_day"].dtype == bool
    assert f["minute"].min() == 0 and f["minute"].max() == 374


def test_spot_indicators_against_naive_references() -> None:
    rng = np.random.default_rng(5)
    d1, d2 = date(2025, 10, 6), date(2025, 10, 7)
    c1 = list(24000 + np.cumsum(rng.normal(0, 8, 40)))
    c2 = list(c1[-1] + 30 + np.cumsum(rng.normal(0, 8, 30)))  # a gap up overnight
    days = [make_day(d1, c1), make_day(d2, c2)]
    f = feature_frame(days)
    close = np.array(c1 + c2)
    high = np.concatenate([days[0].high, days[1].high])
    low = np.concatenate([days[0].low, days[1].low])

    # EMA: pandas' recursive EWM, seeded with the first close, continuous across the sessions.
    for n in (9, 20, 21):
        ref = pd.Series(close).ewm(span=n, adjust=False).mean().to_numpy()
        np.testing.assert_allclose(f[f"ema_{n}"].to_numpy(), ref, rtol=1e-12)

    # RSI(14), Wilder, from the 15th bar.
    change = np.diff(close)
    gain = naive_wilder(list(np.maximum(change, 0)), 14)
    loss = naive_wilder(list(np.maximum(-change, 0)), 14)
    rsi = [math.nan] + [
        math.nan if math.isnan(lo) else 100 - 100 / (1 + g / lo) if lo > 0 else 100.0
        for g, lo in zip(gain, loss)
    ]
    np.testing.assert_allclose(f["rsi_14"].to_numpy(), rsi, rtol=1e-10, equal_nan=True)
    assert f["rsi_14"].isna().sum() == 14

    # ATR(10), Wilder; the first bar's true range is its high - low.
    prev = np.concatenate([[np.nan], close[:-1]])
    tr = np.nanmax(np.stack([high - low, np.abs(high - prev), np.abs(low - prev)]), axis=0)
    atr = naive_wilder(list(tr), 10)
    np.testing.assert_allclose(f["atr_10"].to_numpy(), atr, rtol=1e-10, equal_nan=True)
    # The second session's first true range includes the overnight gap.
    i = len(c1)
    assert tr[i] == pytest.approx(
        max(high[i] - low[i], abs(high[i] - close[i - 1]), abs(low[i] - close[i - 1]))
    )

    line, dirs = naive_supertrend(high, low, close, atr)
    np.testing.assert_allclose(f["supertrend"].to_numpy(), line, rtol=1e-10, equal_nan=True)
    np.testing.assert_array_equal(f["supertrend_dir"].to_numpy(), dirs)
    up = f["supertrend_dir"] == 1
    assert (f.loc[up, "supertrend"] < f.loc[up, "close"]).all()


def test_session_quantities_by_hand() -> None:
    d = date(2025, 10, 6)
    closes = [24000.0 + 10 * i for i in range(20)]
    day = make_day(d, closes)
    f = feature_frame([day])
    tp = (day.high + day.low + day.close) / 3
    np.testing.assert_allclose(f["vwap"], np.cumsum(tp) / np.arange(1, 21), rtol=1e-13)  # equal volumes
    assert f["day_high"].iloc[5] == day.high[:6].max() and f["day_low"].iloc[5] == day.low[:6].min()
    # Opening range: bars 09:15..09:29, known from the 09:29 bar on.
    assert f["or_high"].iloc[:14].isna().all()
    assert f["or_high"].iloc[14] == day.high[:15].max() == f["or_high"].iloc[19]
    assert f["or_low"].iloc[19] == day.low[:15].min()
    # DOMAIN.md: VIX 15, spot 25,800 -> ~244 points expected in a day.
    g = feature_frame([replace(make_day(d, [25800.0]), vix=np.array([15.0]))])
    assert g["expected_move"].iloc[0] == pytest.approx(243.8, abs=0.05)
    assert g["expected_move"].iloc[0] == pytest.approx(chain_math.expected_move(25800.0, 15.0))
    # No spot volume (the index on Kite): the session's mean typical price.
    h = feature_frame([make_day(d, closes, volume=None)])
    np.testing.assert_allclose(h["vwap"], np.cumsum(tp) / np.arange(1, 21), rtol=1e-13)


def test_opening_range_of_a_late_session_and_minute() -> None:
    d = date(2025, 10, 6)
    late = make_day(d, [24000.0 + i for i in range(10)], start_minute=20)
    f = feature_frame([late])
    assert f["minute"].tolist() == list(range(20, 30))
    assert f["or_high"].isna().all()


def test_expiry_columns(week_frame: pd.DataFrame) -> None:
    f = week_frame
    row = f.loc[pd.Timestamp(_ist(date(2025, 10, 6), 9, 15))]
    assert row["expiry"] == date(2025, 10, 7) and not row["is_expiry_day"]
    # 09:16 IST Monday (bar end) -> 15:30 IST Tuesday: 1 day 6 h 14 min.
    assert row["minutes_to_expiry"] == 24 * 60 + 6 * 60 + 14
    assert row["days_to_expiry"] == pytest.approx(row["minutes_to_expiry"] / 1440)
    last = f.loc[pd.Timestamp(_ist(date(2025, 10, 7), 15, 29))]
    assert last["is_expiry_day"] and last["minutes_to_expiry"] == 0
    after = f[f["session"] == date(2025, 10, 8)]
    assert (after["expiry"] == date(2025, 10, 14)).all()


def test_chain_analytics_against_chain_module(week: list[DayBars], week_frame: pd.DataFrame) -> None:
    f = week_frame
    checked = 0
    for day in week:
        step = contracts.strike_step("NIFTY", day.session)
        for i in range(0, len(day), 37):
            k = day.strikes[i, 0]
            row = f.loc[pd.Timestamp(day.bar_time(i))]
            c_oi, p_oi = day.call_oi[i, 0], day.put_oi[i, 0]
            assert row["pcr_oi"] == pytest.approx(chain_math.pcr(p_oi, c_oi), rel=1e-12)
            assert row["pcr_volume"] == pytest.approx(
                chain_math.pcr(day.put_volume[i, 0], day.call_volume[i, 0]), rel=1e-12
            )
            assert row["max_pain"] == chain_math.max_pain(k, c_oi, p_oi)
            assert (row["support"], row["resistance"]) == chain_math.support_resistance(k, c_oi, p_oi)
            assert row["atm_strike"] == chain_math.atm_strike(day.close[i], step)
            assert row["call_oi"] == pytest.approx(c_oi.sum()) and row["put_oi"] == pytest.approx(p_oi.sum())
            j = int(np.nonzero(k == row["atm_strike"])[0][0])
            call_mid = (day.call_bid[i, 0, j] + day.call_ask[i, 0, j]) / 2
            put_mid = (day.put_bid[i, 0, j] + day.put_ask[i, 0, j]) / 2
            assert row["atm_call"] == pytest.approx(call_mid) and row["atm_put"] == pytest.approx(put_mid)
            assert row["straddle_premium"] == pytest.approx(call_mid + put_mid)
            assert row["atm_iv"] == pytest.approx((day.call_iv[i, 0, j] + day.put_iv[i, 0, j]) / 2)
            assert row["max_pain_distance"] == pytest.approx(day.close[i] - row["max_pain"])
            checked += 1
        session = f[f["session"] == day.session]
        assert (session["call_oi_change"] == session["call_oi"] - session["call_oi"].iloc[0]).all()
        assert (session["put_oi_change"] == session["put_oi"] - session["put_oi"].iloc[0]).all()
        total = session["call_oi"] + session["put_oi"]
        np.testing.assert_array_equal(session["oi_change"].iloc[1:], total.diff().iloc[1:])
        assert math.isnan(session["oi_change"].iloc[0])
    assert checked > 50


def test_max_pain_on_a_chain_worked_by_hand() -> None:
    # Strikes 100/200/300; call OI 10/0/0, put OI 0/0/10: pain(100) = 0 + 10*200 = 2000,
    # pain(200) = 10*100 + 10*100 = 2000, pain(300) = 10*200 = 2000 -> a three-way tie, lowest wins.
    # With put OI 0/0/30: pain(100)=6000, pain(200)=1000+3000=4000, pain(300)=2000 -> 300.
    strikes = np.array([100.0, 200.0, 300.0])
    zeros = np.zeros(3)
    chain = {"call_oi": [10, 0, 0], "put_oi": [0, 0, 30], "call_volume": zeros, "put_volume": zeros}
    f = feature_frame([make_day(date(2025, 10, 6), [210.0], strikes=strikes, chain=chain)])
    assert f["max_pain"].iloc[0] == 300.0
    assert f["support"].iloc[0] == 300.0 and f["resistance"].iloc[0] == 100.0
    assert f["pcr_oi"].iloc[0] == 3.0 and math.isnan(f["pcr_volume"].iloc[0])
    chain["put_oi"] = [0, 0, 10]
    g = feature_frame([make_day(date(2025, 10, 6), [210.0], strikes=strikes, chain=chain)])
    assert g["max_pain"].iloc[0] == 100.0
    assert g["atm_strike"].iloc[0] == 200.0


def test_atm_iv_from_mid_prices_when_the_feed_sends_none() -> None:
    d = date(2025, 10, 6)
    expiry = date(2025, 10, 9)
    strikes = np.array([23900.0, 23950.0, 24000.0, 24050.0, 24100.0])
    spot = 24010.0
    end = _ist(d, 9, 16)
    t = year_fraction(end, expiry)
    r = contracts.risk_free_rate(d)
    call = bs_price(0.16, spot, strikes, t, r, True)
    put = bs_price(0.18, spot, strikes, t, r, False)
    chain = {
        "call_bid": call - 0.5,
        "call_ask": call + 0.5,
        "call_ltp": call,
        "put_bid": put - 0.5,
        "put_ask": put + 0.5,
        "put_ltp": put,
        "call_oi": np.ones(5),
        "put_oi": np.ones(5),
        "call_volume": np.ones(5),
        "put_volume": np.ones(5),
    }
    day = make_day(d, [spot], expiry=expiry, strikes=strikes, chain=chain)
    row = feature_frame([day]).iloc[0]
    assert row["atm_strike"] == 24000.0
    assert row["atm_iv"] == pytest.approx(0.17, abs=1e-9)
    assert row["atm_call"] == pytest.approx(call[2]) and row["straddle_premium"] == pytest.approx(
        call[2] + put[2]
    )
    # Only the put side quoted: the put's IV alone.
    chain.update(call_bid=np.zeros(5), call_ask=np.zeros(5), call_ltp=np.zeros(5))
    row = feature_frame([make_day(d, [spot], expiry=expiry, strikes=strikes, chain=chain)]).iloc[0]
    assert row["atm_iv"] == pytest.approx(0.18, abs=1e-9) and math.isnan(row["atm_call"])
    # The incremental path agrees.
    builder = FeatureBuilder()
    assert builder.append(day.bar(0))["atm_iv"] == pytest.approx(0.17, abs=1e-9)


def test_padded_strikes_and_missing_chain() -> None:
    d = date(2025, 10, 6)
    strikes = np.array([23950.0, 24000.0, 24050.0, np.nan])
    chain = {"call_oi": [5, 9, 1, np.nan], "put_oi": [8, 2, np.nan, np.nan], "call_volume": [1, 1, 1, 1]}
    chain["put_volume"] = [2, 2, 2, 2]
    f = feature_frame([make_day(d, [24030.0], strikes=strikes, chain=chain)])
    assert f["call_oi"].iloc[0] == 15 and f["put_oi"].iloc[0] == 10
    assert f["pcr_volume"].iloc[0] == 2.0  # the padded strike's volume does not count
    assert f["max_pain"].iloc[0] == chain_math.max_pain(strikes[:3], [5, 9, 1], [8, 2, 0])
    assert f["atm_strike"].iloc[0] == 24050.0
    empty = make_day(d, [24030.0])
    empty = replace(
        empty, expiries=(), strikes=np.empty((1, 0, 0)), **{n: np.empty((1, 0, 0)) for n in CHAIN_FIELDS}
    )
    g = feature_frame([empty])
    assert g["expiry"].iloc[0] is None and math.isnan(g["pcr_oi"].iloc[0]) and math.isnan(g["atm_iv"].iloc[0])
    bar = empty.bar(0)
    row = FeatureBuilder().append(bar)
    assert row["expiry"] is None and math.isnan(row["max_pain"]) and row["close"] == 24030.0


def test_a_session_that_starts_without_a_chain() -> None:
    strikes = np.array([23950.0, 24000.0, 24050.0])
    chain = {"call_oi": [5, 9, 1], "put_oi": [8, 2, 3], "call_volume": [1, 1, 1], "put_volume": [1, 1, 1]}
    day = make_day(date(2025, 10, 6), [24000.0 + i for i in range(6)], strikes=strikes, chain=chain)
    day.call_oi[4:, 0, 0] += 10
    day.strikes[:2] = np.nan  # the feed had no chain on the first two bars
    f = feature_frame([day])
    assert f["call_oi"].iloc[:2].isna().all() and f["expiry"].iloc[0] == day.expiries[0]
    assert f["call_oi_change"].tolist()[2:] == [0.0, 0.0, 10.0, 10.0]
    assert math.isnan(f["oi_change"].iloc[2]) and f["oi_change"].iloc[4] == 10.0
    builder = FeatureBuilder()
    for i in range(len(day)):
        builder.append(day.bar(i))
    assert_rows_equal(builder.frame(), f)


def test_iv_rank_and_percentile_use_only_earlier_sessions(
    week: list[DayBars], warmup: pd.DataFrame, week_frame: pd.DataFrame
) -> None:
    f = week_frame
    closing = f.groupby("session")["atm_iv"].last()
    history = list(warmup["atm_iv"].to_numpy())
    for day in week:
        window = np.array(history[-252:])
        rows = f[f["session"] == day.session].iloc[::50]
        for iv, rank, pct in zip(rows["atm_iv"], rows["iv_rank"], rows["iv_percentile"]):
            assert pct == pytest.approx(chain_math.iv_percentile(iv, window))
            assert rank == pytest.approx(min(max(chain_math.iv_rank(iv, window), 0.0), 100.0))
        history.append(closing[day.session])
    # Entries on or after a session are ignored: a history with the future in it changes nothing.
    future = pd.Series([5.0, 0.01], index=[date(2025, 10, 1), date(2025, 10, 9)])
    spoiled = pd.concat([warmup["atm_iv"], future])
    assert_rows_equal(feature_frame(week, spoiled), f)
    # Without a history there is no rank until IV_HISTORY_MIN sessions are known.
    bare = feature_frame(week)
    assert bare["iv_rank"].isna().all() and bare["iv_percentile"].isna().all()
    short = feature_frame(week, warmup["atm_iv"].iloc[-(IV_HISTORY_MIN - 1) :])
    first, second = short[short["session"] == week[0].session], short[short["session"] == week[1].session]
    assert first["iv_rank"].isna().all() and second["iv_rank"].notna().all()


def test_incremental_rows_equal_vectorised(
    week: list[DayBars], warmup: pd.DataFrame, week_frame: pd.DataFrame
) -> None:
    builder = FeatureBuilder(warmup)
    rows = [builder.append(bar) for day in week for bar in day]
    assert len(builder) == len(week_frame)
    assert_rows_equal(builder.frame(), week_frame)
    last = rows[-1]
    assert last["time"] == week[-1].bar_time(len(week[-1]) - 1)
    assert set(last) == {*COLUMNS, "time"}
    assert isinstance(last["minute"], int) and isinstance(last["close"], float)


def test_from_history_then_append(
    week: list[DayBars], warmup: pd.DataFrame, week_frame: pd.DataFrame
) -> None:
    cut = _ist(date(2025, 10, 8), 11, 3)
    head = [truncate_day(d, cut) for d in week if d.session <= cut.date()]
    builder = FeatureBuilder.from_history(head, warmup)
    assert builder.last_time == cut - timedelta(minutes=1)
    for day in week:
        for i in range(len(day)):
            if day.bar_time(i) >= cut:
                builder.append(day.bar(i))
    assert_rows_equal(builder.frame(), week_frame)


def test_no_lookahead_over_a_simulated_week(
    week: list[DayBars], warmup: pd.DataFrame, week_frame: pd.DataFrame
) -> None:
    """The row at t from history up to t equals the row at t from the whole week."""
    rnd = random.Random(3)
    times = list(week_frame.index)
    sample = sorted(rnd.sample(times, 12) + [times[0], times[374], times[375], times[-1]])
    for t in sample:
        end = t.to_pydatetime() + timedelta(minutes=1)
        upto = [truncate_day(d, end) for d in week if d.session <= end.astimezone(market_calendar.IST).date()]
        part = feature_frame(upto, warmup)
        assert part.index[-1] == t
        assert_rows_equal(part, week_frame.loc[:t], tol=0.0)


def test_order_and_index_are_checked(week: list[DayBars]) -> None:
    builder = FeatureBuilder()
    bar = week[0].bar(5)
    builder.append(bar)
    with pytest.raises(ValueError):
        builder.append(week[0].bar(4))
    with pytest.raises(ValueError):
        builder.append(bar)
    with pytest.raises(ValueError):
        FeatureBuilder(index="BANKNIFTY").append(bar)
    with pytest.raises(ValueError):
        feature_frame([week[1], week[0]])


def test_empty_history() -> None:
    f = feature_frame([])
    assert tuple(f.columns) == COLUMNS and len(f) == 0
    assert FeatureBuilder().frame().shape == (0, len(COLUMNS))


# --- the compiled kernels against the numpy / Python ones ----------------------------------------------


def _nasty_chains(rng: np.random.Generator, T: int, S: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """T bars of a chain of S strikes with what feeds send: padded (NaN) strikes at either end or in
    the middle, bars with no strike at all, missing OI/volume, ties in OI, closes exactly between two
    strikes or on one, a NaN close; whole-number OI and volumes (contracts)."""
    base = 20000.0 + 50.0 * np.arange(S)
    strikes = np.tile(base, (T, 1))
    holes = rng.random((T, S)) < 0.15
    strikes[holes] = np.nan
    strikes[rng.random(T) < 0.05] = np.nan  # no chain on the bar
    chain = {n: rng.integers(0, 5, (T, S)).astype(float) * 1000.0 for n in ("call_oi", "put_oi")}
    chain |= {n: rng.integers(0, 50_000, (T, S)).astype(float) for n in ("call_volume", "put_volume")}
    for values in chain.values():
        values[rng.random((T, S)) < 0.1] = np.nan
    close = base[0] + rng.uniform(-100.0, 50.0 * S + 100.0, T)
    pick = rng.random(T)
    close[pick < 0.2] = base[rng.integers(0, S, T)][pick < 0.2] + 25.0  # halfway: the higher strike
    close[(pick >= 0.2) & (pick < 0.3)] = base[rng.integers(0, S, T)][(pick >= 0.2) & (pick < 0.3)]
    close[pick > 0.97] = np.nan
    return close, strikes, chain


def _strided(values: np.ndarray) -> np.ndarray:
    """``values`` as the nearest expiry's slice of a two-expiry array (not contiguous)."""
    both = np.stack([values, values + 1.0], axis=1)
    return both[:, 0]


@pytest.mark.skipif(not features_module.jit.AVAILABLE, reason="numba is not installed")
def test_compiled_chain_reductions_equal_numpy_bit_for_bit() -> None:
    rng = np.random.default_rng(5)
    checked = 0
    for T, S in ((1, 1), (3, 2), (375, 9), (375, 41), (50, 128), (20, 200)):
        close, strikes, chain = _nasty_chains(rng, T, S)
        if S % 2:  # as a day gives them: (T, S) views of (T, E, S) arrays, strided
            strikes, chain = _strided(strikes), {n: _strided(v) for n, v in chain.items()}
        numpy_ = features_module._reduced(close, strikes, chain)
        compiled = features_module._reduced_compiled(close, strikes, chain)
        has_chain = numpy_[-1]
        for name, a, b in zip(
            ("call_oi", "put_oi", "call_vol", "put_vol", "max_pain", "support", "resistance"),
            numpy_[:7], compiled[:7], strict=True,
        ):  # fmt: skip
            assert np.array_equal(a, b, equal_nan=True), (T, S, name)
        assert np.array_equal(has_chain, ~np.isnan(compiled[4]))
        used = has_chain & np.isfinite(close)  # the ATM column is read only there
        assert np.array_equal(numpy_[7][used], compiled[7][used]), (T, S)
        checked += int(used.sum())
    assert checked > 600


def test_chain_reductions_against_a_naive_loop() -> None:
    """Both paths against the definitions, bar by bar in plain Python: max pain the lowest strike of
    least total payout to holders, support / resistance the lowest strike of the most put / call OI,
    the ATM strike the nearest (the higher on a tie)."""
    rng = np.random.default_rng(8)
    close, strikes, chain = _nasty_chains(rng, 200, 15)
    paths = [features_module._reduced]
    if features_module.jit.AVAILABLE:
        paths.append(features_module._reduced_compiled)
    for reduced in paths:
        got = reduced(close, strikes, chain)
        for t in range(200):
            listed = [j for j in range(15) if math.isfinite(strikes[t, j])]
            amount = {
                n: [0.0 if math.isnan(chain[n][t, j]) else chain[n][t, j] for j in listed] for n in chain
            }
            ks = [strikes[t, j] for j in listed]
            assert got[0][t] == sum(amount["call_oi"]) and got[3][t] == sum(amount["put_volume"])
            if not ks:
                assert all(math.isnan(got[i][t]) for i in (4, 5, 6))
                continue
            payout = [
                sum(c * max(p - k, 0.0) + q * max(k - p, 0.0)
                    for k, c, q in zip(ks, amount["call_oi"], amount["put_oi"], strict=True))
                for p in ks
            ]  # fmt: skip
            assert got[4][t] == ks[payout.index(min(payout))]
            assert got[5][t] == ks[amount["put_oi"].index(max(amount["put_oi"]))]
            assert got[6][t] == ks[amount["call_oi"].index(max(amount["call_oi"]))]
            if math.isfinite(close[t]):
                dist = [abs(k - close[t]) for k in ks]
                nearest = max(j for j, d in enumerate(dist) if d == min(dist))
                assert strikes[t, got[7][t]] == ks[nearest]


@pytest.mark.skipif(not features_module.jit.AVAILABLE, reason="numba is not installed")
def test_compiled_supertrend_equals_python_and_continues_across_calls() -> None:
    rng = np.random.default_rng(3)
    n = 900
    close = 24000.0 + np.cumsum(rng.normal(0.0, 8.0, n))
    high = close + rng.uniform(0.0, 10.0, n)
    low = close - rng.uniform(0.0, 10.0, n)
    prev = np.concatenate([[np.nan], close[:-1]])
    atr = np.concatenate([np.full(9, np.nan), rng.uniform(3.0, 15.0, n - 9)])
    parts = (slice(0, 5), slice(5, 300), slice(300, 301), slice(301, n))
    results = []
    for prefer in (True, False):
        before = features_module.jit.python_preferred()
        features_module.jit.prefer_python(prefer)
        try:
            st = features_module._Supertrend()
            pieces = [st.run(high[s], low[s], close[s], prev[s], atr[s]) for s in parts]
        finally:
            features_module.jit.prefer_python(before)
        results.append((np.concatenate([p[0] for p in pieces]), np.concatenate([p[1] for p in pieces])))
    one = features_module._Supertrend()
    by_bar = np.array([one.step(high[i], low[i], close[i], prev[i], atr[i]) for i in range(n)])
    line, dirs = naive_supertrend(high, low, close, atr)
    for got_line, got_dir in results:
        assert np.array_equal(got_line, by_bar[:, 0], equal_nan=True)
        assert np.array_equal(got_dir, by_bar[:, 1], equal_nan=True)
        np.testing.assert_allclose(got_line, line, rtol=1e-12, equal_nan=True)
        assert np.array_equal(got_dir, dirs, equal_nan=True)
    assert set(np.unique(results[0][1][9:])) == {-1.0, 1.0}  # it flipped both ways
