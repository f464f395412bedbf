"""The Django side of the engine: controls and their audit, the database going away, restarts and
re-runs after a crash, tasks delivered twice, reconciliation, LIVE mode refusal."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied

from journal import spool
from journal.models import Trade
from tests.engine.conftest import DAY
from tests.helpers import database_unreachable, user_with_role
from trading import tasks
from trading.audit import ControlAudit
from trading.brokers.paper import PaperBroker
from trading.core import orders, risk
from trading.core.state import SignalInput
from trading.execution import desk as execution_desk
from trading.execution.config import engine_config
from trading.execution.controls import circuit_breaker_reset, kill_switch_set
from trading.execution.desk import Desk, reset_desks
from trading.execution.live import LiveTradingRefused, live_confirm, live_problems
from trading.execution.models import Order, OrderStatus, Position, PositionStatus, TradingState
from trading.execution.orders import order_transition
from trading.execution.reconciliation import reconcile
from trading.execution.state import load_state, rebuild_risk_state
from trading.strategies.models import Signal

BAR = timedelta(minutes=1)
pytestmark = pytest.mark.django_db


@pytest.fixture
def staff():
    return user_with_role("operator", "boss", password="pw")


@pytest.fixture
def day(source):
    return source.day(DAY)


def inject(desk, signals_by_bar: dict):
    """Replace the strategies' signals by ``{bar index: [SignalInput]}`` (the features still run)."""
    real = desk.live.signals
    state = {"i": None}

    def signals(pairs):
        real(pairs)
        return list(signals_by_bar.get(state["i"], []))

    desk.live.signals = signals
    return state


def run(desk, day, i, state=None, **kw):
    if state is not None:
        state["i"] = i
    return desk.cycle(bar=day.bar(i), **kw)


def test_kill_switch_audited_squares_off_and_blocks_entries(paper_desk, day, staff):
    hook = inject(
        paper_desk,
        {
            30: [SignalInput("PCRStrategy", "CALL", 0.9, "t")],
            32: [SignalInput("MaxPainStrategy", "PUT", 0.9, "t")],
        },
    )
    run(paper_desk, day, 30, hook)
    assert Position.objects.filter(status=PositionStatus.OPEN).count() == 1
    kill_switch_set(index="NIFTY", on=True, user=staff, reason="test")
    report = run(paper_desk, day, 31, hook)
    assert report.closed == 1
    assert Trade.objects.get().exit_type == "KILL_SWITCH"
    run(paper_desk, day, 32, hook)
    sig = Signal.objects.get(strategy_name="MaxPainStrategy")
    assert sig.status == "REJECTED" and sig.reject_reason == risk.R_KILL_SWITCH
    audit = ControlAudit.objects.get(action="kill_switch")
    assert (audit.user, audit.old_value, audit.new_value, audit.detail) == (staff, "off", "on", "test")
    with pytest.raises(PermissionDenied):
        kill_switch_set(index="NIFTY", on=False, user=get_user_model().objects.create_user("x"))


def test_circuit_breaker_trips_blocks_until_reset_and_is_audited(paper_desk, day, staff, settings):
    settings.MAX_CONSECUTIVE_LOSSES = 1
    paper_desk.config = engine_config("NIFTY", mode="PAPER")
    hook = inject(
        paper_desk,
        {
            30: [SignalInput("PCRStrategy", "CALL", 0.9, "t")],
            40: [SignalInput("MaxPainStrategy", "PUT", 0.9, "t")],
        },
    )
    run(paper_desk, day, 30, hook)
    run(paper_desk, day, 31, hook, force_exit=risk.SQUARE_OFF)  # a round trip at once: a loss (charges)
    state = TradingState.objects.get(index="NIFTY")
    assert state.circuit_breaker and "consecutive losses" in state.circuit_breaker_reason
    assert ControlAudit.objects.filter(action="circuit_breaker_trip", user=None).exists()
    run(paper_desk, day, 40, hook)
    assert Signal.objects.get(strategy_name="MaxPainStrategy").reject_reason == risk.R_BREAKER
    circuit_breaker_reset(index="NIFTY", user=staff, reason="checked")
    assert not TradingState.objects.get(index="NIFTY").circuit_breaker
    assert ControlAudit.objects.get(action="circuit_breaker_reset").user == staff
    # The loss counters restart from the reset: a new entry is allowed.
    hook2 = inject(paper_desk, {45: [SignalInput("MaxPainStrategy", "PUT", 0.9, "t")]})
    run(paper_desk, day, 45, hook2)
    assert Position.objects.filter(status=PositionStatus.OPEN, strategy_name="MaxPainStrategy").exists()


@pytest.mark.django_db(transaction=True)
def test_database_down_exits_still_happen_closes_spooled_and_replayed_first(paper_desk, day):
    hook = inject(
        paper_desk,
        {
            30: [SignalInput("PCRStrategy", "CALL", 0.9, "t")],
            33: [SignalInput("MaxPainStrategy", "PUT", 0.9, "t")],
        },
    )
    run(paper_desk, day, 30, hook)
    pos = Position.objects.get()
    with database_unreachable():
        report = run(paper_desk, day, 33, hook, force_exit=risk.SQUARE_OFF)
        assert not report.db_available and report.closed == 1 and report.spooled == 1
        assert spool.depth() == 2  # the position close, then its trade
        blocked = run(paper_desk, day, 34, hook)
        assert not blocked.db_available and blocked.opened == 0
    assert Position.objects.get().status == PositionStatus.OPEN  # not written while away
    run(paper_desk, day, 35, hook)  # the database is back: the spool is replayed before trading
    assert spool.depth() == 0
    pos.refresh_from_db()
    assert pos.status == PositionStatus.CLOSED
    trade = Trade.objects.get(trade_id=pos.position_id)
    assert trade.exit_type == "SQUARE_OFF" and trade.net_pnl == trade.gross_pnl - trade.total_charges
    exit_order = Order.objects.get(purpose=orders.EXIT)
    assert exit_order.status == OrderStatus.FILLED and exit_order.position == pos
    assert [e.to_status for e in exit_order.events.all()] == ["NEW", "SUBMITTED", "FILLED"]


def test_a_cycle_killed_after_the_fill_is_completed_by_running_it_again(paper_desk, day, source, monkeypatch):
    hook = inject(paper_desk, {30: [SignalInput("PCRStrategy", "CALL", 0.9, "t")]})

    def die(*a, **kw):
        raise SystemExit("killed between the fill and the position")

    monkeypatch.setattr(execution_desk, "persist_cycle", die)
    with pytest.raises(SystemExit):
        run(paper_desk, day, 30, hook)
    assert Order.objects.get().status == OrderStatus.FILLED
    assert not Position.objects.exists()
    monkeypatch.undo()
    # A new process (fresh desk, fresh paper broker restored from the database) runs the bar again.
    reset_desks()
    desk = Desk("NIFTY", mode="PAPER", source=source, broker=PaperBroker())
    hook = inject(desk, {30: [SignalInput("PCRStrategy", "CALL", 0.9, "t")]})
    run(desk, day, 30, hook)
    assert Order.objects.count() == 1 and Position.objects.count() == 1
    order = Order.objects.get()
    assert order.position.position_id == order.position_ref
    assert Signal.objects.get().status == "ACCEPTED"
    run(desk, day, 31, hook, force_exit=risk.SQUARE_OFF)
    assert Trade.objects.count() == 1


def test_restart_rebuilds_positions_orders_and_risk_figures(paper_desk, day, source):
    hook = inject(
        paper_desk,
        {30: [SignalInput("PCRStrategy", "CALL", 0.9, "t"), SignalInput("MaxPainStrategy", "PUT", 0.9, "t")]},
    )
    run(paper_desk, day, 30, hook)
    run(paper_desk, day, 31, hook)
    [first, second] = Position.objects.order_by("strategy_name")
    reset_desks()
    desk = Desk("NIFTY", mode="PAPER", source=source, broker=PaperBroker())
    at = day.bar_time(32) + BAR
    state = load_state("NIFTY", "PAPER", at=at)
    assert set(state.positions) == {first.position_id, second.position_id}
    assert state.positions[first.position_id].entry_price == first.entry_price
    assert (
        state.positions[first.position_id].entry_order_id == Order.objects.get(position=first).client_order_id
    )
    assert not state.pending
    hook = inject(desk, {32: [SignalInput("PCRStrategy", "CALL", 0.9, "t")]})
    run(desk, day, 32, hook, force_exit=risk.SQUARE_OFF)
    assert Trade.objects.count() == 2 and Order.objects.filter(purpose="ENTRY").count() == 2
    rs = rebuild_risk_state("NIFTY", "PAPER", DAY)
    nets = list(Trade.objects.values_list("net_pnl", flat=True))
    assert rs.realised_pnl == sum(nets, Decimal(0)) and rs.trades_today == 2
    assert rs.consecutive_losses == sum(1 for n in nets if n <= 0)


def test_the_same_task_delivered_twice_makes_one_order_and_one_trade(paper_desk, day):
    hook = inject(paper_desk, {30: [SignalInput("PCRStrategy", "CALL", 0.9, "t")]})
    hook["i"] = 30
    at = (day.bar_time(30) + BAR).isoformat()
    first = tasks.run_cycle.apply(kwargs={"index": "NIFTY", "at": at}).get()
    second = tasks.run_cycle.apply(kwargs={"index": "NIFTY", "at": at}).get()
    assert first["opened"] == 1 and second["skipped"] == "already processed"
    assert Order.objects.count() == 1
    off = (day.bar_time(31) + BAR).isoformat()
    tasks.square_off.apply(kwargs={"index": "NIFTY", "at": off}).get()
    tasks.square_off.apply(kwargs={"index": "NIFTY", "at": off}).get()
    assert Trade.objects.count() == 1 and Order.objects.count() == 2


def test_execute_signal_places_a_stored_accepted_signal_once(paper_desk, day):
    sig = Signal.objects.create(
        strategy_name="PCRStrategy",
        index="NIFTY",
        bar_time=day.bar_time(30),
        direction="PUT",
        strength=0.7,
        reason="stored",
        status="ACCEPTED",
        mode="PAPER",
    )
    tasks.execute_signal.apply(args=[sig.pk]).get()
    tasks.execute_signal.apply(args=[sig.pk]).get()
    order = Order.objects.get()
    assert order.signal == sig and order.status == OrderStatus.FILLED and order.instrument_type == "PUT"
    assert Position.objects.get().signal == sig


def test_reconcile_updates_live_orders_and_reports_position_mismatches(paper_desk, day):
    hook = inject(paper_desk, {30: [SignalInput("PCRStrategy", "CALL", 0.9, "t")]})
    run(paper_desk, day, 30, hook)
    report = reconcile(desk=paper_desk)
    assert report.mismatches == [] and report.open_positions == 1
    Position.objects.update(quantity=7500)  # the database disagrees with the broker
    report = reconcile(desk=paper_desk)
    assert len(report.mismatches) == 1 and "stored open 7500" in report.mismatches[0]


def test_order_transition_refuses_illegal_steps_and_stores_every_legal_one(paper_desk, day):
    hook = inject(paper_desk, {30: [SignalInput("PCRStrategy", "CALL", 0.9, "t")]})
    run(paper_desk, day, 30, hook)
    order = Order.objects.get()
    with pytest.raises(orders.IllegalTransition):
        order_transition(order=order, to_status=OrderStatus.OPEN, at=day.bar_time(31))
    order.refresh_from_db()
    assert order.status == OrderStatus.FILLED and order.events.count() == 3


def test_live_mode_refuses_to_start_without_every_condition(staff, settings):
    settings.TRADING_MODE = "PAPER"
    with pytest.raises(LiveTradingRefused) as exc:
        Desk("NIFTY", mode="LIVE")
    assert "TRADING_MODE is not LIVE" in str(exc.value) and "staff confirmation" in str(exc.value)
    with pytest.raises(LiveTradingRefused):
        live_confirm(index="NIFTY", user=staff)
    settings.TRADING_MODE, settings.LIVE_TRADING_ENABLED = "LIVE", True
    settings.KITE_API_KEY, settings.KITE_API_SECRET = "k", "s"
    settings.MARKET_FEED = "kite"
    from django.utils import timezone

    from trading.core import calendar

    TradingState.objects.update_or_create(
        index="NIFTY",
        defaults={"kite_access_token": "tok", "kite_token_date": calendar.ist_date(timezone.now())},
    )
    assert live_problems("NIFTY") == ["no staff confirmation of LIVE trading today"]
    live_confirm(index="NIFTY", user=staff)
    assert live_problems("NIFTY") == []
    assert ControlAudit.objects.get(action="live_confirm").user == staff


def test_control_page_is_staff_only_and_its_actions_are_audited(client, staff):
    assert client.get("/control/").status_code == 302
    client.force_login(staff)
    page = client.get("/control/")
    assert page.status_code == 200 and b"Kill switch" in page.content
    client.post("/control/kill-switch/", {"index": "NIFTY", "on": "1", "reason": "drill"})
    assert TradingState.objects.get(index="NIFTY").kill_switch
    TradingState.objects.filter(index="NIFTY").update(circuit_breaker=True, circuit_breaker_reason="x")
    client.post("/control/breaker-reset/", {"index": "NIFTY"})
    assert not TradingState.objects.get(index="NIFTY").circuit_breaker
    actions = list(ControlAudit.objects.values_list("action", "user__username"))
    assert ("kill_switch", "boss") in actions and ("circuit_breaker_reset", "boss") in actions
    assert b"drill" in client.get("/control/").content
