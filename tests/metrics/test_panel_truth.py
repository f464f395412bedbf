"""What the panels read, one fix at a time: zeros where the truth is zero, counters that see their
first event, the clock each metric reads, slippage signed against the quote, the paper broker timed
like Kite's. (The whole stack, Prometheus and every panel: ``test_panels.py``.)"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from prometheus_client import REGISTRY

from tests.helpers import ist
from tests.metrics.helpers import make_trade, scrape, total_by
from trading import metrics
from trading.brokers.paper import PaperBroker
from trading.choices import ExitType
from trading.core import risk
from trading.core.order_types import OrderNotFound
from trading.core.strategies import registry
from trading.execution import desk
from trading.execution.models import TradingState
from trading.execution.observe import slippage
from trading.monitoring import collector, wiring
from trading.strategies.models import StrategyConfig


def _sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


# --- counters see their first event ----------------------------------------------------------------


def test_every_process_creates_the_event_counters_at_zero():
    wiring.install()  # idempotent: TradingConfig.ready ran it
    for name in registry.names():
        for reason in risk.ENTRY_REFUSALS:
            assert _sample("trading_signals_rejected_total", strategy=name, reason=reason) is not None
        for exit_type in ExitType.values:
            assert _sample("trading_exits_triggered_total", strategy=name, exit_type=exit_type) is not None
        for direction in ("CALL", "PUT"):
            assert _sample("trading_signals_generated_total", strategy=name, direction=direction) is not None
        assert _sample("trading_strategy_errors_total", strategy=name) is not None
        assert _sample("trading_trade_pnl_rupees_count", strategy=name, mode="PAPER") is not None
    assert _sample("trading_system_errors_total", component="strategy", severity="error") is not None
    assert _sample("trading_control_actions_total", action="kill_switch_on") is not None


# --- the database metrics: zeros, not absent series ------------------------------------------------


@pytest.mark.django_db
def test_a_flat_desk_reads_zero_and_no_win_reads_zero_percent(settings):
    settings.TRADING_MODE = "PAPER"
    StrategyConfig.objects.create(name="PCRStrategy")
    StrategyConfig.objects.create(name="MaxPainStrategy", enabled=False)
    loss = make_trade(1, "PCRStrategy", exit_price=Decimal("90"), exit_type="STOP_LOSS")
    assert not loss.is_winning_trade
    text = scrape()
    for family in (
        "trading_positions_open",
        "trading_positions_open_quantity",
        "trading_positions_value_rupees",
        "trading_unrealized_pnl_rupees",
        "trading_orders_working",
    ):
        # The switched-on strategy reads 0; the switched-off one is not there.
        assert total_by(text, family, "strategy", "mode") == {("PCRStrategy", "PAPER"): 0.0}, family
    # "Win rate (all trades)": 100 x 0 wins / 1 trade = 0 %, not *No data*.
    wins = sum(total_by(text, "trading_winning_trades_total").values())
    trades = sum(total_by(text, "trading_trades_total").values())
    assert (wins, trades) == (0.0, 1.0)
    assert ("PCRStrategy", "LONG", "PAPER") in total_by(
        text, "trading_winning_trades_total", "strategy", "side", "mode"
    )
    # Every exit type is a series from the start: the loss's at 1, the others at 0.
    exits = total_by(text, "trading_trade_exits_total", "exit_type")
    assert exits == {(t,): 1.0 if t == "STOP_LOSS" else 0.0 for t in ExitType.values}
    assert set(total_by(text, "trading_orders_rejected_total", "reason").values()) == {0.0}
    assert ("price_band",) in total_by(text, "trading_orders_rejected_total", "reason")
    assert total_by(text, "trading_orders_cancelled_total", "reason") == {
        ("cancelled",): 0.0,
        ("other",): 0.0,
    }


@pytest.mark.django_db
def test_the_market_session_is_open_by_the_market_clock(settings, monkeypatch):
    settings.TRADING_INDEX = "NIFTY"
    saturday = ist(2026, 12, 5, 11, 0)  # the wall clock: no session
    monkeypatch.setattr(collector.timezone, "now", lambda: saturday)
    settings.MARKET_FEED = "sim"
    assert _session_open() == 0.0  # no bar yet: the wall clock
    state = TradingState.objects.create(index="NIFTY", last_bar_time=ist(2025, 11, 19, 11, 0))
    assert _session_open() == 1.0  # a simulated Wednesday, 11:01
    state.last_bar_time = ist(2025, 11, 19, 15, 29)
    state.save()
    assert _session_open() == 0.0  # its last bar closed at 15:30: the session is over
    state.last_bar_time = ist(2025, 11, 19, 11, 0)
    state.save()
    settings.MARKET_FEED = "kite"
    assert _session_open() == 0.0  # Kite's clock is the wall clock: a Saturday


def _session_open() -> float:
    collector._snapshot.clear()
    return total_by(scrape(), "trading_market_session_open")[()]


@pytest.mark.django_db
def test_a_simulated_desk_squares_off_on_its_own_clock(settings):
    settings.MARKET_FEED = "sim"
    assert desk.market_now("NIFTY") - desk.now_utc() < timedelta(seconds=5)  # no bar yet: the wall clock
    TradingState.objects.create(index="NIFTY", last_bar_time=ist(2025, 11, 19, 11, 0))
    assert desk.market_now("NIFTY") == ist(2025, 11, 19, 11, 1)


# --- the clocks of the process metrics -------------------------------------------------------------


def test_the_last_signal_is_stamped_on_the_wall_clock(monkeypatch):
    monkeypatch.setattr(metrics.time, "time", lambda: 1_800_000_000.0)
    metrics.signal_seen("PCRStrategy", "ACCEPTED", direction="CALL")
    assert (
        _sample("trading_strategy_last_signal_timestamp_seconds", strategy="PCRStrategy") == 1_800_000_000.0
    )


def test_the_journal_delay_runs_from_the_engines_close(monkeypatch):
    trade = SimpleNamespace(
        entry_mode="PAPER", net_pnl=100, strategy_name="PCRStrategy", exit_time=ist(2025, 1, 2)
    )
    delay = metrics.TRADE_RECORD_DELAY.labels("PAPER")
    before = delay._sum.get()
    monkeypatch.setattr(metrics.time, "time", lambda: 1_800_000_002.5)
    metrics.trade_recorded(trade, 1_800_000_000.0)  # closed 2.5 s before its commit
    assert delay._sum.get() - before == pytest.approx(2.5)
    metrics.trade_recorded(trade, None)  # entered by hand: no close to measure from
    assert delay._sum.get() - before == pytest.approx(2.5)


# --- slippage against the quote, signed -------------------------------------------------------------


def _record(side: str, fill: str, reference: str | None):
    request = SimpleNamespace(transaction_type=side)
    return SimpleNamespace(
        request=request,
        average_price=Decimal(fill),
        reference_price=None if reference is None else Decimal(reference),
    )


@pytest.mark.parametrize(
    ("side", "fill", "reference", "worse"),
    [
        ("BUY", "101.00", "100.00", 1.00),  # paid a rupee over the ask
        ("BUY", "99.90", "100.00", -0.10),  # price improvement
        ("SELL", "99.50", "100.00", 0.50),  # got 50 paise under the bid
        ("SELL", "100.05", "100.00", -0.05),
        ("BUY", "101.00", None, None),  # no quote to measure from
    ],
)
def test_slippage_is_the_fill_against_the_quote_signed(side, fill, reference, worse):
    assert slippage(_record(side, fill, reference)) == (None if worse is None else pytest.approx(worse))


# --- the paper broker is timed like Kite's ------------------------------------------------------------


def test_the_paper_broker_is_timed_and_its_errors_counted():
    broker = PaperBroker()
    before = _sample("trading_broker_api_latency_seconds_count", broker="paper", endpoint="order_status") or 0
    assert broker.order_status("NOSUCH") is None
    after = _sample("trading_broker_api_latency_seconds_count", broker="paper", endpoint="order_status")
    assert after == before + 1
    labels = {"broker": "paper", "endpoint": "cancel_order", "error": "OrderNotFound"}
    errors = _sample("trading_broker_api_errors_total", **labels) or 0
    with pytest.raises(OrderNotFound):
        broker.cancel_order("NOSUCH")
    assert _sample("trading_broker_api_errors_total", **labels) == errors + 1
