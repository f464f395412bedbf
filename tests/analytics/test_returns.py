"""Trades -> daily net P&L on the trading calendar -> daily returns, on hand-worked examples."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal as D

import numpy as np
import pytest

from analytics.returns import (
    TradeColumns,
    TradeRecord,
    daily_net,
    daily_net_from_trades,
    daily_returns,
    equity_at_start,
)
from trading.core.calendar import IST

# 2025-02-26 (Wednesday) is an NSE holiday (Mahashivratri); 2025-03-01 is a Saturday.
TRADES = [
    TradeRecord(trade_date=date(2025, 2, 24), net_pnl=D("600.10")),
    TradeRecord(trade_date=date(2025, 2, 24), net_pnl=D("399.90")),
    TradeRecord(trade_date=date(2025, 2, 28), net_pnl=D("-500.00")),
    TradeRecord(trade_date=date(2025, 3, 1), net_pnl=D("200.00")),  # a special session: kept
]


def test_days_without_trades_are_zero_and_holidays_are_not_days():
    net = daily_net_from_trades(TRADES)
    assert list(net.index.date) == [
        date(2025, 2, 24),
        date(2025, 2, 25),
        date(2025, 2, 27),
        date(2025, 2, 28),
        date(2025, 3, 1),
    ]
    assert net.tolist() == [1000.0, 0.0, 0.0, -500.0, 200.0]


def test_period_can_be_wider_than_the_trades_but_must_hold_them():
    net = daily_net_from_trades(TRADES[:2], start=date(2025, 2, 20), end=date(2025, 2, 25))
    assert list(net.index.date) == [
        date(2025, 2, 20),
        date(2025, 2, 21),
        date(2025, 2, 24),
        date(2025, 2, 25),
    ]
    assert net.tolist() == [0.0, 0.0, 1000.0, 0.0]
    with pytest.raises(ValueError, match="2025-03-01 lies outside the period 2025-02-24 to 2025-02-27"):
        daily_net_from_trades(TRADES, end=date(2025, 2, 27))
    assert daily_net_from_trades([]).empty
    assert daily_net({}, start=date(2025, 2, 24), end=date(2025, 2, 25)).tolist() == [0.0, 0.0]
    with pytest.raises(TypeError, match="datetime"):
        daily_net([(datetime(2025, 2, 24, 10, tzinfo=IST), 1.0)])


def test_returns_are_net_over_equity_at_the_days_start():
    net = daily_net_from_trades(TRADES)
    r = daily_returns(net, 100_000)
    # Equity at the start: 100000, 101000, 101000, 101000, 100500.
    assert equity_at_start(net, 100_000).tolist() == [100_000, 101_000, 101_000, 101_000, 100_500]
    assert r.tolist() == pytest.approx([0.01, 0.0, 0.0, -500 / 101_000, 200 / 100_500], abs=1e-15)
    # Compounding the returns gives back the rupee equity.
    assert 100_000 * np.prod(1 + r.to_numpy()) == pytest.approx(100_700, abs=1e-8)


def test_a_lost_capital_makes_the_rest_undefined():
    net = daily_net({date(2025, 2, 24): -600, date(2025, 2, 25): -500, date(2025, 2, 27): 100})
    r = daily_returns(net, 1000)
    assert r.iloc[0] == -0.6 and r.iloc[1] == -1.25 and np.isnan(r.iloc[2])
    for bad in (0, -5, float("nan")):
        with pytest.raises(ValueError, match="capital"):
            daily_returns(net, bad)


def test_columns_are_in_exit_order_with_hold_minutes_from_the_times():
    t0 = datetime(2025, 2, 24, 9, 30, tzinfo=IST)
    late = TradeRecord(
        trade_date=date(2025, 2, 24),
        net_pnl=1,
        entry_time=t0,
        exit_time=t0 + timedelta(minutes=90),
        r_multiple=D("0.5"),
    )
    early = TradeRecord(
        trade_date=date(2025, 2, 24), net_pnl=2, entry_time=t0, exit_time=t0 + timedelta(minutes=30)
    )
    before = TradeRecord(trade_date=date(2025, 2, 21), net_pnl=3, hold_minutes=D("12.5"))
    cols = TradeColumns.from_records([late, early, before])
    assert cols.net.tolist() == [3, 2, 1]
    assert cols.hold_minutes.tolist() == [12.5, 30.0, 90.0]
    assert np.isnan(cols.r_multiple[:2]).all() and cols.r_multiple[2] == 0.5
    assert np.isnan(cols.mae).all() and len(cols) == 3
    assert daily_net_from_trades(cols).tolist() == [3.0, 3.0]
    with pytest.raises(ValueError, match="gross"):
        TradeColumns(cols.trade_date, cols.net, cols.gross[:1], *(cols.charges, cols.hold_minutes,
                     cols.r_multiple, cols.mae, cols.mfe))  # fmt: skip
