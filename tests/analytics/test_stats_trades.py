"""Trade, equity and drawdown figures on hand-worked examples and against a naive second implementation."""

from __future__ import annotations

import math
import random
import statistics
from datetime import date

import numpy as np
import pandas as pd
import pytest

from analytics import stats as F
from analytics import trade_stats as T
from analytics.returns import TradeColumns, TradeRecord, daily_net, daily_net_from_trades, daily_returns
from trading.core.calendar import trading_days

NET = [1000.0, -500.0, 0.0, 2000.0, -250.0, -250.0, 300.0]  # W L S W L L W
CHARGES = [40.0] * 7
GROSS = [n + c for n, c in zip(NET, CHARGES)]
R = [2.0, -1.0, 0.0, 4.0, -0.5, -0.5, float("nan")]  # the last trade had no stop


def test_trade_figures_by_hand():
    assert T.trade_count(NET) == 7
    assert T.net_pnl(NET) == 2300.0
    assert T.gross_pnl(GROSS) == 2580.0
    assert T.total_charges(CHARGES) == 280.0
    assert T.charges_pct_of_gross(CHARGES, GROSS) == pytest.approx(280 / 2580 * 100)
    assert T.win_rate(NET) == pytest.approx(300 / 7)  # 3 wins of 7 trades (the scratch counts)
    assert T.average_win(NET) == 1100.0
    assert T.average_loss(NET) == pytest.approx(-1000 / 3)
    assert T.payoff_ratio(NET) == pytest.approx(3.3)
    assert T.profit_factor(NET) == pytest.approx(3.3)
    assert T.expectancy(NET) == pytest.approx(2300 / 7)
    assert T.largest_win(NET) == 2000.0 and T.largest_loss(NET) == -500.0
    assert T.longest_win_streak(NET) == 1 and T.longest_loss_streak(NET) == 2
    # R: six trades with a stop, mean 4/6; SQN = sqrt(6) * mean / sample std.
    assert T.expectancy_r(R) == pytest.approx(4 / 6)
    sd = math.sqrt(sum((x - 4 / 6) ** 2 for x in R[:6]) / 5)
    assert T.sqn(R) == pytest.approx(math.sqrt(6) * (4 / 6) / sd)
    assert T.sqn(R) == pytest.approx(0.841406, abs=1e-6)


def test_undefined_trade_figures():
    assert T.win_rate([]) is None and T.expectancy([]) is None and T.average_win([]) is None
    assert T.profit_factor([100.0, 50.0]) is None  # no losses
    assert T.profit_factor([-100.0]) == 0.0
    assert T.payoff_ratio([100.0]) is None and T.largest_loss([100.0]) is None
    assert T.charges_pct_of_gross([10.0], [-50.0]) is None  # no gross profit to take a share of
    assert T.sqn([1.0]) is None and T.sqn([1.0, 1.0]) is None
    assert T.longest_win_streak([]) == 0


def test_mae_mfe_and_exit_efficiency_by_hand():
    gross = [100.0, 300.0, -100.0, 50.0, 10.0]
    mae = [-100.0, 0.0, -100.0, 0.0, float("nan")]
    mfe = [300.0, 300.0, 0.0, 0.0, 20.0]
    # (gross - MAE) / (MFE - MAE): 200/400, 300/300, 0/100; a zero range and a missing MAE are left out.
    assert T.exit_efficiencies(gross, mae, mfe)[:3].tolist() == [0.5, 1.0, 0.0]
    assert np.isnan(T.exit_efficiencies(gross, mae, mfe)[3:]).all()
    assert T.exit_efficiency(gross, mae, mfe) == 0.5
    assert T.average_mae(mae) == -50.0 and T.average_mfe(mfe) == 124.0
    assert T.exit_efficiency([1.0], [0.0], [0.0]) is None


def test_r_histogram_edges():
    r = [-3.5, -3.0, -0.25, 0.0, 0.49, 0.5, 4.99, 5.0, 7.0, float("nan")]
    bins = T.r_distribution(r)
    assert len(bins) == 18 and sum(b.count for b in bins) == 9
    counts = {(b.low, b.high): b.count for b in bins if b.count}
    assert counts == {
        (None, -3.0): 1,
        (-3.0, -2.5): 1,
        (-0.5, 0.0): 1,
        (0.0, 0.5): 2,
        (0.5, 1.0): 1,
        (4.5, 5.0): 1,
        (5.0, None): 2,
    }
    assert bins[0].label == "< -3R" and bins[-1].label == ">= 5R" and bins[1].label == "-3 to -2.5R"
    with pytest.raises(ValueError):
        T.r_distribution(r, width=0.3)


def _net(values: list[float]) -> pd.Series:
    days = trading_days(date(2025, 1, 1), date(2025, 1, 31))[: len(values)]
    return daily_net(dict(zip(days, values)))


def test_drawdowns_by_hand():
    net = _net([1000, -3000, 500, 2500, -200, 0, -100])
    # Cumulative 1000, -2000, -1500, 1000, 800, 800, 700; peak 1000 from day 1.
    assert F.drawdown_curve(net).tolist() == [0, -3000, -2500, 0, -200, -200, -300]
    assert F.equity_curve(net, 100_000).tolist() == [101000, 98000, 98500, 101000, 100800, 100800, 100700]
    assert F.max_drawdown_rupees(net) == -3000
    spells = F.drawdown_spells(net)
    d = list(net.index.date)
    assert [(s.start, s.valley, s.end, s.trading_days, s.recovered) for s in spells] == [
        (d[1], d[1], d[2], 2, True),
        (d[4], d[6], d[6], 3, False),
    ]
    assert spells[0].calendar_days == (d[2] - d[1]).days + 1 and spells[1].depth == -300
    assert F.longest_drawdown(net) == spells[1]
    assert F.recovery_factor(net) == pytest.approx(700 / 3000)
    # A loss on day one is a drawdown from the capital.
    first = _net([-100, 50, 50])
    assert F.drawdown_curve(first).tolist() == [-100, -50, 0]
    assert F.longest_drawdown(first).trading_days == 2 and F.longest_drawdown(first).recovered
    assert F.longest_drawdown(_net([5, 0, 5])) is None and F.recovery_factor(_net([5, 0])) is None
    # The percentage drawdown is the rupee one over the peak equity.
    r = daily_returns(net, 100_000)
    assert F.max_drawdown_ratio(r) == pytest.approx(-3000 / 101_000, abs=1e-12)
    assert F.drawdown_ratio_curve(r).tolist() == pytest.approx(
        (F.drawdown_curve(net) / 101_000).tolist(), abs=1e-12
    )


def test_a_drawdown_ends_exactly_at_the_old_peak():
    # 10.10 - 0.30 + 0.10 + 0.20 is 10.10 in paise, not in binary floats.
    values = [10.10, -0.30, 0.10, 0.20]
    assert np.cumsum(values)[-1] < 10.10  # a float running sum would still be under water
    net = _net(values)
    assert F.drawdown_curve(net).tolist() == pytest.approx([0, -0.30, -0.20, 0], abs=1e-12)
    assert F.drawdown_curve(net).tolist()[-1] == 0.0
    (spell,) = F.drawdown_spells(net)
    assert (spell.trading_days, spell.recovered, spell.end) == (2, True, net.index[2].date())


def test_monthly_net_and_returns():
    net = daily_net({date(2025, 1, 30): 100.0, date(2025, 1, 31): -50.0, date(2025, 2, 3): 25.5})
    assert F.monthly_net(net) == {"2025-01": 50.0, "2025-02": 25.5}
    m = F.monthly_returns(daily_returns(net, 1000))
    assert m["2025-01"] == pytest.approx(0.05) and m["2025-02"] == pytest.approx(25.5 / 1050)


def _naive(trades: list[TradeRecord]) -> dict:
    nets = [float(t.net_pnl) for t in trades]
    wins = [x for x in nets if x > 0]
    losses = [x for x in nets if x < 0]
    streak = {1: 0, -1: 0}
    run_sign, run = 0, 0
    for x in nets:
        s = (x > 0) - (x < 0)
        run = run + 1 if s == run_sign and s else (1 if s else 0)
        run_sign = s
        if s:
            streak[s] = max(streak[s], run)
    return {
        "trades": len(nets),
        "win_rate": len(wins) / len(nets) * 100,
        "profit_factor": sum(wins) / -sum(losses),
        "expectancy": sum(nets) / len(nets),
        "longest_win_streak": streak[1],
        "longest_loss_streak": streak[-1],
        "largest_win": max(wins),
        "largest_loss": min(losses),
        "sqn": math.sqrt(len(nets))
        * statistics.mean(float(t.r_multiple) for t in trades)
        / statistics.stdev(float(t.r_multiple) for t in trades),
    }


def test_summary_against_a_naive_implementation():
    rng = random.Random(7)
    days = trading_days(date(2025, 1, 1), date(2025, 6, 30))
    trades = []
    for d in sorted(rng.sample(days, 60)):
        for _ in range(rng.randint(1, 3)):
            net = round(rng.gauss(150, 2500), 2)
            trades.append(
                TradeRecord(trade_date=d, net_pnl=net, gross_pnl=net + 60, charges=60, r_multiple=net / 2000)
            )
    cols = TradeColumns.from_records(trades)
    s = F.summary(cols, capital=500_000, rf=0.06)
    want = _naive(trades)
    for key, value in want.items():
        assert s[key] == pytest.approx(value, rel=1e-12), key
    daily = daily_net_from_trades(trades)
    r = daily_returns(daily, 500_000)
    assert s["days"] == len(trading_days(trades[0].trade_date, trades[-1].trade_date))
    assert s["sharpe"] == F.sharpe(r, 0.06) and s["cagr"] == F.cagr(r) and s["calmar"] == F.calmar(r)
    assert s["final_equity"] == pytest.approx(500_000 + sum(float(t.net_pnl) for t in trades), abs=1e-6)
    # The naive max drawdown of the daily closes (the peak starts at 0 P&L).
    cum = np.cumsum(daily.to_numpy())
    assert s["max_drawdown"] == pytest.approx(
        min(c - max(0, *cum[: i + 1]) for i, c in enumerate(cum)), abs=1e-6
    )
    gross = sum(float(t.net_pnl) for t in trades) + 60 * len(trades)
    if gross > 0:
        assert s["charges_pct_of_gross"] == pytest.approx(60 * len(trades) / gross * 100)
    else:  # no gross profit to take a share of
        assert s["charges_pct_of_gross"] is None


def test_summary_of_nothing_and_of_one_trade():
    empty = TradeColumns.from_records([])
    s = F.summary(empty, capital=100_000)
    assert s["trades"] == 0 and s["days"] == 0 and s["sharpe"] is None and s["max_drawdown"] == 0.0
    assert s["final_equity"] == 100_000
    one = TradeColumns.from_records(
        [TradeRecord(trade_date=date(2025, 3, 3), net_pnl=-250, gross_pnl=-200, charges=50)]
    )
    s = F.summary(one, capital=100_000)
    assert (s["trades"], s["days"], s["win_rate"], s["max_drawdown"], s["longest_drawdown_days"]) == (
        1,
        1,
        0.0,
        -250,
        1,
    )
    assert s["best_day"] == s["worst_day"] == -0.0025 and s["sharpe"] is None
    assert s["max_drawdown_ratio"] == pytest.approx(-0.0025) and s["charges_pct_of_gross"] is None


def test_daily_frame_and_pandas_dates():
    net = daily_net({pd.Timestamp("2025-03-03"): 100.0, date(2025, 3, 5): -300.0})
    frame = F.daily_frame(net, 10_000)
    assert list(frame.columns) == ["net", "equity", "drawdown", "return", "drawdown_ratio"]
    assert frame["net"].tolist() == [100, 0, -300] and frame["equity"].tolist() == [10_100, 10_100, 9_800]
    assert frame["drawdown"].tolist() == [0, 0, -300]
    assert frame["return"].tolist() == pytest.approx([0.01, 0.0, -300 / 10_100])
    assert frame["drawdown_ratio"].tolist() == pytest.approx([0.0, 0.0, -300 / 10_100])
    lost = daily_returns(daily_net({date(2025, 3, 3): -2000.0, date(2025, 3, 4): 5.0}), 1000)
    assert F.monthly_returns(lost) == {"2025-03": None}


def test_r_histogram_with_a_decimal_width():
    bins = T.r_distribution([0.3, 0.29999], width=0.1, low=0.0, high=1.0)
    assert {(b.low, b.high): b.count for b in bins if b.count} == {(0.3, 0.4): 1, (0.2, 0.3): 1}
