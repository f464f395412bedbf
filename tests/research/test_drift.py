"""The drift report end to end: a simulated day paper-traded by the desk (trades in the journal), its
bars recorded into the market-data store as the desk saw them, then backtested from the recording.
An honest day matches 100%; a delayed fill and a missed signal are reported as such."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from analytics.drift import MATCHED, MISSED
from journal.models import Trade
from trading.brokers.paper import PaperBroker
from trading.core import calendar as market_calendar
from trading.core.live import SimSource
from trading.core.order_types import BrokerOrder
from trading.core.orders import REJECTED
from trading.execution.desk import Desk, reset_desks, set_desk
from trading.execution.drift import configuration_at, drift_report_build
from trading.execution.models import Order, TradingState
from trading.marketdata.store.recorder import StoreRecorder
from trading.marketdata.store.store import MarketDataStore
from trading.strategies.models import StrategyConfig
from trading.strategies.services import ensure_strategy_configs, strategy_config_update

SEED = 7
DAY = date(2025, 11, 19)  # as tests/engine: a Wednesday, trades on the next weekly expiry
DELAY = timedelta(seconds=90)


class FaultyPaperBroker(PaperBroker):
    """The paper broker, except that entry number ``delayed`` fills ``DELAY`` late and 4 ticks worse,
    and entry number ``rejected`` is rejected (the desk misses that signal)."""

    def __init__(self, *, delayed: int = 0, rejected: int = 0) -> None:
        super().__init__()
        self.delayed, self.rejected = delayed, rejected
        self.entries = 0
        self.rejected_ids: list[str] = []

    def place_order(self, request, market=None):
        if request.transaction_type != "BUY" or self._current(request.client_order_id) is not None:
            return super().place_order(request, market)
        self.entries += 1
        if self.entries == self.rejected:
            at = self._order_time(request, market)
            order = BrokerOrder(
                client_order_id=request.client_order_id,
                broker_order_id=self._next_id(),
                status=REJECTED,
                reason="test",
                message="injected rejection",
                quantity=request.quantity,
                price=request.price,
                updated_at=at,
            )
            self._store(request, order, at)
            self.rejected_ids.append(request.client_order_id)
            return order
        if self.entries == self.delayed:
            saved = self.config
            self.config = replace(saved, latency=DELAY, slippage_ticks=4)
            try:
                return super().place_order(request, market)
            finally:
                self.config = saved
        return super().place_order(request, market)


def _paper_trade_and_record(tmp_path, broker: PaperBroker) -> tuple[MarketDataStore, SimSource]:
    source = SimSource(index="NIFTY", seed=SEED, start=DAY)
    reset_desks()
    desk = Desk("NIFTY", mode="PAPER", source=source, broker=broker)
    set_desk(desk)
    store = MarketDataStore(tmp_path / "store")
    recorder = StoreRecorder(store, flush_every=60)
    day = source.day(DAY)
    for i in range(len(day)):
        bar = day.bar(i)
        recorder.record(bar)
        desk.cycle(bar=bar)
    recorder.flush()
    reset_desks()
    return store, source


@pytest.mark.slow
@pytest.mark.django_db
def test_an_honest_paper_day_matches_its_backtest_from_the_recording(tmp_path):
    store, source = _paper_trade_and_record(tmp_path, PaperBroker())
    traded = Trade.objects.filter(entry_mode="PAPER")
    assert traded.count() >= 2
    # The simulated desk ranked IV against the simulator's history; the recording holds no end-of-day
    # chains to rebuild it from, so the backtest is handed the same history.
    result = drift_report_build(user=None, start=DAY, end=DAY, store=store, iv_closes=source.iv_history())
    assert result.sessions == [DAY] and not result.skipped
    totals = result.report.totals
    assert totals["matched"] == traded.count()
    assert totals["missed"] == totals["extra"] == 0 and totals["match_rate"] == 100.0
    for row in result.report.rows:
        assert row["status"] == MATCHED
        assert row["entry_delay_seconds"] == row["exit_delay_seconds"] == 0
        assert row["entry_slippage"] == row["exit_slippage"] == 0
        assert row["net_pnl_difference"] == 0 and row["charges_difference"] == 0
    assert result.sources == {DAY: "store"}

    # Without a recording, the simulator the paper loop ran (its seed and first session, as runtrader
    # keeps them) regenerates the session: the same 100%.
    TradingState.objects.filter(index="NIFTY").update(feed_seed=SEED, feed_start=DAY)
    empty = MarketDataStore(tmp_path / "empty")
    again = drift_report_build(user=None, start=DAY, end=DAY, store=empty)
    assert again.sources == {DAY: f"simulator (seed {SEED}, from {DAY})"}
    assert again.report.totals["matched"] == traded.count() and again.report.totals["match_rate"] == 100.0
    TradingState.objects.filter(index="NIFTY").update(feed_seed=None, feed_start=None)
    assert drift_report_build(user=None, start=DAY, end=DAY, store=empty).skipped.keys() == {DAY}


@pytest.mark.slow
@pytest.mark.django_db
def test_a_delayed_fill_and_a_missed_signal_are_reported(tmp_path):
    broker = FaultyPaperBroker(delayed=1, rejected=2)
    store, source = _paper_trade_and_record(tmp_path, broker)
    result = drift_report_build(user=None, start=DAY, end=DAY, store=store, iv_closes=source.iv_history())
    rows = result.report.rows
    first = min((r for r in rows if r["status"] == MATCHED), key=lambda r: r["traded_entry_time"])
    # The delayed entry: matched to its backtest twin, 90 s late, 4 ticks (4 x 0.05) dearer.
    assert first["entry_delay_seconds"] == DELAY.total_seconds()
    assert first["entry_slippage"] == Decimal("0.20")
    # The rejected entry: the backtest traded that signal, the desk did not.
    (rejected,) = Order.objects.filter(client_order_id__in=broker.rejected_ids)
    missed = [r for r in rows if r["status"] == MISSED]
    assert [(r["strategy"], r["backtest_entry_time"]) for r in missed] == [
        (rejected.strategy_name, rejected.created_at)
    ]
    totals = result.report.totals
    assert (
        totals["missed"] == 1
        and totals["matched"] == Trade.objects.filter(entry_mode="PAPER").count() - totals["extra"]
    )
    assert totals["match_rate"] < 100


@pytest.mark.django_db
def test_the_configuration_in_force_then_undoes_later_changes():
    ensure_strategy_configs()
    name = StrategyConfig.objects.filter(index="NIFTY", enabled=True).first().name
    config = StrategyConfig.objects.get(name=name)
    then = market_calendar.session_open(DAY)
    before_slots, before_params = configuration_at("NIFTY", then)
    strategy_config_update(config=config, user=None, cooldown_minutes=33, capital_allocation="12345.50")
    strategy_config_update(config=config, user=None, parameters={"quiet_bars": 21})
    strategy_config_update(config=config, user=None, enabled=False)
    # The changes are after `then`: undone.
    slots, params = configuration_at("NIFTY", then)
    assert slots == before_slots and params == before_params
    assert slots[name].capital_allocation == before_slots[name].capital_allocation != Decimal("12345.50")
    # Asked for now, the change stands.
    now_slots, _ = configuration_at("NIFTY", timezone.now() + timedelta(seconds=1))
    assert name not in now_slots
    strategy_config_update(config=config, user=None, enabled=True)
    _, now_params = configuration_at("NIFTY", timezone.now() + timedelta(seconds=1))
    assert now_params[name]["quiet_bars"] == 21 and "quiet_bars" not in params[name]
