"""The engine's risk figures count only the trades the engine itself made in its mode.

The escalation of issue 11: a trader typed in a fake PAPER trade of -Rs 26,305 (more than the daily
loss limit); the breaker tripped and three real entries were refused. A manual or imported trade must
move none of the engine's figures; the engine's own losses still do.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from journal.models import Trade
from journal.services import record_trade
from tests.engine.conftest import DAY
from tests.engine.test_services import inject, run
from tests.helpers import NOW, ist, user_with_role
from trading.core.state import SignalInput
from trading.execution.config import engine_config
from trading.execution.models import Position, PositionStatus, TradingState
from trading.execution.state import rebuild_risk_state
from trading.strategies.models import Signal, SignalStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def day(source):
    return source.day(DAY)


# 5 NIFTY lots (75 each for the 2025-11-25 expiry) bought at 331.50, sold at 262.00: gross -26,062.50,
# charges 242.50, net -26,305.00 (worked through derive_trade's charge schedule).
FAKE_LOSS = {
    "trade_id": "FAKE-1",
    "symbol": "NIFTY",
    "instrument_type": "CALL",
    "strike_price": "26000",
    "expiry_date": "2025-11-25",
    "entry_price": "331.50",
    "exit_price": "262.00",
    "quantity": 375,
    "entry_mode": "PAPER",
    "entry_time": "2025-11-19T09:20:00+05:30",
    "exit_time": "2025-11-19T09:40:00+05:30",
    "strategy_name": "PCRStrategy",
}


def test_a_fake_manual_loss_neither_trips_the_breaker_nor_refuses_real_entries(paper_desk, day, settings):
    assert settings.DAILY_LOSS_LIMIT < 26305
    paper_desk.config = engine_config("NIFTY", mode="PAPER")
    trader = user_with_role("trader", "trader")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=trader).key}")
    response = client.post("/api/trades/", FAKE_LOSS, format="json")
    assert response.status_code == 201, response.content
    fake = Trade.objects.get(trade_id="FAKE-1")
    assert (fake.net_pnl, fake.origin, fake.trade_date) == (D("-26305.00"), "MANUAL", DAY)
    # ...and one imported the same day, for good measure.
    record_trade(
        now=NOW,
        origin="IMPORT",
        **{
            **FAKE_LOSS,
            "trade_id": "FAKE-2",
            "entry_time": ist(2025, 11, 19, 9, 21),
            "exit_time": ist(2025, 11, 19, 9, 41),
        },
    )

    risk_state = rebuild_risk_state("NIFTY", "PAPER", DAY)
    assert (risk_state.realised_pnl, risk_state.consecutive_losses, risk_state.trades_today) == (0, 0, 0)

    hook = inject(
        paper_desk,
        {
            30: [SignalInput("PCRStrategy", "CALL", 0.9, "t")],
            31: [SignalInput("MaxPainStrategy", "PUT", 0.9, "t")],
            32: [SignalInput("OIBuildupStrategy", "CALL", 0.9, "t")],
        },
    )
    for bar in (30, 31, 32):
        run(paper_desk, day, bar, hook)
    state = TradingState.objects.get(index="NIFTY")
    assert not state.circuit_breaker, state.circuit_breaker_reason
    signals = Signal.objects.filter(bar_time__date=DAY)
    assert signals.count() == 3
    assert set(signals.values_list("status", flat=True)) == {SignalStatus.ACCEPTED}
    assert Position.objects.filter(status=PositionStatus.OPEN).count() == 3


def test_the_engines_own_losses_still_count(paper_desk, day):
    """A control: the engine's own close is an ENGINE trade and enters its figures."""
    paper_desk.config = engine_config("NIFTY", mode="PAPER")
    hook = inject(paper_desk, {30: [SignalInput("PCRStrategy", "CALL", 0.9, "t")]})
    run(paper_desk, day, 30, hook)
    run(paper_desk, day, 31, hook, force_exit="SQUARE_OFF")
    trade = Trade.objects.get()
    assert trade.origin == "ENGINE" and trade.net_pnl < 0  # bought and sold at once: the charges
    risk_state = rebuild_risk_state("NIFTY", "PAPER", DAY)
    assert (risk_state.realised_pnl, risk_state.consecutive_losses, risk_state.trades_today) == (
        trade.net_pnl,
        1,
        1,
    )


def test_a_manual_trade_cannot_take_the_id_of_an_engine_position(paper_desk, day):
    """Taking an open position's id first would swallow the engine's own close of it (record_trade
    keeps the first trade of an id), and with it the loss its risk must count."""
    hook = inject(paper_desk, {30: [SignalInput("PCRStrategy", "CALL", 0.9, "t")]})
    run(paper_desk, day, 30, hook)
    position_id = Position.objects.get().position_id
    client = APIClient()
    client.force_authenticate(user_with_role("trader", "trader"))
    response = client.post("/api/trades/", {**FAKE_LOSS, "trade_id": position_id}, format="json")
    assert response.status_code == 400 and "trade_id" in response.json()
    assert not Trade.objects.exists()
    assert date.fromisoformat(FAKE_LOSS["expiry_date"]) > DAY
