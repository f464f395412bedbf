"""What an uninterrupted run trades: the backtest of the same simulated sessions (the live path and
the backtest make the same decisions - ``tests/engine/test_session.py`` holds it), and the journal
rows of a fault run read back from the suite's cluster, in the same shape."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from trading.brokers.paper import PaperBroker
from trading.core import calendar as market_calendar
from trading.core.backtest import run_backtest
from trading.core.live import SimSource
from trading.core.state import StrategySlot
from trading.core.strategies import registry
from trading.execution.config import engine_config

SEED = 7
DAY = date(2025, 11, 19)  # the engine tests' session: trades in the morning, a position open by 10:00

# (strategy, symbol, quantity, entry time, entry price, exit time, exit price, exit type)
TradeKey = tuple


def sessions(first: date, n: int) -> list[date]:
    days = [first]
    while len(days) < n:
        days.append(market_calendar.next_trading_day(days[-1]))
    return days


def backtest_trades(first: date, n: int) -> list[TradeKey]:
    """The trades of an uninterrupted run of ``n`` sessions from ``first``, sorted."""
    source = SimSource(index="NIFTY", seed=SEED, start=first)
    slots = {
        s.name: StrategySlot(name=s.name, cooldown_minutes=s.cooldown_minutes)
        for s in registry.all_strategies()
    }
    result = run_backtest(
        [source.day(d) for d in sessions(first, n)],
        strategies=slots,
        broker=PaperBroker(),
        config=engine_config("NIFTY", mode="PAPER"),
        iv_history=source.iv_history(),
    )
    return sorted(
        (
            c.trade["strategy_name"],
            c.trade["tradingsymbol"],
            int(c.trade["quantity"]),
            c.trade["entry_time"],
            Decimal(str(c.trade["entry_price"])),
            c.trade["exit_time"],
            Decimal(str(c.trade["exit_price"])),
            str(c.trade["exit_type"]),
        )
        for c in result.trades
    )


TRADE_COLUMNS = (
    "strategy_name, tradingsymbol, quantity, entry_time, entry_price, exit_time, exit_price, exit_type"
)


def stored_trades(cluster, database: str) -> list[TradeKey]:
    """The journal's trades of a fault run, in ``backtest_trades``' shape, sorted."""
    rows = cluster.query(database, f"SELECT {TRADE_COLUMNS} FROM journal_trade")
    return sorted(
        (s, sym, int(q), et, Decimal(ep), xt, Decimal(xp), str(x)) for s, sym, q, et, ep, xt, xp, x in rows
    )


def session_bars(days: list[date]) -> list:
    """Every bar start time (UTC) of the simulated ``days``, in order."""
    source = SimSource(index="NIFTY", seed=SEED, start=days[0])
    out = []
    for d in days:
        bars = source.day(d)
        out.extend(bars.bar_time(i) for i in range(len(bars)))
    return out
