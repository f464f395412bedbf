"""Test data of the research tests: a recorded session with its (slightly drifted) PAPER trades."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from journal.models import TradeOrigin
from journal.services import record_trade
from tests.helpers import NOW
from trading.core.backtest import run_backtest
from trading.core.live import SimSource
from trading.execution.config import engine_config, strategy_slots
from trading.execution.live import paper_broker
from trading.marketdata.store.recorder import StoreRecorder
from trading.marketdata.store.store import MarketDataStore

DAY = date(2025, 11, 19)  # as tests/engine: a Wednesday, trades on the next weekly expiry


def drifted_day(settings, tmp_path) -> dict:
    """A recorded session in the store (settings.MARKETDATA_DIR) and its PAPER trades in the journal:
    the backtest's own trades, except the first dropped (missed) and the second entered 0.50 dearer."""
    settings.MARKETDATA_DIR = tmp_path / "store"
    source = SimSource(index="NIFTY", seed=7, start=DAY)
    day = source.day(DAY)
    recorder = StoreRecorder(MarketDataStore(settings.MARKETDATA_DIR), flush_every=400)
    for i in range(len(day)):
        recorder.record(day.bar(i))
    recorder.flush()
    slots, pairs = strategy_slots("NIFTY")
    result = run_backtest(
        [day],
        strategies=slots,
        broker=paper_broker(),
        params=dict(pairs),
        config=engine_config("NIFTY", mode="PAPER", data_source="REPLAY"),
    )
    trades = sorted(result.trades, key=lambda c: c.trade["entry_time"])
    assert len(trades) >= 3
    for n, closed in enumerate(trades[1:]):
        facts = dict(closed.trade)
        if n == 0:
            facts["entry_price"] = facts["entry_price"] + Decimal("0.50")
        record_trade(now=NOW, origin=TradeOrigin.ENGINE, **facts)
    return {"trades": trades}
