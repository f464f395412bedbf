"""The simulated market: determinism, sessions, spot/VIX dynamics, chains, OI and the warm-up history."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pytest

from trading.core import calendar as market_calendar
from trading.core import contracts
from trading.core.bars import CHAIN_FIELDS
from trading.core.options import year_fraction
from trading.core.simulator import BARS_PER_SESSION, MarketSimulator

START = date(2025, 10, 1)  # Diwali holidays and Tuesday weeklies in the first weeks
ARRAY_FIELDS = ("times", "open", "high", "low", "close", "volume", "vix", "strikes", *CHAIN_FIELDS)


def _ist(d: date, hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime.combine(d, time(hh, mm, ss), tzinfo=market_calendar.IST)


def _max_pain(strikes: np.ndarray, call_oi: np.ndarray, put_oi: np.ndarray) -> float:
    settle = strikes[:, None]
    pain = (call_oi[None, :] * np.maximum(settle - strikes[None, :], 0.0)).sum(axis=1) + (
        put_oi[None, :] * np.maximum(strikes[None, :] - settle, 0.0)
    ).sum(axis=1)
    return float(strikes[int(np.argmin(pain))])


@pytest.fixture(scope="module")
def sim() -> MarketSimulator:
    return MarketSimulator(seed=7, start=START)


@pytest.fixture(scope="module")
def first_days(sim: MarketSimulator) -> list:
    return list(sim.days(START, date(2025, 10, 14)))


@pytest.fixture(scope="module")
def season() -> dict[str, np.ndarray]:
    """Close-of-day figures over ~60 sessions (the one long test run)."""
    sim = MarketSimulator(seed=11, start=START)
    rows = []
    for db in sim.days(START, START + timedelta(days=88)):
        last = len(db) - 1
        put_oi, call_oi = db.put_oi[last, 0], db.call_oi[last, 0]
        rows.append(
            (
                db.close[-1],
                db.vix[-1],
                db.vix.min(),
                db.vix.max(),
                put_oi.sum() / call_oi.sum(),
                _max_pain(db.strikes[last, 0], call_oi, put_oi),
            )
        )
    arr = np.array(rows)
    names = ("close", "vix", "vix_min", "vix_max", "pcr", "max_pain")
    return {name: arr[:, i] for i, name in enumerate(names)}


# --- determinism -------------------------------------------------------------------------------------


def test_same_seed_same_market_and_direct_day_equals_in_order() -> None:
    sessions = market_calendar.trading_days(START, date(2025, 10, 10))
    in_order = MarketSimulator(seed=3, start=START)
    walked = [in_order.day(d) for d in sessions]
    direct = MarketSimulator(seed=3, start=START).day(sessions[-1])
    for name in ARRAY_FIELDS:
        assert np.array_equal(getattr(walked[-1], name), getattr(direct, name)), name
    assert walked[-1].expiries == direct.expiries

    other = MarketSimulator(seed=4, start=START).day(sessions[-1])
    assert not np.array_equal(other.close, direct.close)
    assert not np.array_equal(other.call_ltp, direct.call_ltp)


def test_asking_out_of_order_changes_nothing() -> None:
    sessions = market_calendar.trading_days(START, date(2025, 10, 8))
    a = MarketSimulator(seed=5, start=START, cache_days=1)
    late = a.day(sessions[-1])
    early = a.day(sessions[1])
    b = MarketSimulator(seed=5, start=START)
    assert np.array_equal(b.day(sessions[1]).put_oi, early.put_oi)
    assert np.array_equal(b.day(sessions[-1]).call_volume, late.call_volume)


# --- sessions ----------------------------------------------------------------------------------------


def test_sessions_are_trading_days_with_375_minute_bars(sim: MarketSimulator, first_days: list) -> None:
    expected = market_calendar.trading_days(START, date(2025, 10, 14))
    assert [db.session for db in first_days] == list(expected)
    for db in first_days:
        assert len(db) == BARS_PER_SESSION
        assert db.times.dtype == np.dtype("datetime64[ns]")
        assert db.bar_time(0).astimezone(market_calendar.IST).timetz().replace(tzinfo=None) == time(9, 15)
        assert db.bar_time(len(db) - 1).astimezone(market_calendar.IST).time() == time(15, 29)
        assert np.all(np.diff(db.times) == np.timedelta64(60, "s"))
    holiday = date(2025, 10, 2)  # Gandhi Jayanti
    assert not market_calendar.is_trading_day(holiday)
    with pytest.raises(ValueError):
        sim.day(holiday)
    with pytest.raises(ValueError):
        sim.day(date(2025, 9, 30))  # before the start


def test_spot_ohlc_is_consistent(first_days: list) -> None:
    for db in first_days:
        assert np.all(db.low <= np.minimum(db.open, db.close))
        assert np.all(db.high >= np.maximum(db.open, db.close))
        assert np.array_equal(db.open[1:], db.close[:-1])
        assert np.all(db.volume > 0)


def test_intraday_vol_is_higher_at_open_than_midday(sim: MarketSimulator) -> None:
    moves = np.array([np.abs(np.diff(np.log(db.close))) for db in sim.days(START, date(2025, 10, 31))])
    assert moves[:, :15].mean() > 1.3 * moves[:, 120:240].mean()


# --- VIX ---------------------------------------------------------------------------------------------


def test_vix_bounded_and_falls_when_spot_rises(season: dict[str, np.ndarray]) -> None:
    assert len(season["close"]) >= 55
    assert season["vix_min"].min() > 9.0 and season["vix_max"].max() < 60.0
    spot_ret = np.diff(np.log(season["close"]))
    vix_ret = np.diff(np.log(season["vix"]))
    assert np.corrcoef(spot_ret, vix_ret)[0, 1] < -0.3


def test_pcr_and_max_pain_move(season: dict[str, np.ndarray]) -> None:
    pcr = season["pcr"]
    assert 0.4 < pcr.min() and pcr.max() < 2.0
    assert pcr.max() - pcr.min() > 0.2
    assert np.unique(season["max_pain"]).size >= 5


# --- chains ------------------------------------------------------------------------------------------


def test_two_expiries_nearest_weekly_and_monthly(first_days: list) -> None:
    for db in first_days:
        weekly, second = db.expiries
        assert weekly == contracts.nearest_weekly("NIFTY", db.session)
        assert second > weekly
        assert second == contracts.monthly_expiry("NIFTY", second.year, second.month)


def test_strikes_centred_on_spot_on_the_step_grid(first_days: list) -> None:
    for db in first_days:
        step = contracts.strike_step("NIFTY", db.session)
        assert db.strikes.shape == (BARS_PER_SESSION, 2, 41)
        assert np.allclose(db.strikes % step, 0.0)
        assert np.allclose(np.diff(db.strikes, axis=2), step)
        centre = db.strikes[:, :, 20]
        assert np.all(np.abs(centre - db.close[:, None]) <= step / 2 + 1e-9)


def test_quotes_on_tick_and_ltp_between_bid_and_ask(first_days: list) -> None:
    for db in first_days:
        for side in ("call", "put"):
            bid, ask, ltp = (getattr(db, f"{side}_{n}") for n in ("bid", "ask", "ltp"))
            for prices in (bid, ask, ltp):
                ticks = prices / 0.05
                assert np.allclose(ticks, np.rint(ticks), atol=1e-6)
                assert prices.min() >= 0.05 - 1e-9
            assert np.all(bid < ask)
            assert np.all((bid <= ltp) & (ltp <= ask))
            iv = getattr(db, f"{side}_iv")
            assert np.all(np.isfinite(iv)) and iv.min() > 0.03 and iv.max() < 2.0


def test_put_call_parity_on_mids(first_days: list) -> None:
    db = first_days[3]
    r = float(contracts.risk_free_rate(db.session))
    for i in (0, 100, 374):
        now = db.bar_time(i) + timedelta(minutes=1)
        for e, expiry in enumerate(db.expiries):
            t = year_fraction(now, expiry)
            k = db.strikes[i, e]
            call_mid = 0.5 * (db.call_bid[i, e] + db.call_ask[i, e])
            put_mid = 0.5 * (db.put_bid[i, e] + db.put_ask[i, e])
            parity = db.close[i] - k * math.exp(-r * t)
            slack = 0.5 * (db.call_ask[i, e] - db.call_bid[i, e] + db.put_ask[i, e] - db.put_bid[i, e]) + 0.1
            assert np.all(np.abs(call_mid - put_mid - parity) <= slack)


def test_put_skew_richer_below_spot(first_days: list) -> None:
    db = first_days[2]
    iv = db.put_iv[200, 1]
    assert iv[0] > iv[20] and iv[10] > iv[20]  # 20 and 10 steps below ATM
    assert iv[30] < iv[10]


def test_oi_puts_below_calls_above_in_lots(first_days: list) -> None:
    put_below = call_below = put_above = call_above = 0.0
    for db in first_days:
        for e, expiry in enumerate(db.expiries):
            lot = contracts.lot_size("NIFTY", expiry)
            assert np.all(db.put_oi[:, e] % lot == 0) and np.all(db.call_oi[:, e] % lot == 0)
            assert np.all(db.put_volume[:, e] % lot == 0)
        below = db.strikes < db.close[:, None, None]
        put_below += db.put_oi[below].sum()
        call_below += db.call_oi[below].sum()
        put_above += db.put_oi[~below].sum()
        call_above += db.call_oi[~below].sum()
        # Cumulative session volume never falls and is concentrated near the money.
        strike = db.strikes[0, 0, 20]
        rows, cols = np.nonzero(db.strikes[:, 0, :] == strike)
        assert np.all(np.diff(db.call_volume[rows, 0, cols]) >= 0)
        assert db.call_volume[-1, 0, 18:23].sum() > db.call_volume[-1, 0, 30:].sum()
    assert put_below > 1.5 * call_below
    assert call_above > 1.5 * put_above


def test_monthly_oi_larger_than_weekly(first_days: list) -> None:
    weekly = np.mean([db.put_oi[-1, 0].sum() + db.call_oi[-1, 0].sum() for db in first_days[:3]])
    monthly = np.mean([db.put_oi[-1, 1].sum() + db.call_oi[-1, 1].sum() for db in first_days[:3]])
    assert monthly > weekly


def test_expiry_day_atm_premium_decays_to_intrinsic(sim: MarketSimulator) -> None:
    d = date(2025, 10, 7)  # a Tuesday weekly expiry
    db = sim.day(d)
    assert db.expiries[0] == d
    straddle = db.call_ltp[:, 0, 20] + db.put_ltp[:, 0, 20]
    intrinsic = np.abs(db.close - db.strikes[:, 0, 20])
    time_value = straddle - intrinsic
    assert time_value[0] > 20.0
    assert time_value[-1] < 0.2 * time_value[0] and time_value[-1] <= 2.0
    assert time_value[300] < time_value[0]
    # The second expiry keeps its time value.
    later = db.call_ltp[-1, 1, 20] + db.put_ltp[-1, 1, 20] - intrinsic[-1]
    assert later > 50.0


# --- access by time ----------------------------------------------------------------------------------


def test_snapshot_is_last_completed_bar(sim: MarketSimulator) -> None:
    d = date(2025, 10, 6)
    bar = sim.snapshot(_ist(d, 10, 0, 30))
    assert bar.time == _ist(d, 9, 59).astimezone(UTC)
    assert bar.close == sim.day(d).close[44]
    before_open = sim.snapshot(_ist(d, 9, 15, 30))  # no bar of the day completed yet
    assert before_open.time == _ist(date(2025, 10, 3), 15, 29).astimezone(UTC)
    weekend = sim.snapshot(_ist(date(2025, 10, 5), 12, 0))
    assert weekend.time == before_open.time
    assert len(bar.chains) == 2 and bar.chains[0].quote(bar.chains[0].strikes[20], "CE") is not None
    with pytest.raises(ValueError):
        sim.snapshot(_ist(START, 9, 15, 30))


def test_bars_between_times(sim: MarketSimulator) -> None:
    start = _ist(date(2025, 10, 3), 15, 20)
    end = _ist(date(2025, 10, 6), 9, 20)
    got = list(sim.bars(start, end))
    assert len(got) == 10 + 5
    assert got[0].time == start.astimezone(UTC)
    assert all(a.time < b.time for a, b in zip(got, got[1:]))


# --- warm-up -----------------------------------------------------------------------------------------


def test_warmup_history_is_the_year_before_start() -> None:
    sim = MarketSimulator(seed=1, start=START, spot0=25000.0, vix0=12.5)
    hist = sim.warmup_history()
    assert len(hist) == 252
    assert list(hist.columns) == ["spot_close", "vix_close", "atm_iv"]
    assert hist.index[-1] < sim.first_session and hist.index.is_monotonic_increasing
    assert all(market_calendar.is_trading_day(d) for d in hist.index)
    assert hist["spot_close"].iloc[-1] == pytest.approx(25000.0)
    assert hist["vix_close"].iloc[-1] == pytest.approx(12.5, abs=0.01)
    assert hist["vix_close"].between(9.0, 60.0).all()
    assert hist["atm_iv"].between(0.05, 0.8).all()
    daily = np.diff(np.log(hist["spot_close"].to_numpy()))
    assert 0.003 < daily.std() < 0.03
    assert np.corrcoef(daily, np.diff(np.log(hist["vix_close"].to_numpy())))[0, 1] < -0.2
    again = MarketSimulator(seed=1, start=START, spot0=25000.0, vix0=12.5).warmup_history()
    assert again.equals(hist)
