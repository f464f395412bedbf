"""Combos through the paper desk: the journal's ``Combo`` and its leg trades, a restart that takes an
open combo back, the risk figures counting a combo once, a strategy's template from its parameters."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from journal.models import Combo, Trade
from tests.engine.test_services import inject, run
from tests.helpers import user_with_role
from trading.core import risk
from trading.core.combo_store import combo_specs, spec_from_dict, spec_to_dict
from trading.core.combos import templates
from trading.core.combos.model import LegSpec, LockAndTrail, Momentum, ReEntry, StrikeRule, Threshold
from trading.core.state import SignalInput
from trading.execution.models import Position, PositionStatus
from trading.execution.state import load_state, rebuild_risk_state
from trading.strategies.models import StrategyConfig

BAR = timedelta(minutes=1)
DAY = date(2025, 11, 24)
pytestmark = pytest.mark.django_db


@pytest.fixture
def day(source):
    return source.day(DAY)


@pytest.fixture
def straddle_strategy(db):
    from trading.strategies.services import ensure_strategy_configs

    ensure_strategy_configs()
    StrategyConfig.objects.filter(name="PCRStrategy").update(
        combo={"template": "short_straddle", "params": {"leg_stop": 0.25}},
        capital_allocation=Decimal("400000"),
    )


def test_a_combo_and_its_legs_in_the_journal(paper_desk, day, straddle_strategy):
    hook = inject(paper_desk, {10: [SignalInput("PCRStrategy", "CALL", 0.9, "t")]})
    run(paper_desk, day, 10, hook)
    combo = Combo.objects.get()
    assert combo.status == "OPEN" and combo.template == "short_straddle" and combo.product == "MIS"
    assert combo.margin_is_estimate and combo.margin > 0
    assert combo.payoff_known and combo.max_loss is None and len(combo.breakevens) == 2
    legs = Position.objects.filter(status=PositionStatus.OPEN).order_by("position_id")
    assert [p.side for p in legs] == ["SHORT", "SHORT"]
    from trading.execution.models import Order

    entries = Order.objects.filter(purpose="ENTRY", parent__isnull=True)
    assert entries.count() == 2 and len({o.signal_id for o in entries}) == 1 and entries[0].signal_id
    assert [leg["side"] for leg in combo.legs] == ["SELL", "SELL"]
    # The broker's net positions (a sold leg negative) agree with the legs stored.
    from trading.execution.reconciliation import reconcile

    report = reconcile(desk=paper_desk, at=day.bar(11).time)
    assert report.mismatches == [] and sorted(report.broker_positions.values()) == [-75, -75]
    # A restart (the desk's memory dropped) takes the open combo and its legs back.
    state = load_state("NIFTY", "PAPER", at=day.bar(11).time + BAR)
    [taken] = state.combos.values()
    assert taken.combo_id == combo.combo_id and taken.status == "OPEN"
    assert {p.side for p in state.positions.values()} == {"SELL"}
    assert all(p.combo_id == combo.combo_id for p in state.positions.values())
    assert state.open_count() == 1
    paper_desk.state = None
    run(paper_desk, day, 11, hook)
    run(paper_desk, day, 12, hook, force_exit=risk.SQUARE_OFF)
    combo.refresh_from_db()
    trades = Trade.objects.filter(combo=combo).order_by("trade_id")
    assert trades.count() == 2 and {t.side for t in trades} == {"SHORT"}
    assert combo.status == "CLOSED" and combo.exit_type == risk.SQUARE_OFF
    assert combo.net_pnl == sum(t.net_pnl for t in trades)
    assert combo.total_charges == sum(t.total_charges for t in trades)
    # The journal's STT on a short leg: on the sold premium (entry), 0.10% in 2025.
    for t in trades:
        assert t.stt == (t.entry_price * t.quantity * Decimal("0.001")).quantize(Decimal(1))
    # The risk figures count the combo once.
    figures = rebuild_risk_state("NIFTY", "PAPER", DAY)
    assert figures.trades_today == 1 and figures.realised_pnl == combo.net_pnl

    # The journal page groups the legs under their combo; a leg's page shows the combo and its payoff.
    client = Client()
    client.force_login(user_with_role("viewer"))
    page = client.get(reverse("journal:list")).content.decode()
    assert page.count('class="combo"') == 1 and page.count('class="leg"') == 2
    assert page.index('class="combo"') < page.index('class="leg"')
    leg = trades[0]
    detail = client.get(reverse("journal:detail", args=[leg.pk]))
    body = detail.content.decode()
    assert 'id="combo"' in body and "Margin (estimate)" in body and "unlimited" in body
    payoff = detail.context["combo_payoff"]
    strike = float(leg.strike_price)
    at_strike = next(p["y"] for p in payoff["points"] if p["x"] == strike)
    credit = sum(t.entry_price for t in trades) * 75  # both legs sold at the same strike
    assert at_strike == pytest.approx(float(credit), abs=0.01) == float(combo.max_profit)
    # The API: the combo with its legs' trades.
    listed = client.get("/api/combos/?mode=PAPER&status=CLOSED").json()["results"]
    assert [c["combo_id"] for c in listed] == [combo.combo_id]
    one = client.get(f"/api/combos/{combo.combo_id}/").json()
    assert sorted(one["trades"]) == [t.trade_id for t in trades] and one["margin_is_estimate"] is True
    assert one["max_loss"] is None and one["net_pnl"] == str(combo.net_pnl)
    assert client.get("/api/combos/?status=nope").status_code == 400
    assert client.get(f"/api/trades/{leg.trade_id}/").json()["combo_id"] == combo.combo_id
    # Analytics by combo and by leg.
    from analytics.report import build_report
    from analytics.report_filters import report_filters

    tables = {b["name"]: b["rows"] for b in build_report(report_filters({"mode": "PAPER"})).breakdowns}
    [row] = tables["combo"]
    assert (row["label"], row["trades"], row["net_value"]) == ("short_straddle", 2, float(combo.net_pnl))
    assert sorted((r["label"], r["trades"]) for r in tables["leg"]) == [("Sold CE", 1), ("Sold PE", 1)]


def test_spec_round_trip_and_strategy_parameters():
    spec = templates.iron_condor("NIFTY", lots=2, stop_loss=Decimal(5000))
    assert spec_from_dict(spec_to_dict(spec)) == spec
    legs = (
        LegSpec(
            "CE",
            "SELL",
            strike=StrikeRule.delta(0.2),
            stop_loss=Threshold.fraction(0.3),
            trailing_stop=Threshold.points(10),
            re_entry=ReEntry(2),
            momentum=Momentum(Threshold.points(5), "DOWN"),
        ),
    )
    custom = templates.ComboSpec(
        "custom",
        "NIFTY",
        legs,
        lock_and_trail=LockAndTrail(Decimal(3000), Decimal(1000), Decimal(500), Decimal(250)),
    )
    assert spec_from_dict(spec_to_dict(custom)) == custom
    by_direction = combo_specs("NIFTY", {"call": "bull_put_spread", "put": "bear_call_spread"})
    assert by_direction["CALL"].name == "bull_put_spread" and by_direction["PUT"].name == "bear_call_spread"
    both = combo_specs(
        "NIFTY", {"template": "short_strangle", "params": {"otm_steps": 2, "exit_time": "14:30"}}
    )
    assert both["CALL"] is both["PUT"] and both["CALL"].exit_time.hour == 14
    assert combo_specs("NIFTY", {}) == {}
    with pytest.raises(ValueError, match="params"):
        combo_specs("NIFTY", {"template": "short_strangle", "params": {"wings": 3}})
    with pytest.raises(ValueError, match="unknown template"):
        combo_specs("NIFTY", {"template": "butterfly_of_doom"})
    with pytest.raises(ValueError, match="unknown combo key"):
        combo_specs("NIFTY", {"templates": "short_strangle"})


@pytest.mark.slow
def test_paper_and_backtest_trade_the_same_combos(paper_desk, source):
    """A bullish signal as a bull put spread, a bearish one as a bear call spread, for every
    strategy: the paper desk over a whole session and the backtest of that session make the same
    leg trades and the same combos."""
    from trading.brokers.paper import PaperBroker
    from trading.core.backtest import run_backtest
    from trading.execution.config import engine_config, strategy_slots
    from trading.strategies.services import ensure_strategy_configs

    ensure_strategy_configs()
    StrategyConfig.objects.update(
        combo={"call": "bull_put_spread", "put": "bear_call_spread"},
        capital_allocation=Decimal("200000"),
    )
    day = source.day(date(2025, 11, 19))
    for i in range(len(day)):
        paper_desk.cycle(bar=day.bar(i))
    trades = list(Trade.objects.all())
    combos = list(Combo.objects.all())
    assert combos and len(trades) >= 2 * len(combos)
    assert {c.template for c in combos} <= {"bull_put_spread", "bear_call_spread"}
    assert all(c.status == "CLOSED" for c in combos)
    assert all(t.combo_id for t in trades)

    slots, pairs = strategy_slots("NIFTY")
    result = run_backtest(
        [day],
        strategies=slots,
        broker=PaperBroker(),
        params=dict(pairs),
        config=engine_config("NIFTY", mode="PAPER"),
        iv_history=source.iv_history(),
    )

    def key(t):
        return (
            t["trade_id"],
            t["side"],
            t["quantity"],
            t["entry_time"],
            t["entry_price"],
            t["exit_time"],
            t["exit_price"],
            t["exit_type"],
        )

    paper = sorted(
        (t.trade_id, t.side, t.quantity, t.entry_time, t.entry_price, t.exit_time, t.exit_price, t.exit_type)
        for t in trades
    )
    assert paper == sorted(key(c.trade) for c in result.trades)
    assert sorted((c.combo_id, c.net_pnl) for c in combos) == sorted(
        (c.combo_id, c.realised) for c in result.combos.values()
    )


def test_a_restart_while_the_bought_legs_are_in_flight_finishes_the_combo(db, source, straddle_strategy):
    from tests.engine.test_combos import SlowBuysBroker
    from trading.execution.desk import Desk, set_desk

    StrategyConfig.objects.filter(name="PCRStrategy").update(combo={"template": "iron_condor"})
    broker = SlowBuysBroker()
    desk = Desk("NIFTY", mode="PAPER", source=source, broker=broker)
    set_desk(desk)
    day = source.day(DAY)
    hook = inject(desk, {10: [SignalInput("PCRStrategy", "CALL", 0.9, "t")]})
    run(desk, day, 10, hook)
    assert Position.objects.count() == 0 and [s for s, _ in broker.sent] == ["BUY", "BUY"]
    desk.state = None  # the desk's memory is gone: state from the database
    run(desk, day, 11, hook)
    legs = Position.objects.filter(status=PositionStatus.OPEN)
    assert sorted(p.side for p in legs) == ["LONG", "LONG", "SHORT", "SHORT"]
    assert [s for s, _ in broker.sent] == ["BUY", "BUY", "SELL", "SELL"]
    combo = Combo.objects.get()
    assert combo.status == "OPEN" and all(
        p.entry_context["engine"]["combo_id"] == combo.combo_id for p in legs
    )


def test_a_strategy_combo_through_the_api_and_the_page(db):
    from trading.strategies.services import ensure_strategy_configs

    ensure_strategy_configs()
    client = Client()
    client.force_login(user_with_role("operator"))
    url = "/api/strategies/PCRStrategy/"
    bad = client.patch(url, {"combo": {"template": "butterfly_of_doom"}}, content_type="application/json")
    assert bad.status_code == 400 and "combo" in bad.json() and "unknown template" in bad.json()["combo"][0]
    for nonsense in (
        {"template": "short_straddle", "params": {"stop_loss": "abc"}},
        {"spec": {"legs": [{"instrument": "CE", "side": "SELL", "strike": "ATM"}]}},
        {"spec": "a string"},
        {"call": "iron_condor", "params": {"exit_time": 5}},
        [1, 2],
    ):
        answer = client.patch(url, {"combo": nonsense}, content_type="application/json")
        assert answer.status_code == 400 and list(answer.json()) == ["combo"], nonsense
    ok = client.patch(
        url,
        {"combo": {"call": "bull_put_spread", "put": "bear_call_spread", "params": {"lots": 2}}},
        content_type="application/json",
    )
    assert ok.status_code == 200 and ok.json()["combo"]["call"] == "bull_put_spread"
    config = StrategyConfig.objects.get(name="PCRStrategy")
    assert config.audits.filter(field="combo").exists()
    page = client.get(reverse("strategy-detail", args=["PCRStrategy"])).content.decode()
    assert "CALL: bull_put_spread, PUT: bear_call_spread" in page
    from trading.execution.config import strategy_slots

    slots, _ = strategy_slots("NIFTY")
    assert slots["PCRStrategy"].combos["CALL"].legs[0].lots == 2
    assert slots["MaxPainStrategy"].combos == {}


def test_a_backtest_run_stores_its_combos_with_their_legs(db):
    from trading.execution.backtests import backtest_execute
    from trading.strategies.services import ensure_strategy_configs

    ensure_strategy_configs()
    StrategyConfig.objects.update(combo={"template": "iron_butterfly"}, capital_allocation=Decimal("200000"))
    run = backtest_execute(start=date(2025, 11, 19), end=date(2025, 11, 19), seed=7)
    combos = list(Combo.objects.filter(backtest_run=run))
    assert combos and run.summary["combos"] == len(combos)
    for combo in combos:
        assert (
            combo.entry_mode == "BACKTEST" and combo.template == "iron_butterfly" and combo.status == "CLOSED"
        )
        legs = list(combo.trades.all())
        assert len(legs) == 4 and all(t.backtest_run_id == run.pk for t in legs)
        assert combo.net_pnl == sum(t.net_pnl for t in legs)
        assert combo.max_loss is not None and combo.max_loss < 0 < combo.max_profit  # defined risk


def test_a_sold_legs_levels_on_the_live_desk_are_above_its_mark():
    from trading.execution.events import levels

    short = levels(last=Decimal(100), stop=Decimal(125), target=Decimal(60), trail=Decimal(110), short=True)
    assert (short["to_stop"], short["to_target"], short["to_trail"]) == (
        Decimal(25),
        Decimal(40),
        Decimal(10),
    )
    assert short["to_stop_pct"] == 25.0
    long = levels(last=Decimal(100), stop=Decimal(70), target=Decimal(160), trail=Decimal(90))
    assert (long["to_stop"], long["to_target"], long["to_trail"]) == (Decimal(30), Decimal(60), Decimal(10))
