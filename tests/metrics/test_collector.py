"""The database metrics: the journal's counts equal its rows, the state gauges come from the
database, and the incremental tally always agrees with a full read."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from journal.models import Trade
from journal.services import trade_delete, trade_update
from tests.helpers import ist
from tests.metrics.helpers import make_order, make_trade, scrape, total_by
from trading.execution.models import Order, Position, TradingState
from trading.monitoring import collector
from trading.monitoring.collector import _new_series
from trading.monitoring.tally import JournalTally
from trading.strategies.models import Signal, StrategyConfig

pytestmark = pytest.mark.django_db


def _journal():
    make_trade(1, "PCRStrategy")
    make_trade(2, "PCRStrategy", exit_price=Decimal("90"), exit_type="STOP_LOSS")
    make_trade(3, "MaxPainStrategy", side="SHORT", entry_price=Decimal("120"), exit_price=Decimal("100"))
    make_trade(4, "MaxPainStrategy", entry_mode="BACKTEST")
    make_order(1, "PCRStrategy", "FILLED")
    make_order(2, "PCRStrategy", "FILLED", transaction_type="SELL", order_type="LIMIT", price=Decimal("120"))
    make_order(3, "PCRStrategy", "REJECTED", status_reason="price_band: 130.00 outside 80-120")
    make_order(4, "MaxPainStrategy", "CANCELLED", status_reason="max_retries_exceeded")
    make_order(5, "MaxPainStrategy", "OPEN", order_type="LIMIT", price=Decimal("99"))
    make_order(6, "MaxPainStrategy", "REJECTED", status_reason="Insufficient funds. Required margin 1234")


def test_trades_and_orders_equal_the_journal_rows():
    _journal()
    text = scrape()

    rows = Counter(Trade.objects.values_list("strategy_name", flat=True))
    assert total_by(text, "trading_trades_total", "strategy") == {(s,): float(n) for s, n in rows.items()}
    by_side = total_by(text, "trading_trades_total", "strategy", "side", "status", "mode")
    assert by_side[("MaxPainStrategy", "SHORT", "closed", "PAPER")] == 1
    assert by_side[("MaxPainStrategy", "LONG", "closed", "BACKTEST")] == 1
    assert by_side[("PCRStrategy", "LONG", "closed", "PAPER")] == 2
    wins = Trade.objects.filter(is_winning_trade=True).count()
    assert sum(total_by(text, "trading_winning_trades_total").values()) == wins
    assert total_by(text, "trading_trade_exits_total", "exit_type")[("STOP_LOSS",)] == 1

    orders = Counter(Order.objects.values_list("strategy_name", "status"))
    assert total_by(text, "trading_orders_total", "strategy", "status") == {
        k: float(v) for k, v in orders.items()
    }
    assert total_by(text, "trading_orders_submitted_total", "strategy") == {
        ("PCRStrategy",): 3,
        ("MaxPainStrategy",): 3,
    }
    assert total_by(text, "trading_orders_filled_total", "side", "order_type") == {
        ("BUY", "MARKET"): 1,
        ("SELL", "LIMIT"): 1,
    }
    assert total_by(text, "trading_orders_rejected_total", "strategy", "reason") == {
        ("PCRStrategy", "price_band"): 1,
        ("MaxPainStrategy", "other"): 1,
    }
    assert total_by(text, "trading_orders_cancelled_total", "reason") == {("max_retries_exceeded",): 1}
    assert total_by(text, "trading_orders_working", "strategy") == {("MaxPainStrategy",): 1}

    charges = sum(t.total_charges for t in Trade.objects.all())
    assert sum(total_by(text, "trading_charges_paid_rupees_total").values()) == pytest.approx(float(charges))
    net = sum(t.net_pnl for t in Trade.objects.filter(strategy_name="PCRStrategy"))
    assert total_by(text, "trading_strategy_net_pnl_rupees", "strategy")[("PCRStrategy",)] == pytest.approx(
        float(net)
    )


def test_state_gauges_come_from_the_database(settings):
    settings.TRADING_CAPITAL = 100000.0
    settings.DAILY_LOSS_LIMIT = 7500.0
    bar = ist(2026, 5, 5, 11, 0)
    TradingState.objects.create(
        index="NIFTY",
        circuit_breaker=True,
        kill_switch=False,
        last_bar_time=bar,
        last_cycle_at=timezone.now(),
    )
    TradingState.objects.create(index="BANKNIFTY", kill_switch=True)
    StrategyConfig.objects.create(name="PCRStrategy", enabled=True)
    StrategyConfig.objects.create(name="MaxPainStrategy", enabled=False)
    make_trade(1, "PCRStrategy")  # 2026-05-05: the session of the engine's last bar
    make_trade(2, "PCRStrategy", day=4)  # an earlier session
    Position.objects.create(
        position_id="P-1",
        strategy_name="PCRStrategy",
        tradingsymbol="NIFTY26MAY24000CE",
        instrument_type="CALL",
        strike_price=Decimal("24000"),
        expiry_date=ist(2026, 5, 12).date(),
        quantity=65,
        entry_price=Decimal("100"),
        last_price=Decimal("110"),
        entry_time=bar,
    )
    Position.objects.create(
        position_id="P-2",
        strategy_name="MaxPainStrategy",
        side="SHORT",
        tradingsymbol="NIFTY26MAY24000PE",
        instrument_type="PUT",
        strike_price=Decimal("24000"),
        expiry_date=ist(2026, 5, 12).date(),
        quantity=65,
        entry_price=Decimal("50"),
        last_price=Decimal("60"),
        entry_time=bar,
    )
    Position.objects.create(
        position_id="P-3",
        strategy_name="PCRStrategy",
        status="CLOSED",
        tradingsymbol="X",
        instrument_type="CALL",
        strike_price=Decimal("24000"),
        expiry_date=ist(2026, 5, 12).date(),
        quantity=65,
        entry_price=Decimal("50"),
        entry_time=bar,
    )
    Signal.objects.create(
        strategy_name="PCRStrategy", bar_time=bar, direction="CALL", strength=0.8, status="ACCEPTED"
    )
    Signal.objects.create(
        strategy_name="PCRStrategy",
        bar_time=bar - timedelta(days=1),
        direction="PUT",
        strength=0.8,
        status="REJECTED",
    )

    text = scrape()
    assert total_by(text, "trading_circuit_breaker_active", "index") == {("NIFTY",): 1.0, ("BANKNIFTY",): 0.0}
    assert total_by(text, "trading_kill_switch_active", "index") == {("NIFTY",): 0.0, ("BANKNIFTY",): 1.0}
    assert total_by(text, "trading_positions_open", "strategy") == {
        ("PCRStrategy",): 1,
        ("MaxPainStrategy",): 1,
    }
    assert total_by(text, "trading_positions_value_rupees", "strategy") == {
        ("PCRStrategy",): 7150,
        ("MaxPainStrategy",): 3900,
    }
    # Long 65 x (110 - 100) = +650; short 65 x (50 - 60) = -650.
    assert total_by(text, "trading_unrealized_pnl_rupees", "strategy") == {
        ("PCRStrategy",): 650,
        ("MaxPainStrategy",): -650,
    }
    today = Trade.objects.get(trade_id="M-PCRStrategy-1")
    realized = float(today.net_pnl)
    assert total_by(text, "trading_realized_pnl_rupees", "mode")[("PAPER",)] == pytest.approx(realized)
    assert total_by(text, "trading_daily_pnl_rupees", "mode")[("PAPER",)] == pytest.approx(
        realized
    )  # 650 - 650
    assert total_by(text, "trading_daily_pnl_percent", "mode")[("PAPER",)] == pytest.approx(realized / 1000)
    assert total_by(text, "trading_daily_trades", "mode") == {("PAPER",): 1}
    assert total_by(text, "trading_strategy_daily_pnl_rupees", "strategy") == {
        ("PCRStrategy",): pytest.approx(realized)
    }
    assert total_by(text, "trading_daily_signals", "strategy", "status") == {("PCRStrategy", "ACCEPTED"): 1}
    assert total_by(text, "trading_strategy_enabled", "strategy") == {
        ("PCRStrategy",): 1,
        ("MaxPainStrategy",): 0,
    }
    assert total_by(text, "trading_strategies_enabled") == {(): 1}
    assert total_by(text, "trading_daily_loss_limit_rupees") == {(): 7500}
    assert total_by(text, "trading_last_bar_timestamp_seconds", "index")[("NIFTY",)] == bar.timestamp()
    assert total_by(text, "trading_metrics_database_up") == {(): 1}
    win_rate = total_by(text, "trading_strategy_win_rate_percent", "strategy")[("PCRStrategy",)]
    assert win_rate == 100.0


def test_spool_depth_is_read_at_scrape_time():
    from journal import spool

    spool.append("trade", "T-9", {"trade_id": "T-9"})
    spool.append("trade", "T-10", {"trade_id": "T-10"})
    assert total_by(scrape(), "trading_trade_spool_depth") == {(): 2}


def test_a_database_outage_keeps_the_scrape_alive():
    from tests.helpers import database_unreachable

    make_trade(1)
    with database_unreachable():
        text = scrape()
    assert total_by(text, "trading_metrics_database_up") == {(): 0}
    assert "trading_trades_total{" not in text  # absent, not zero: the alerts see it
    assert "trading_trade_spool_depth 0.0" in text


def _emitted(tally: JournalTally) -> dict:
    out = _new_series()
    tally.emit(out)
    return {
        name: {k: v for k, v in series.items() if v} for name, series in out.items() if any(series.values())
    }


def _full() -> dict:
    tally = JournalTally()
    tally.refresh()
    return _emitted(tally)


def test_the_incremental_tally_agrees_with_a_full_read_through_every_kind_of_change():
    _journal()
    tally = JournalTally()
    tally.refresh()
    assert _emitted(tally) == _full()

    # New trades and orders (read by primary key above the ids seen).
    make_trade(10, "PCRStrategy")
    make_order(10, "PCRStrategy", "SUBMITTED")
    tally.refresh()
    assert tally.trade_count == Trade.objects.count()
    assert _emitted(tally) == _full()

    # Orders that move on (tracked while not final).
    Order.objects.filter(client_order_id="MO00000010").update(status="PARTIALLY_FILLED")
    tally.refresh()
    assert _emitted(tally) == _full()
    Order.objects.filter(client_order_id__in=["MO00000010", "MO00000005"]).update(status="FILLED")
    tally.refresh()
    assert _emitted(tally) == _full()
    assert not tally.tracked

    # An edit of a trade (audited) and a delete force a full read.
    t = Trade.objects.get(trade_id="M-PCRStrategy-1")
    trade_update(trade=t, source="api", strategy_name="Renamed")
    tally.refresh()
    assert _emitted(tally) == _full()
    trade_delete(trade=Trade.objects.get(trade_id="M-PCRStrategy-2"))
    make_trade(11, "PCRStrategy")  # same count as before the delete: the ids tell
    tally.refresh()
    assert _emitted(tally) == _full()
    Order.objects.filter(client_order_id="MO00000001").delete()
    tally.refresh()
    assert _emitted(tally) == _full()


def test_a_commit_below_the_ids_seen_is_caught_by_the_count_and_the_id_sum():
    _journal()
    # A hole in the ids: the id of an order that committed late (it was taken before the others).
    late = Order.objects.order_by("id")[2]
    late_id = late.id
    late.delete()
    tally = JournalTally()
    tally.refresh()

    make_order(21, "MaxPainStrategy", "FILLED", id=late_id)  # commits below the largest id seen
    tally.refresh()
    assert _emitted(tally) == _full()

    # The same, with a delete that keeps the row count where the shortcut expects it.
    hole = Order.objects.order_by("id")[1]
    hole_id = hole.id
    hole.delete()
    tally = JournalTally()
    tally.refresh()
    make_order(22, "PCRStrategy", "FILLED")  # above the largest id
    make_order(23, "MaxPainStrategy", "FILLED", id=hole_id)  # below it
    Order.objects.filter(client_order_id="MO00000001").delete()
    assert Order.objects.count() == tally.order_count + 1
    tally.refresh()
    assert _emitted(tally) == _full()


def test_a_change_the_state_machine_forbids_is_caught_by_the_periodic_full_read(monkeypatch):
    # A terminal order never changes (trading.core.orders), so the tally stops watching it; a write
    # behind the services' back is still caught by the full read every FULL_EVERY seconds.
    _journal()
    tally = JournalTally()
    tally.refresh()
    Order.objects.filter(status="FILLED").update(status="CANCELLED")
    tally.refresh()
    monkeypatch.setattr(JournalTally, "FULL_EVERY", 0.0)
    tally.refresh()
    assert _emitted(tally) == _full()


@pytest.mark.django_db(transaction=True)
def test_committed_changes_show_on_the_next_scrape():
    # Outside a test transaction the collector answers from its reading until the database changes.
    collector._snapshot.clear()
    make_trade(1)
    first = scrape()
    assert sum(total_by(first, "trading_trades_total").values()) == 1
    assert collector._snapshot.key is not None  # a change token: the next scrape may reuse it
    make_trade(2)
    make_order(1, status="SUBMITTED")
    text = scrape()
    assert sum(total_by(text, "trading_trades_total").values()) == 2
    assert total_by(text, "trading_orders_working") == {("PCRStrategy", "PAPER"): 1} or total_by(
        text, "trading_orders_working", "strategy"
    ) == {("PCRStrategy",): 1}
    Order.objects.update(status="CANCELLED", status_reason="cancelled")
    text = scrape()
    assert total_by(text, "trading_orders_cancelled_total", "reason") == {("cancelled",): 1}
    assert total_by(text, "trading_orders_working", "strategy") == {}
    collector._snapshot.clear()
