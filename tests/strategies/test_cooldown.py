"""The one cooldown is the engine's (``risk.cooldown_gate``): its clock is the strategy's latest accepted
signal, stored in ``Signal`` and read back when a desk starts, so it holds across a restart. Also the
record of signals (``signal_record``) and the last accepted signal the pages and the API show."""

from __future__ import annotations

import importlib
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from django.apps import apps

from trading.brokers.paper import PaperBroker
from trading.core import risk
from trading.core.live import SimSource
from trading.core.state import SignalInput
from trading.execution.desk import Desk, reset_desks, set_desk
from trading.execution.models import Order
from trading.execution.state import load_state
from trading.strategies.models import Signal, StrategyConfig
from trading.strategies.services import (
    ensure_strategy_configs,
    signal_record,
    strategy_config_update,
    with_last_signal,
)

pytestmark = pytest.mark.django_db

DAY = date(2025, 11, 19)  # a Wednesday with a simulated session
SEED = 7
T0 = datetime(2025, 1, 6, 4, 0, tzinfo=UTC)  # 09:30 IST


def _at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


# --- the engine's cooldown across a restart -----------------------------------------------------------


@pytest.fixture(autouse=True)
def _fresh_desks():
    reset_desks()
    yield
    reset_desks()


def _new_desk() -> Desk:
    """A desk as a fresh process makes it: new market source, new broker, nothing in memory."""
    desk = Desk(
        "NIFTY", mode="PAPER", source=SimSource(index="NIFTY", seed=SEED, start=DAY), broker=PaperBroker()
    )
    set_desk(desk)
    return desk


def _cycle(desk: Desk, bar_index: int, signals: list[SignalInput], **kwargs):
    """One cycle on bar ``bar_index`` of DAY where the strategies say ``signals`` (the features and
    the real strategies still run)."""
    real = desk.live.signals

    def scripted(pairs):
        real(pairs)
        return list(signals)

    desk.live.signals = scripted
    try:
        day = desk.source.day(DAY)
        return desk.cycle(bar=day.bar(bar_index), **kwargs)
    finally:
        desk.live.signals = real


def _stored(bar_index: int) -> Signal:
    bar_time = SimSource(index="NIFTY", seed=SEED, start=DAY).day(DAY).bar_time(bar_index)
    return Signal.objects.get(strategy_name="PCRStrategy", bar_time=bar_time, mode="PAPER")


def test_the_engine_cooldown_holds_across_a_restart():
    ensure_strategy_configs()
    config = StrategyConfig.objects.get(name="PCRStrategy")
    strategy_config_update(config=config, user=None, cooldown_minutes=20)
    call, put = SignalInput("PCRStrategy", "CALL", 0.9, "t"), SignalInput("PCRStrategy", "PUT", 0.9, "t")

    first = _new_desk()
    _cycle(first, 30, [call])
    assert _stored(30).status == "ACCEPTED" and Order.objects.count() == 1
    _cycle(first, 31, [], force_exit=risk.SQUARE_OFF)  # flat again: only the cooldown can refuse

    # restart: a new desk in a "new process" reads its engine state from the database
    reset_desks()
    del first
    second = _new_desk()
    day = second.source.day(DAY)
    state = load_state("NIFTY", "PAPER", at=day.bar_time(32))
    assert state.positions == {} and state.last_signal_at == {"PCRStrategy": day.bar_time(30)}

    _cycle(second, 49, [put])  # 19 minutes after the accepted signal: inside 20
    refused = _stored(49)
    assert (refused.status, refused.reject_reason) == ("REJECTED", risk.R_COOLDOWN)
    assert "cooldown 20 min" in refused.reject_detail and Order.objects.count() == 2  # entry + exit

    # a rejected signal does not restart the clock; a backtest's signals are not this desk's
    Signal.objects.create(
        strategy_name="PCRStrategy", index="NIFTY", bar_time=day.bar_time(45), direction="CALL",
        strength=0.5, status="ACCEPTED", mode="BACKTEST",
    )  # fmt: skip
    reset_desks()
    third = _new_desk()
    _cycle(third, 50, [put])  # 20 minutes after: allowed again
    assert _stored(50).status == "ACCEPTED" and Order.objects.filter(purpose="ENTRY").count() == 2


# --- the record of signals ------------------------------------------------------------------------------


def test_signal_record_is_idempotent_and_stores_json_safe_features():
    features = {"close": np.float64(23900.0), "pcr_oi": 1.45, "atm_iv": float("nan"), "session": T0.date()}
    kw = dict(strategy_name="PCRStrategy", bar_time=T0, direction="CALL", strength=0.5, reason="x")
    first = signal_record(**kw, features=features)
    again = signal_record(**kw, features={"close": 1.0})
    assert first.pk == again.pk and Signal.objects.count() == 1
    first.refresh_from_db()
    assert first.features == {"close": 23900.0, "pcr_oi": 1.45, "atm_iv": None, "session": "2025-01-06"}
    rejected = signal_record(**{**kw, "bar_time": _at(5)}, status="REJECTED", reject_reason="after_entry_cutoff",
                             reject_detail="after 14:45")  # fmt: skip
    assert (rejected.status, rejected.reject_reason) == ("REJECTED", "after_entry_cutoff")
    with pytest.raises(ValueError, match="reject_reason"):
        signal_record(**{**kw, "bar_time": _at(6)}, status="REJECTED")
    with pytest.raises(ValueError, match="CALL or PUT"):
        signal_record(**{**kw, "direction": "UP"})


def test_last_signal_is_the_latest_accepted_paper_or_live_signal():
    ensure_strategy_configs()
    kw = dict(strategy_name="PCRStrategy", direction="CALL", strength=0.5, reason="x")
    signal_record(**kw, bar_time=_at(0))
    signal_record(**kw, bar_time=_at(10), mode="LIVE")
    signal_record(**kw, bar_time=_at(20), status="REJECTED", reject_reason="cooldown")
    signal_record(**kw, bar_time=_at(30), mode="BACKTEST")
    last = {c.name: c.last_signal_at for c in with_last_signal(StrategyConfig.objects.all())}
    assert last["PCRStrategy"] == _at(10) and last["MaxPainStrategy"] is None


def test_the_migration_drops_the_parameter_that_never_had_an_effect():
    ensure_strategy_configs()
    StrategyConfig.objects.filter(name="PCRStrategy").update(
        parameters={"allow_pyramiding": True, "pcr_high": 1.4}
    )
    migration = importlib.import_module("trading.migrations.0002_drop_dead_fields")
    migration.drop_parameters(apps, None)
    assert StrategyConfig.objects.get(name="PCRStrategy").parameters == {"pcr_high": 1.4}
