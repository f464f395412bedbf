"""The order state machine, client order ids and contract selection (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.engine.conftest import DAY
from trading.core import orders
from trading.core.orders import (
    CANCELLED,
    EXPIRED,
    FILLED,
    NEW,
    OPEN,
    PARTIALLY_FILLED,
    REJECTED,
    SUBMITTED,
    ContractRule,
    IllegalTransition,
)

LEGAL = [
    (NEW, SUBMITTED),
    (SUBMITTED, OPEN),
    (OPEN, PARTIALLY_FILLED),
    (PARTIALLY_FILLED, FILLED),
    (SUBMITTED, FILLED),
    (OPEN, FILLED),
    (PARTIALLY_FILLED, PARTIALLY_FILLED),
    (PARTIALLY_FILLED, CANCELLED),
    (NEW, REJECTED),
    (SUBMITTED, REJECTED),
    (OPEN, REJECTED),
    (NEW, CANCELLED),
    (SUBMITTED, CANCELLED),
    (OPEN, CANCELLED),
    (OPEN, EXPIRED),
    (PARTIALLY_FILLED, EXPIRED),
]

ILLEGAL = [
    (NEW, FILLED),
    (NEW, OPEN),
    (NEW, PARTIALLY_FILLED),
    (OPEN, SUBMITTED),
    (PARTIALLY_FILLED, OPEN),
    (PARTIALLY_FILLED, REJECTED),
    (FILLED, CANCELLED),
    (FILLED, OPEN),
    (FILLED, FILLED),
    (CANCELLED, FILLED),
    (REJECTED, SUBMITTED),
    (EXPIRED, OPEN),
    (SUBMITTED, NEW),
    (OPEN, "WHATEVER"),
]


@pytest.mark.parametrize(("a", "b"), LEGAL)
def test_legal_transitions_pass(a, b):
    orders.check_transition(a, b)


@pytest.mark.parametrize(("a", "b"), ILLEGAL)
def test_illegal_transitions_raise(a, b):
    with pytest.raises(IllegalTransition):
        orders.check_transition(a, b)


def test_terminal_states_have_no_way_out():
    for status in (FILLED, CANCELLED, REJECTED, EXPIRED):
        assert orders.is_terminal(status)
        for target in orders.STATUSES:
            with pytest.raises(IllegalTransition):
                orders.check_transition(status, target)


def test_transition_path_fills_in_the_steps_a_broker_skipped():
    assert orders.transition_path(NEW, FILLED) == [SUBMITTED, FILLED]
    assert orders.transition_path(NEW, OPEN) == [SUBMITTED, OPEN]
    assert orders.transition_path(NEW, REJECTED, "invalid_price") == [REJECTED]
    assert orders.transition_path(NEW, REJECTED, "price_band") == [SUBMITTED, REJECTED]
    assert orders.transition_path(OPEN, FILLED) == [FILLED]
    assert orders.transition_path(FILLED, FILLED) == []
    with pytest.raises(IllegalTransition):
        orders.transition_path(FILLED, OPEN)


def test_client_order_ids_are_deterministic_unique_kite_tags():
    t = datetime(2025, 11, 19, 4, 30, tzinfo=UTC)
    a = orders.entry_order_id(
        mode="PAPER", index="NIFTY", strategy="PCRStrategy", bar_time=t, direction="CALL"
    )
    again = orders.entry_order_id(
        mode="PAPER", index="NIFTY", strategy="PCRStrategy", bar_time=t, direction="CALL"
    )
    assert a == again
    assert len(a) == 20 and a.isalnum() and a.isascii() and a.startswith("E")
    assert orders.is_valid_client_order_id(a)
    # The same instant in IST gives the same id.
    from trading.core.calendar import IST

    assert a == orders.entry_order_id(
        mode="PAPER", index="NIFTY", strategy="PCRStrategy", bar_time=t.astimezone(IST), direction="CALL"
    )
    others = {
        orders.entry_order_id(
            mode="PAPER",
            index="NIFTY",
            strategy="PCRStrategy",
            bar_time=t + timedelta(minutes=i),
            direction=d,
        )
        for i in range(500)
        for d in ("CALL", "PUT")
    }
    assert len(others) == 1000
    assert (
        orders.entry_order_id(
            mode="LIVE", index="NIFTY", strategy="PCRStrategy", bar_time=t, direction="CALL"
        )
        != a
    )
    x = orders.exit_order_id(position_id="P-1", bar_time=t)
    assert x.startswith("X") and len(x) == 20 and x != a
    assert not orders.is_valid_client_order_id("ABC-123")
    assert not orders.is_valid_client_order_id("A" * 21)


def _bar(source, minute=60):
    return source.day(DAY).bar(minute)


def test_contract_selection_atm_otm_and_delta(source):
    bar = _bar(source)
    at = bar.time + timedelta(minutes=1)
    atm_ce = orders.select_contract(
        index="NIFTY", direction="CALL", bar=bar, at=at, rule=ContractRule(strike="ATM")
    )
    atm_pe = orders.select_contract(
        index="NIFTY", direction="PUT", bar=bar, at=at, rule=ContractRule(strike="ATM")
    )
    assert atm_ce.option_type == "CE" and atm_pe.option_type == "PE"
    assert atm_ce.strike == atm_pe.strike
    assert abs(atm_ce.strike - bar.close) <= 25
    assert atm_ce.expiry == min(c.expiry for c in bar.chains)  # nearest weekly
    assert atm_ce.lot_size == 75 and atm_ce.tradingsymbol.startswith("NIFTY25")
    otm_ce = orders.select_contract(
        index="NIFTY", direction="CALL", bar=bar, at=at, rule=ContractRule(strike="OTM", otm_steps=2)
    )
    otm_pe = orders.select_contract(
        index="NIFTY", direction="PUT", bar=bar, at=at, rule=ContractRule(strike="OTM", otm_steps=2)
    )
    assert otm_ce.strike == atm_ce.strike + 100
    assert otm_pe.strike == atm_pe.strike - 100
    d30 = orders.select_contract(
        index="NIFTY", direction="CALL", bar=bar, at=at, rule=ContractRule(strike="DELTA", target_delta=0.3)
    )
    assert d30.strike > atm_ce.strike
    monthly = orders.select_contract(
        index="NIFTY", direction="CALL", bar=bar, at=at, rule=ContractRule(expiry="next_weekly")
    )
    assert monthly.expiry > atm_ce.expiry


def test_contract_selection_skips_an_expiry_about_to_expire():
    from trading.core.simulator import MarketSimulator

    expiry_day = DAY - timedelta(days=1)  # Tuesday 2025-11-18, a weekly expiry
    sim = MarketSimulator(seed=7, start=expiry_day)
    day = sim.day(expiry_day)
    late = day.bar(len(day) - 20)  # 15:10 IST, 20 minutes to expiry
    at = late.time + timedelta(minutes=1)
    c = orders.select_contract(
        index="NIFTY", direction="CALL", bar=late, at=at, rule=ContractRule(min_minutes_to_expiry=45)
    )
    assert c.expiry > expiry_day
    early = day.bar(30)
    c2 = orders.select_contract(
        index="NIFTY", direction="CALL", bar=early, at=early.time + timedelta(minutes=1)
    )
    assert c2.expiry == expiry_day
