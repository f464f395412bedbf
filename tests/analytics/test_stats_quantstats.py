"""The return figures equal quantstats 0.0.86 (the reference, a test dependency) on the same daily returns.

Three daily series on the NSE trading calendar, each turned into returns by ``analytics.returns`` on a
capital base: an ordinary one, one with a long losing streak, one with many flat days (days without
trades, filled in from the calendar). Every return figure must match to 1e-9, with rf = 0 and rf != 0.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
import quantstats as qs

from analytics import stats as F
from analytics import trade_stats as T
from analytics.returns import TradeRecord, daily_net, daily_net_from_trades, daily_returns
from trading.core.calendar import trading_days

TOL = 1e-9
CAPITAL = 1_000_000.0
DAYS = trading_days(date(2024, 1, 1), date(2025, 8, 29))


def _ordinary() -> pd.Series:
    rng = np.random.default_rng(11)
    net = np.round(rng.normal(600.0, 9000.0, len(DAYS)), 2)
    return daily_net(dict(zip(DAYS, net)))


def _losing_streak() -> pd.Series:
    rng = np.random.default_rng(12)
    days = DAYS[:260]
    net = np.round(rng.normal(900.0, 7000.0, len(days)), 2)
    net[90:135] = -np.round(np.abs(rng.normal(3000.0, 1500.0, 45)) + 1.0, 2)  # 45 losing days in a row
    return daily_net(dict(zip(days, net)))


def _flat_days() -> pd.Series:
    """Trades on about one day in four; the calendar fills the rest with 0."""
    rng = np.random.default_rng(13)
    trades = []
    for d in DAYS[:320]:
        if rng.random() < 0.25:
            for _ in range(int(rng.integers(1, 4))):
                trades.append(TradeRecord(trade_date=d, net_pnl=round(float(rng.normal(400.0, 6000.0)), 2)))
    return daily_net_from_trades(trades)


SERIES = {"ordinary": _ordinary, "losing_streak": _losing_streak, "flat_days": _flat_days}


@pytest.fixture(params=sorted(SERIES))
def net(request) -> pd.Series:
    return SERIES[request.param]()


@pytest.fixture
def returns(net) -> pd.Series:
    r = daily_returns(net, CAPITAL)
    assert r.notna().all() and len(r) > 200
    return r


def _qs_input(r: pd.Series) -> pd.Series:
    # A fresh float Series on a DatetimeIndex of the days: what quantstats reads as returns (its CAGR uses
    # count() / periods whatever the index; its drawdown needs a datetime index for the phantom start day).
    return pd.Series(r.to_numpy(dtype=float).copy(), index=pd.DatetimeIndex(r.index), name="r")


def test_the_three_series_have_what_they_claim():
    streak = _losing_streak()
    assert T.longest_loss_streak(streak.to_numpy()) >= 45
    flat = _flat_days()
    assert (flat == 0).mean() > 0.6
    first, last = flat.index[0].date(), flat.index[-1].date()
    assert list(flat.index.date) == trading_days(first, last)  # every trading day, none else


@pytest.mark.parametrize("rf", [0.0, 0.065])
def test_sharpe_and_sortino_equal_quantstats(returns, rf):
    q = _qs_input(returns)
    assert F.sharpe(returns, rf) == pytest.approx(qs.stats.sharpe(q, rf=rf, periods=252), abs=TOL)
    assert F.sortino(returns, rf) == pytest.approx(qs.stats.sortino(q, rf=rf, periods=252), abs=TOL)
    if rf:
        assert F.sharpe(returns, rf) < F.sharpe(returns, 0.0)


def test_growth_and_risk_figures_equal_quantstats(returns):
    q = _qs_input(returns)
    expected = {
        "cagr": qs.stats.cagr(q, periods=252),
        "annual_volatility": qs.stats.volatility(q, periods=252),
        "calmar": qs.stats.calmar(q, periods=252),
        "skew": qs.stats.skew(q),
        "kurtosis": qs.stats.kurtosis(q),
        "value_at_risk": qs.stats.value_at_risk(q, confidence=0.95),
        "conditional_value_at_risk": qs.stats.conditional_value_at_risk(
            q, confidence=0.95, method="historical"
        ),
        "max_drawdown_ratio": qs.stats.max_drawdown(q),
        "best_day": qs.stats.best(q),
        "worst_day": qs.stats.worst(q),
    }
    for name, want in expected.items():
        got = getattr(F, name)(returns)
        assert got == pytest.approx(float(want), abs=TOL), name
    assert F.value_at_risk(returns) < 0 and F.conditional_value_at_risk(returns) < F.value_at_risk(returns)


def test_drawdown_curve_equals_quantstats(returns):
    q = _qs_input(returns)
    ours = F.drawdown_ratio_curve(returns).to_numpy()
    theirs = qs.stats.to_drawdown_series(q).to_numpy()
    assert np.abs(ours - theirs).max() <= TOL


def test_monthly_and_yearly_returns_equal_quantstats(returns):
    q = _qs_input(returns)
    table = qs.stats.monthly_returns(q, eoy=True, compounded=True)
    ours = F.monthly_returns(returns)
    assert len(ours) == len({(d.year, d.month) for d in returns.index})
    for key, value in ours.items():
        year, month = key.split("-")
        col = date(2000, int(month), 1).strftime("%b").upper()
        assert value == pytest.approx(float(table.loc[year, col]), abs=TOL), key
    for year, value in F.yearly_returns(returns).items():
        assert value == pytest.approx(float(table.loc[str(year), "EOY"]), abs=TOL), year


def test_drawdown_spells_equal_quantstats_details(net, returns):
    """The rupee spells under water (paise-exact) are quantstats' spells of the compounded returns."""
    details = qs.stats.drawdown_details(qs.stats.to_drawdown_series(_qs_input(returns)))
    spells = F.drawdown_spells(net)
    assert len(spells) == len(details) > 3
    for spell, (_, row) in zip(spells, details.iterrows()):
        assert (str(spell.start), str(spell.valley), str(spell.end)) == (
            row["start"],
            row["valley"],
            row["end"],
        )
        assert spell.calendar_days == int(row["days"])
        peak = F.equity_curve(net, CAPITAL).loc[pd.Timestamp(spell.valley)] - spell.depth
        assert spell.depth / peak * 100 == pytest.approx(float(row["max drawdown"]), abs=1e-7)
    longest = F.longest_drawdown(net)
    assert longest.trading_days == max(s.trading_days for s in spells)


def test_undefined_figures_are_none_not_nan():
    flat = pd.Series([0.0] * 10, index=pd.DatetimeIndex(DAYS[:10]))
    assert F.sharpe(flat) is None and F.sortino(flat) is None and F.calmar(flat) is None
    assert F.cagr(flat) == 0.0 and F.max_drawdown_ratio(flat) == 0.0
    rising = pd.Series([0.01, 0.02, 0.0, 0.01], index=pd.DatetimeIndex(DAYS[:4]))
    assert F.sortino(rising) is None and F.calmar(rising) is None  # no down day, no drawdown
    one = pd.Series([0.01], index=pd.DatetimeIndex(DAYS[:1]))
    assert F.sharpe(one) is None and F.annual_volatility(one) is None and F.skew(one) is None
    lost = pd.Series([0.01, np.nan], index=pd.DatetimeIndex(DAYS[:2]))
    assert F.sharpe(lost) is None and F.cagr(lost) is None and F.max_drawdown_ratio(lost) is None
