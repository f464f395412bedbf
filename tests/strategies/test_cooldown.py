"""Cooldown and duplicates: the pure rules, and the database side that holds them across restarts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from trading.core.strategies.cooldown import (
    COOLDOWN,
    DUPLICATE,
    CooldownBook,
    cooldown_mask,
    cooldown_remaining,
    signal_gate,
)
from trading.core.strategies.evaluate import SignalRow
from trading.models import Position, Signal, StrategyConfig

T0 = datetime(2025, 1, 6, 4, 0, tzinfo=UTC)  # 09:30 IST


def _at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


# --- pure ----------------------------------------------------------------------------------------------


def test_cooldown_remaining():
    assert cooldown_remaining(None, T0, 15) == timedelta(0)
    assert cooldown_remaining(T0, _at(10), 15) == timedelta(minutes=5)
    assert cooldown_remaining(T0, _at(15), 15) == timedelta(0)
    assert cooldown_remaining(T0, _at(1), 0) == timedelta(0)
    assert cooldown_remaining(T0, T0, 15) == timedelta(0)  # the same bar's cycle run again


def test_signal_gate_cooldown_then_duplicate():
    common = dict(direction="CALL", last_signal_at=T0, cooldown_minutes=15)
    reason, detail = signal_gate(bar_time=_at(5), **common)
    assert reason == COOLDOWN and "cooldown 15 min" in detail and "10 min left" in detail
    assert signal_gate(bar_time=_at(20), **common) is None
    assert signal_gate(bar_time=_at(20), open_directions=["CALL"], **common)[0] == DUPLICATE
    assert signal_gate(bar_time=_at(20), open_directions=["PUT"], **common) is None
    assert signal_gate(bar_time=_at(20), open_directions=["CALL"], allow_pyramiding=True, **common) is None


def test_cooldown_book():
    book = CooldownBook()
    assert book.check("A", T0, "CALL", 15) is None
    book.accept("A", T0, "CALL")
    assert book.check("A", _at(5), "PUT", 15)[0] == COOLDOWN  # per strategy, either direction
    assert book.check("B", _at(5), "CALL", 15) is None  # another strategy is not held back
    assert book.check("A", _at(20), "CALL", 15)[0] == DUPLICATE
    assert book.check("A", _at(20), "CALL", 15, allow_pyramiding=True) is None
    book.close("A", "CALL")
    assert book.check("A", _at(20), "CALL", 15) is None


def test_cooldown_mask_for_backtests():
    times = np.array([np.datetime64("2025-01-06T04:00") + np.timedelta64(m, "m") for m in range(40)])
    fired = np.zeros(40, dtype=bool)
    fired[[0, 5, 15, 16, 29, 31]] = True
    # each accepted signal restarts the clock: 0, then 15 (15 min later), then 31 (16 after 15)
    assert np.flatnonzero(cooldown_mask(times, fired, 15)).tolist() == [0, 15, 31]
    assert np.flatnonzero(cooldown_mask(times, fired, 0)).tolist() == [0, 5, 15, 16, 29, 31]
    assert np.flatnonzero(cooldown_mask(times, fired, 15, last_signal_at=times[0] - np.timedelta64(10, "m"))).tolist() == [
        5, 29,
    ]  # fmt: skip


# --- the database side ----------------------------------------------------------------------------


@pytest.fixture
def config(db) -> StrategyConfig:
    from trading.strategy_services import ensure_strategy_configs

    ensure_strategy_configs()
    return StrategyConfig.objects.get(name="PCRStrategy")


def _row(minutes: float, direction: str = "PUT") -> SignalRow:
    return SignalRow("PCRStrategy", _at(minutes), direction, 0.7, f"PCR 1.45 > 1.30 at +{minutes} min")


def test_cooldown_holds_across_a_restart(config):
    from trading import strategy_services as svc

    assert config.cooldown_minutes == 30  # the strategy's declared default
    features = {"close": np.float64(23900.0), "pcr_oi": 1.45, "atm_iv": float("nan"), "session": T0.date()}
    first = svc.signal_process(config=config, signal=_row(0), features=features)
    assert first.status == "ACCEPTED"
    assert first.features == {"close": 23900.0, "pcr_oi": 1.45, "atm_iv": None, "session": "2025-01-06"}
    # "restart": nothing in memory survives; new objects read the database again
    del config, first
    fresh = StrategyConfig.objects.get(name="PCRStrategy")
    assert fresh.last_signal_at == T0
    assert "cooldown 30 min" in svc.cooldown_check(fresh, _at(10))
    again = svc.signal_process(config=fresh, signal=_row(10), features={"close": 23880.0})
    assert (again.status, again.reject_reason) == ("REJECTED", "cooldown")
    assert "20 min left" in again.reject_detail and again.features == {"close": 23880.0}
    assert (
        StrategyConfig.objects.get(name="PCRStrategy").last_signal_at == T0
    )  # a rejection does not restart it
    assert svc.cooldown_check(StrategyConfig.objects.get(name="PCRStrategy"), _at(30)) is None
    assert svc.signal_process(config=fresh, signal=_row(30, "CALL")).status == "ACCEPTED"
    assert StrategyConfig.objects.get(name="PCRStrategy").last_signal_at == _at(30)


def test_a_stale_config_object_still_sees_the_cooldown(config):
    from trading import strategy_services as svc

    stale = StrategyConfig.objects.get(pk=config.pk)  # loaded before the signal, e.g. by another worker
    svc.signal_record(strategy_name="PCRStrategy", bar_time=T0, direction="PUT", strength=0.6, reason="r")
    assert stale.last_signal_at is None and svc.cooldown_check(stale, _at(5)) is not None


def test_duplicate_open_signal_is_rejected_unless_pyramiding(config):
    from trading import strategy_services as svc

    Position.objects.create(
        position_id="P-1", strategy_name="PCRStrategy", tradingsymbol="NIFTY25JAN23900PE", instrument_type="PUT",
        strike_price=Decimal("23900"), expiry_date=T0.date(), quantity=75, entry_price=Decimal("100"),
        entry_time=T0,
    )  # fmt: skip
    reason, _ = svc.strategy_signal_gate(config=config, bar_time=_at(60), direction="PUT")
    assert reason == "duplicate"
    assert svc.strategy_signal_gate(config=config, bar_time=_at(60), direction="CALL") is None
    assert svc.strategy_signal_gate(config=config, bar_time=_at(60), direction="PUT", mode="LIVE") is None
    svc.strategy_config_update(config=config, user=None, parameters={"allow_pyramiding": True})
    assert svc.strategy_signal_gate(config=config, bar_time=_at(60), direction="PUT") is None
    svc.strategy_config_update(config=config, user=None, enabled=False)
    assert svc.strategy_signal_gate(config=config, bar_time=_at(60), direction="PUT")[0] == "disabled"


def test_signal_record_is_idempotent_and_keeps_backtests_out_of_the_cooldown(config):
    from trading import strategy_services as svc

    kw = dict(strategy_name="PCRStrategy", bar_time=T0, direction="CALL", strength=0.5, reason="x")
    a = svc.signal_record(**kw)
    b = svc.signal_record(**kw)
    assert a.pk == b.pk and Signal.objects.count() == 1
    svc.signal_record(**{**kw, "bar_time": _at(90)}, mode="BACKTEST")
    assert StrategyConfig.objects.get(pk=config.pk).last_signal_at == T0
    rejected = svc.signal_record(**{**kw, "bar_time": _at(5)}, status="REJECTED", reject_reason="session_time",
                                 reject_detail="after 14:45")  # fmt: skip
    assert (rejected.status, rejected.reject_reason) == ("REJECTED", "session_time")
    with pytest.raises(ValueError, match="reject_reason"):
        svc.signal_record(**{**kw, "bar_time": _at(6)}, status="REJECTED")
    # the engine's own rejection wins over the strategy's gates
    s = svc.signal_process(config=config, signal=_row(120), rejection=("risk_gate", "daily loss limit"))
    assert (s.status, s.reject_reason, s.reject_detail) == ("REJECTED", "risk_gate", "daily loss limit")
