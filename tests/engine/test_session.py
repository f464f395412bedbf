"""A whole simulated session through the live path with its state in the database: signals,
orders, fills, positions, trades, performance rows - and the same day backtested gives the same
trades (paper/backtest parity)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from journal.models import DailyPerformance, StrategyPerformance, Trade
from tests.engine.conftest import DAY
from trading.brokers.paper import PaperBroker
from trading.core import orders
from trading.core.backtest import run_backtest
from trading.execution.config import engine_config, strategy_slots
from trading.execution.models import Order, Position, PositionStatus, TradingState
from trading.market.models import MarketSnapshot
from trading.strategies.models import Signal, SignalStatus


def _trade_key(t: dict) -> tuple:
    return (
        t["strategy_name"],
        t["tradingsymbol"],
        t["quantity"],
        t["entry_time"],
        t["entry_price"],
        t["exit_time"],
        t["exit_price"],
        t["exit_type"],
    )


@pytest.mark.slow
@pytest.mark.django_db
def test_whole_simulated_session_end_to_end_and_parity_with_the_backtest(paper_desk, source):
    day = source.day(DAY)
    for i in range(len(day)):
        paper_desk.cycle(bar=day.bar(i))

    # Signals: stored with their features, accepted or rejected with a reason.
    signals = list(Signal.objects.all())
    assert signals
    assert any(s.status == SignalStatus.ACCEPTED for s in signals)
    for s in signals:
        assert s.features.get("close") is not None
        assert (s.status == SignalStatus.REJECTED) == bool(s.reject_reason)

    # Orders: every transition stored, in a legal sequence, ending in the order's status.
    entries = Order.objects.filter(purpose=orders.ENTRY, parent__isnull=True)
    assert entries.exists()
    for order in Order.objects.all():
        events = list(order.events.order_by("at", "id"))
        assert events[0].to_status == orders.NEW and events[0].from_status == ""
        for a, b in zip(events, events[1:]):
            assert a.to_status == b.from_status
            orders.check_transition(b.from_status, b.to_status)
        assert events[-1].to_status == order.status
        assert len(order.client_order_id) <= 20 and order.client_order_id.isalnum()
    for order in entries.filter(status=orders.FILLED):
        assert order.signal_id is not None and order.position is not None

    # Positions and trades: everything squared off, every position one trade with its context.
    assert not Position.objects.filter(status=PositionStatus.OPEN).exists()
    trades = list(Trade.objects.order_by("entry_time"))
    assert len(trades) == Position.objects.count() > 0
    for t in trades:
        assert Position.objects.filter(position_id=t.trade_id, status=PositionStatus.CLOSED).exists()
        assert t.entry_mode == "PAPER" and t.data_source == "SIM" and t.strategy_name != "MANUAL"
        assert t.net_pnl == t.gross_pnl - t.total_charges
        items = t.brokerage + t.stt + t.exchange_txn + t.sebi_fee + t.stamp_duty + t.gst
        assert t.total_charges == items > 0
        assert t.signal_id is not None and t.signal_reason
        assert t.vix_entry and t.vix_exit and t.spot_price_entry and t.spot_price_exit
        assert t.iv_entry and t.delta_entry is not None and t.theta_entry is not None
        assert t.pcr_entry is not None and t.max_pain_entry is not None and t.atm_iv_entry is not None
        assert t.initial_risk > 0 and t.r_multiple is not None and t.mae <= 0 <= t.mfe
        assert t.entry_features.get("close")
        assert t.exit_type in ("STOP_LOSS", "TARGET", "TRAILING_STOP", "SQUARE_OFF")
    assert DailyPerformance.objects.filter(date=DAY, mode="PAPER").exists()
    assert StrategyPerformance.objects.filter(mode="PAPER").exists()
    state = TradingState.objects.get(index="NIFTY")
    assert state.last_bar_time == day.bar_time(len(day) - 1)
    # The market view is stored at most once a wall second, and on the session's last bar.
    assert MarketSnapshot.objects.filter(time=day.bar_time(len(day) - 1), source="SIM").exists()

    # Parity: the same day backtested (vectorised features and signals) makes the same trades.
    slots, pairs = strategy_slots("NIFTY")
    result = run_backtest(
        [day],
        strategies=slots,
        broker=PaperBroker(),
        params=dict(pairs),
        config=engine_config("NIFTY", mode="PAPER"),
        iv_history=source.iv_history(),
    )
    backtested = sorted(_trade_key(c.trade) for c in result.trades)
    paper = sorted(
        (
            t.strategy_name,
            t.tradingsymbol,
            t.quantity,
            t.entry_time,
            t.entry_price,
            t.exit_time,
            t.exit_price,
            t.exit_type,
        )
        for t in trades
    )
    assert paper == backtested
    assert sum(c.net_pnl for c in result.trades) == sum((t.net_pnl for t in trades), Decimal(0))
