"""Every trading_* family: enough of them, named the Prometheus way, labels of bounded cardinality;
the helpers never raise."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from trading import metrics
from trading.core.bars import MarketBar
from trading.monitoring.families import all_families

NAME = re.compile(r"^trading_[a-z][a-z0-9_]*$")
UNITS = ("_seconds", "_rupees", "_percent", "_ratio", "_points", "_bytes")
# Families that are counts or states (no unit in their name).
UNITLESS = re.compile(
    r"_(total|open|working|trades|signals|enabled|active|confirmed|depth|info|up|connections|processes|"
    r"in_progress|files|quantity)$"
)
MONEY_WORDS = ("pnl", "charges", "value", "capital", "premium", "allocation", "drawdown", "expectancy")
SEED = {
    # The names and labels the seed (../shared/seed) shows the user expects.
    "trading_trades": ("counter", {"strategy", "side", "status"}),
    "trading_trade_pnl_rupees": ("histogram", {"strategy"}),
    "trading_positions_open": ("gauge", {"strategy"}),
    "trading_positions_value_rupees": ("gauge", {"strategy"}),
    "trading_orders_submitted": ("counter", {"strategy", "side", "order_type"}),
    "trading_orders_filled": ("counter", {"strategy", "side", "order_type"}),
    "trading_orders_rejected": ("counter", {"strategy", "reason"}),
    "trading_orders_cancelled": ("counter", {"strategy", "reason"}),
    "trading_order_fill_time_seconds": ("histogram", {"strategy"}),
    "trading_daily_pnl_rupees": ("gauge", set()),
    "trading_daily_pnl_percent": ("gauge", set()),
    "trading_unrealized_pnl_rupees": ("gauge", set()),
    "trading_realized_pnl_rupees": ("gauge", set()),
    "trading_system_errors": ("counter", {"component", "severity"}),
    "trading_websocket_connections": ("gauge", set()),
    "trading_market_data_updates": ("counter", {"symbol"}),
    "trading_circuit_breaker_active": ("gauge", set()),
}


def test_at_least_sixty_families_all_defined_once():
    names = [name for name, _kind, _labels in all_families()]
    assert len(names) >= 60
    assert len(names) == len(set(names)), "a family is defined twice"


@pytest.mark.parametrize("name,kind,labels", all_families())
def test_naming_and_labels(name, kind, labels):
    assert NAME.match(name), name
    assert not name.endswith("_total"), "counters are named without _total; the exposition adds it"
    if kind == "histogram":
        assert name.endswith(UNITS), f"histogram {name} needs a unit"
    elif not name.endswith(UNITS):
        assert kind == "counter" or UNITLESS.search(name) or name.startswith("trading_build"), (
            f"{name}: a gauge needs a unit or a count/state word"
        )
    if any(word in name for word in MONEY_WORDS) and "seconds" not in name:
        assert name.endswith(("_rupees", "_percent", "_ratio")), f"{name}: money in rupees"
    assert not set(labels) & metrics.FORBIDDEN_LABELS, f"{name} has an unbounded label"
    for lab in labels:
        assert re.match(r"^[a-z][a-z_]*$", lab) and not lab.startswith("__")


def test_the_seed_names_and_labels_exist():
    defined = {name: (kind, set(labels)) for name, kind, labels in all_families()}
    for name, (kind, labels) in SEED.items():
        assert name in defined, name
        assert defined[name][0] == kind, name
        assert labels <= defined[name][1], (name, defined[name][1])


def test_the_brief_beyond_the_seed_is_covered():
    defined = {name for name, _k, _l in all_families()}
    for name in (
        "trading_signals_generated",
        "trading_signals_accepted",
        "trading_signals_rejected",
        "trading_strategy_evaluation_seconds",
        "trading_cycle_duration_seconds",
        "trading_cycle_lag_seconds",
        "trading_spot_points",
        "trading_india_vix_percent",
        "trading_pcr_ratio",
        "trading_max_pain_distance_points",
        "trading_atm_iv_percent",
        "trading_trade_spool_depth",
        "trading_broker_api_latency_seconds",
        "trading_broker_api_errors",
        "trading_celery_task_duration_seconds",
        "trading_celery_task_failures",
        "trading_kill_switch_active",
        "trading_strategy_daily_pnl_rupees",
        "trading_charges_paid_rupees",
    ):
        assert name in defined, name


@pytest.mark.parametrize(
    "text,expected",
    [
        ("price_band", "price_band"),
        ("circuit_breaker: daily loss 10000", "circuit_breaker"),
        ("Insufficient funds. Required margin is 95417.84", "other"),
        ("RMS:Rule: Check circuit limit including open orders", "rms"),
        ("", "none"),
        (None, "none"),
        ("x" * 80, "other"),
    ],
)
def test_reason_labels_are_bounded(text, expected):
    assert metrics.reason_label(text) == expected


def _value(metric, **labels) -> float:
    child = metric.labels(**labels) if labels else metric
    return child._value.get()


def test_helpers_move_their_metrics():
    before = _value(metrics.definitions.SIGNALS_REJECTED, strategy="T1", reason="cooldown")
    metrics.signal_seen("T1", "REJECTED", "cooldown: 3 minutes left", direction="CALL")
    metrics.signal_seen("T1", "ACCEPTED", direction="CALL")
    assert _value(metrics.definitions.SIGNALS_REJECTED, strategy="T1", reason="cooldown") == before + 1
    assert _value(metrics.definitions.SIGNALS_ACCEPTED, strategy="T1") >= 1
    assert _value(metrics.definitions.SIGNALS_GENERATED, strategy="T1", direction="CALL") >= 2

    bar = MarketBar(
        index="NIFTY",
        time=datetime(2026, 5, 5, 4, 0, tzinfo=UTC),
        open=1,
        high=2,
        low=0.5,
        close=24012.5,
        vix=13.2,
    )
    metrics.market_updated(
        bar, {"pcr_oi": 1.1, "atm_iv": 0.142, "max_pain_distance": -12.5, "minutes_to_expiry": 90}
    )
    assert _value(metrics.definitions.SPOT, symbol="NIFTY") == 24012.5
    assert _value(metrics.definitions.INDIA_VIX) == 13.2
    assert _value(metrics.definitions.PCR, symbol="NIFTY", basis="oi") == 1.1
    assert _value(metrics.definitions.ATM_IV, symbol="NIFTY") == pytest.approx(14.2)
    assert _value(metrics.definitions.TIME_TO_EXPIRY, symbol="NIFTY") == 5400
    assert _value(metrics.definitions.MARKET_BAR_TIME, symbol="NIFTY") == bar.time.timestamp()

    errors = _value(
        metrics.definitions.BROKER_ERRORS, broker="kite", endpoint="place_order", error="TimeoutError"
    )
    with pytest.raises(TimeoutError):
        with metrics.timed_broker_call("place_order", "kite"):
            raise TimeoutError
    assert (
        _value(metrics.definitions.BROKER_ERRORS, broker="kite", endpoint="place_order", error="TimeoutError")
        == errors + 1
    )

    metrics.cycle_observed(0.2, lag_seconds=3.5, index="NIFTY")
    assert _value(metrics.definitions.CYCLE_LAG, index="NIFTY") == 3.5


@pytest.mark.parametrize(
    "call",
    [
        lambda: metrics.signal_seen(None, None, object()),
        lambda: metrics.strategy_evaluated("S", "not a number"),
        lambda: metrics.cycle_observed(None, "x"),
        lambda: metrics.market_updated(None, {"pcr_oi": "nan?"}),
        lambda: metrics.market_updated(object(), 42),
        lambda: metrics.broker_call("e", None, error=ValueError("boom")),
        lambda: metrics.order_filled("S", None, float("nan"), slippage="bad"),
        lambda: metrics.reconciled("ok", {"positions": "three"}),
        lambda: metrics.trade_recorded(object()),
        lambda: metrics.system_error(None, None),
        lambda: metrics.stage_observed("exits", -1),
    ],
)
def test_helpers_never_raise(call):
    call()
