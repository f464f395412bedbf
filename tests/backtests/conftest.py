"""Backtest runs and sweeps: a short simulated week and one strategy that trades in it."""

from __future__ import annotations

import functools
from datetime import date

import numpy as np
import pytest

from trading.core import calendar as market_calendar
from trading.core.backtest import run_backtest
from trading.core.live import SimSource
from trading.core.state import StrategySlot
from trading.execution.config import engine_config
from trading.execution.live import paper_broker

START, END, SEED = date(2026, 3, 2), date(2026, 3, 5), 7  # three sessions: 2026-03-03 is Holi
STRATEGY = "EMACrossoverStrategy"
CAPITAL = 1_000_000.0


@pytest.fixture(autouse=True)
def _capital(settings):
    settings.TRADING_CAPITAL = CAPITAL


@functools.cache
def _market(start, end, seed):
    source = SimSource(index="NIFTY", seed=seed, start=start)
    return list(source.sim.days(start, end)), source.iv_history()


def plain_backtest(params: dict, *, strategy: str = STRATEGY, start=START, end=END, seed=SEED):
    """The engine called directly (no service, no database): the reference a sweep and a run must equal."""
    days, iv_history = _market(start, end, seed)
    return run_backtest(
        days,
        strategies={strategy: StrategySlot(name=strategy, cooldown_minutes=30)},
        broker=paper_broker(),
        config=engine_config("NIFTY", mode="BACKTEST"),
        params={strategy: params},
        iv_history=iv_history,
    )


def reference_figures(result, *, start=START, end=END, capital=CAPITAL) -> dict:
    """Sharpe and profit factor worked by hand from the trades (published formulas, not analytics):
    daily net on every trading day, return = net / equity at the day's start, Sharpe = mean / sample
    std x sqrt(252); profit factor = sum of wins / |sum of losses|."""
    days = market_calendar.trading_days(start, end)
    net = {d: 0.0 for d in days}
    for t in result.trades:
        net[t.exit_time.astimezone(market_calendar.IST).date()] += float(t.net_pnl)
    values = np.array([net[d] for d in days])
    equity = capital + np.concatenate(([0.0], np.cumsum(values)[:-1]))
    r = values / equity
    sd = r.std(ddof=1)
    nets = [float(t.net_pnl) for t in result.trades]
    losses = -sum(n for n in nets if n < 0)
    return {
        "trades": len(result.trades),
        "net": round(sum(nets), 2),
        "sharpe": None if sd == 0 else r.mean() / sd * np.sqrt(252),
        "profit_factor": sum(n for n in nets if n > 0) / losses if losses > 0 else None,
    }
