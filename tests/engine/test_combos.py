"""Combos in the engine (issue 21): legs bought and sold on the simulator with the paper broker.

Every expected number is worked out here from the bars' quotes and the rules (a second, plain
implementation of the stops, trails, settlement and charges), never read back from the engine."""

from __future__ import annotations

from datetime import date, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest

from trading.brokers.paper import PaperBroker
from trading.core import calendar as market_calendar
from trading.core import charges, contracts, engine, orders, risk
from trading.core.combo_entries import R_MARGIN, UNWIND
from trading.core.combos import model as m
from trading.core.combos import templates
from trading.core.combos.margin import MarginParams
from trading.core.live import SimSource
from trading.core.order_types import BrokerOrder
from trading.core.state import EngineConfig, EngineState, SignalInput, StrategySlot

BAR = timedelta(minutes=1)
START = date(2025, 11, 19)
ENTRY_BAR = 10  # 09:25 IST
TICK = Decimal("0.05")


def tick(x: float) -> Decimal:
    return (Decimal(repr(float(x))) / TICK).quantize(Decimal(1), ROUND_HALF_UP) * TICK


@pytest.fixture(scope="module")
def sim():
    return SimSource(index="NIFTY", seed=7, start=START)


def run_day(day, spec, *, broker=None, allocation="400000", config=None, upto=None, state=None):
    """Signal CALL at ENTRY_BAR for strategy A (its slot trades ``spec``); every bar's result."""
    slots = {"A": StrategySlot(name="A", capital_allocation=Decimal(allocation), combos={"CALL": spec})}
    state = state or EngineState()
    broker = broker or PaperBroker()
    results = []
    for i in range(ENTRY_BAR, upto or len(day)):
        bar = day.bar(i)
        results.append(
            engine.run_cycle(
                at=bar.time + BAR,
                bar=bar,
                row={},
                signals=[SignalInput("A", "CALL", 0.8, "test")] if i == ENTRY_BAR else [],
                state=state,
                broker=broker,
                strategies=slots,
                config=config or EngineConfig(),
            )
        )
    return results, state


def closed_trades(results):
    return [c for r in results for c in r.closed]


def quote(day, i, expiry, strike, option_type):
    return day.bar(i).chain(expiry).quote(strike, option_type)


# --- a short straddle: one leg's stop, the other's trail -------------------------------------------


def test_short_straddle_day_one_leg_stops_and_the_other_trails(sim):
    day = sim.day(date(2025, 11, 24))
    ce = m.LegSpec("CE", "SELL", stop_loss=m.Threshold.fraction(0.25))
    pe = m.LegSpec("PE", "SELL", trailing_stop=m.Threshold.fraction(0.20))
    spec = m.ComboSpec("short_straddle", "NIFTY", (ce, pe))
    results, state = run_day(day, spec)

    # The reference: ATM on the entry bar, sold at the bid, marks at the LTP on the tick.
    bar = day.bar(ENTRY_BAR)
    chain = bar.chains[0]
    strike = float(chain.strikes[abs(chain.strikes - round(bar.close / 50) * 50).argmin()])
    expected = {}
    for option_type in ("CE", "PE"):
        entry = tick(quote(day, ENTRY_BAR, chain.expiry, strike, option_type)["bid"])
        stop = tick(float(entry) * 1.25) if option_type == "CE" else None
        low, trail = entry, tick(float(entry) * 1.2) if option_type == "PE" else None
        for i in range(ENTRY_BAR + 1, len(day)):
            mark = tick(quote(day, i, chain.expiry, strike, option_type)["ltp"])
            if option_type == "PE":
                low = min(low, mark)
                trail = min(trail, tick(float(low) * 1.2))
                if mark >= trail:
                    expected["PE"] = (i, entry, risk.TRAILING_STOP)
                    break
            elif mark >= stop:
                expected["CE"] = (i, entry, risk.STOP_LOSS)
                break
            if day.bar(i).time + BAR >= day.bar(0).time.replace(hour=9, minute=45):  # 15:15 IST
                break
    assert set(expected) == {"CE", "PE"}, "the day must show both exits"

    trades = closed_trades(results)
    assert len(trades) == 2
    by_type = {t.position.option_type: t for t in trades}
    for option_type, (i, entry, exit_type) in expected.items():
        t = by_type[option_type]
        assert t.position.side == "SELL" and t.trade["side"] == "SHORT"
        assert t.position.entry_price == entry
        assert t.exit_type == exit_type
        assert t.exit_time == day.bar(i).time + BAR
        exit_price = tick(quote(day, i, chain.expiry, strike, option_type)["ask"])  # bought back at the ask
        assert t.exit_price == exit_price
        assert t.gross_pnl == (entry - exit_price) * t.position.quantity
        # Short leg: STT on the sold premium (entry), stamp duty on the buy-back (exit).
        fees = charges.round_trip_charges(
            side="SHORT",
            entry_price=entry,
            exit_price=exit_price,
            quantity=t.position.quantity,
            entry_date=day.session,
            exit_date=day.session,
        )
        assert t.charges == fees.total
        sold = entry * t.position.quantity
        assert fees.stt == (sold * Decimal("0.001")).quantize(Decimal(1), ROUND_HALF_UP)  # 0.10% in 2025

    [combo] = {c.combo_id: c for r in results for c in r.combos if c.status == "CLOSED"}.values()
    assert combo.realised == sum(t.net_pnl for t in trades)
    assert combo.max_profit == (by_type["CE"].position.entry_price + by_type["PE"].position.entry_price) * 75
    assert combo.max_loss is None  # a naked short straddle
    assert state.combos == {} and state.positions == {}
    assert state.risk.trades_today == 1 and state.risk.realised_pnl == combo.realised


# --- the leg-failure policy --------------------------------------------------------------------------


class RejectingBroker(PaperBroker):
    """A paper broker that rejects every order for one contract (margin, say)."""

    def __init__(self, reject: str, **kw):
        super().__init__(**kw)
        self.reject = reject
        self.sent: list[tuple[str, str]] = []

    def place_order(self, request, market=None):
        self.sent.append((request.transaction_type, request.tradingsymbol))
        if request.tradingsymbol == self.reject:
            return BrokerOrder(
                client_order_id=request.client_order_id,
                broker_order_id="R1",
                status=orders.REJECTED,
                reason="margin_exceeded",
                quantity=request.quantity,
            )
        return super().place_order(request, market)


def test_a_failed_sold_leg_unwinds_the_legs_filled_and_says_why(sim):
    day = sim.day(date(2025, 11, 24))
    spec = templates.iron_condor("NIFTY")
    # The engine's PE sold leg (the last one sent): 4 steps under ATM, on the nearest expiry.
    bar = day.bar(ENTRY_BAR)
    atm = round(bar.close / 50) * 50
    sold_pe = contracts.tradingsymbol("NIFTY", bar.chains[0].expiry, float(atm - 200), "PE")
    broker = RejectingBroker(sold_pe)
    results, state = run_day(day, spec, broker=broker, upto=ENTRY_BAR + 3)

    # Bought legs first, then the sold ones; after the rejection the sold CE is bought back first,
    # then the wings are sold.
    assert broker.sent[3] == ("SELL", sold_pe)
    assert [side for side, _ in broker.sent] == ["BUY", "BUY", "SELL", "SELL", "BUY", "SELL", "SELL"]
    [signal] = results[0].signals
    assert signal.accepted  # orders went out
    trades = closed_trades(results)
    assert sorted(t.position.leg for t in trades) == [0, 1, 2]
    assert {t.exit_type for t in trades} == {UNWIND}
    assert all(t.exit_time == day.bar(ENTRY_BAR).time + BAR for t in trades)
    [combo] = {c.combo_id: c for r in results for c in r.combos if c.status == "CLOSED"}.values()
    assert combo.exit_type == UNWIND and combo.realised == sum(t.net_pnl for t in trades)
    assert "leg 4 SELL" in combo.note and sold_pe in combo.note and "margin_exceeded" in combo.note
    assert "unwind" in combo.note
    assert state.combos == {} and state.positions == {} and state.risk.trades_today == 1


def test_a_first_leg_rejected_refuses_the_signal(sim):
    day = sim.day(date(2025, 11, 24))
    bar = day.bar(ENTRY_BAR)
    atm = round(bar.close / 50) * 50
    symbol = contracts.tradingsymbol("NIFTY", bar.chains[0].expiry, float(atm), "CE")
    results, state = run_day(
        day, templates.short_straddle("NIFTY"), broker=RejectingBroker(symbol), upto=ENTRY_BAR + 2
    )
    [signal] = results[0].signals
    assert not signal.accepted and signal.reject_reason == risk.R_ORDER_REJECTED
    assert "margin_exceeded" in signal.reject_detail
    assert closed_trades(results) == []  # nothing more is sent after the failed leg
    assert state.combos == {}


# --- margin ----------------------------------------------------------------------------------------------


def test_the_margin_estimate_refuses_a_straddle_beyond_the_capital(sim):
    day = sim.day(date(2025, 11, 24))
    bar = day.bar(ENTRY_BAR)
    spot = bar.close
    chain = bar.chains[0]
    atm = float(chain.strikes[abs(chain.strikes - round(spot / 50) * 50).argmin()])
    qty = 75
    # Hand-worked: each uncovered short option max(6% x S x q - 0.5 x OTM x q, 3% x S x q) + 2% x S x q.
    expected = 0.0
    for otm in (max(atm - spot, 0.0), max(spot - atm, 0.0)):
        expected += max(0.06 * spot * qty - 0.5 * otm * qty, 0.03 * spot * qty) + 0.02 * spot * qty
    expected = Decimal(repr(expected)).quantize(Decimal("0.01"))
    results, _ = run_day(
        day, templates.short_straddle("NIFTY"), allocation=str(expected - 1), upto=ENTRY_BAR + 1
    )
    [signal] = results[0].signals
    assert not signal.accepted and signal.reject_reason == R_MARGIN
    assert "margin estimate" in signal.reject_detail
    assert f"Rs {expected:,.2f}" in signal.reject_detail
    assert f"Rs {expected - 1:,.2f}" in signal.reject_detail
    results, state = run_day(
        day, templates.short_straddle("NIFTY"), allocation=str(expected), upto=ENTRY_BAR + 1
    )
    assert results[0].signals[0].accepted
    [combo] = state.combos.values()
    assert combo.margin == expected and combo.margin_is_estimate


def test_a_hedged_combo_blocks_its_maximum_loss_and_the_settings_change_it(sim):
    day = sim.day(date(2025, 11, 24))
    results, state = run_day(day, templates.iron_condor("NIFTY"), upto=ENTRY_BAR + 1)
    [combo] = state.combos.values()
    # Every short covered: the margin is the maximum loss at expiry (on the quotes resolved).
    legs = combo.legs
    width = 200 * 75
    credit = sum(-leg.sign * leg.premium * leg.quantity for leg in legs)
    assert float(combo.margin) == pytest.approx(width - credit, abs=0.01)
    # A LIVE desk asks the broker's basket margin instead, and it is not an estimate.

    class Basket(PaperBroker):
        def basket_margin(self, requests):
            assert [r.transaction_type for r in requests] == ["BUY", "BUY", "SELL", "SELL"]
            return 12345.5

    config = EngineConfig(mode="LIVE", margin=MarginParams(span_pct=0.1))
    _, state = run_day(
        day, templates.iron_condor("NIFTY"), broker=Basket(), config=config, upto=ENTRY_BAR + 1
    )
    [combo] = state.combos.values()
    assert combo.margin == Decimal("12345.50") and not combo.margin_is_estimate


# --- positional: settled at expiry ------------------------------------------------------------------------


def test_a_positional_combo_settles_each_leg_at_expiry(sim):
    expiry_day = date(2025, 11, 25)  # a Tuesday weekly expiry
    day = sim.day(expiry_day)
    close = float(day.close[-1])  # the test knows the settlement: strikes placed around it
    legs = (
        m.LegSpec("CE", "BUY", strike=m.StrikeRule.exact((close - 100) // 50 * 50)),  # ITM
        m.LegSpec("PE", "SELL", strike=m.StrikeRule.exact((close + 100) // 50 * 50 + 50)),  # ITM
        m.LegSpec("CE", "SELL", strike=m.StrikeRule.exact((close + 300) // 50 * 50)),  # OTM
    )
    spec = m.ComboSpec("custom", "NIFTY", legs, product=m.NRML, exit_time=None)
    results, state = run_day(day, spec)
    settle = Decimal(repr(float(day.close[-1]))).quantize(Decimal("0.01"))
    trades = {t.position.leg: t for t in closed_trades(results)}
    assert set(trades) == {0, 1, 2}
    assert {t.exit_type for t in trades.values()} == {risk.EXPIRY}
    for t in trades.values():
        k = Decimal(str(t.position.strike))
        intrinsic = max(settle - k if t.position.option_type == "CE" else k - settle, Decimal(0))
        assert t.exit_price == intrinsic
        assert t.gross_pnl == t.position.sign * (intrinsic - t.position.entry_price) * t.position.quantity
    long_ce, short_pe, short_ce = trades[0], trades[1], trades[2]
    assert long_ce.exit_price > 0 and short_pe.exit_price > 0 and short_ce.exit_price == 0
    q = 75
    # Long ITM exercised: STT 0.125% of the settlement value (2025), brokerage for the exercise.
    exercise_stt = (long_ce.exit_price * q * Decimal("0.00125")).quantize(Decimal(1), ROUND_HALF_UP)
    expected = charges.charges_for_legs(
        [
            charges.Leg("BUY", long_ce.position.entry_price, q, expiry_day),
            charges.Leg("SELL", long_ce.exit_price, q, expiry_day, exercise=True),
        ]
    )
    assert expected.stt == exercise_stt and long_ce.charges == expected.total
    # Short ITM assigned: no charge beyond its sale's; the worthless short: none either.
    for short in (short_pe, short_ce):
        sale = charges.fill_charges(side="SELL", price=short.position.entry_price, quantity=q, on=expiry_day)
        assert short.charges == sale.total
    assert state.combos == {}


def test_a_positional_combo_is_carried_overnight_and_an_intraday_one_is_not(sim):
    day = sim.day(date(2025, 11, 24))
    nrml = templates.short_strangle("NIFTY", product=m.NRML, exit_time=None, leg_stop=None)
    results, state = run_day(day, nrml)
    assert closed_trades(results) == [] and len(state.combos) == 1
    [combo] = state.combos.values()
    assert all(p.combo_id == combo.combo_id for p in state.positions.values())
    # The desk's end-of-day square-off leaves it alone; the kill switch does not.
    bar = day.bar(len(day) - 1)
    slots = {"A": StrategySlot(name="A", combos={"CALL": nrml})}
    res = engine.run_cycle(
        at=bar.time + BAR,
        bar=bar,
        row={},
        signals=[],
        state=state,
        broker=PaperBroker(),
        strategies=slots,
        config=EngineConfig(),
        force_exit=risk.SQUARE_OFF,
    )
    assert res.closed == [] and len(state.combos) == 1
    mis = templates.short_strangle("NIFTY", leg_stop=None, exit_time=time(14, 0))
    results, state = run_day(day, mis)
    trades = closed_trades(results)
    assert {t.exit_type for t in trades} == {risk.TIME_EXIT} and state.combos == {}
    assert {t.exit_time.astimezone(market_calendar.IST).time() for t in trades} == {time(14, 0)}


# --- combo-level exits, hand-worked ---------------------------------------------------------------------


def test_combo_stop_and_lock_and_trail_in_rupees():
    from trading.core.combos.model import LockAndTrail, locked_profit

    rule = LockAndTrail(reach=Decimal(3000), lock=Decimal(1000), every=Decimal(1000), trail_by=Decimal(500))
    assert locked_profit(rule, Decimal(2999)) is None
    assert locked_profit(rule, Decimal(3000)) == Decimal(1000)
    assert locked_profit(rule, Decimal(5500)) == Decimal(2000)  # two steps of 1,000 -> +2 x 500


def test_combo_target_in_rupees_closes_every_leg(sim):
    day = sim.day(date(2025, 11, 19))
    spec = templates.short_straddle("NIFTY", leg_stop=None, target=Decimal(1000))
    results, _ = run_day(day, spec)
    trades = closed_trades(results)
    assert {t.exit_type for t in trades} == {risk.TARGET} and len(trades) == 2
    # The reference: the first bar whose marked P&L (LTPs on the tick) reaches Rs 1,000.
    entries = {t.position.option_type: t.position for t in trades}
    expiry, strike = trades[0].position.expiry, trades[0].position.strike
    for i in range(ENTRY_BAR + 1, len(day)):
        pnl = sum(
            (p.entry_price - tick(quote(day, i, expiry, strike, ot)["ltp"])) * p.quantity
            for ot, p in entries.items()
        )
        if pnl >= 1000:
            break
    assert trades[0].exit_time == day.bar(i).time + BAR


def test_a_leg_above_the_freeze_quantity_is_split_and_charged_per_order(sim):
    day = sim.day(date(2025, 11, 24))
    spec = templates.short_straddle("NIFTY", lots=25, leg_stop=None)  # 1,875 units > NIFTY's 1,800
    config = EngineConfig(risk=risk.RiskConfig(capital=Decimal("100000000")))
    results, _ = run_day(day, spec, allocation="100000000", config=config, upto=ENTRY_BAR + 2)
    entry_orders = [o for o in results[0].orders if o.purpose == orders.ENTRY]
    assert len(entry_orders) == 2 and all(len(o.children) == 2 for o in entry_orders)
    assert sorted(c.request.quantity for c in entry_orders[0].children) == [75, 1800]


def test_a_stopped_leg_reenters_once_and_a_momentum_leg_waits_for_its_move(sim):
    day = sim.day(date(2025, 11, 24))
    ce = m.LegSpec("CE", "SELL", stop_loss=m.Threshold.fraction(0.10), re_entry=m.ReEntry(1))
    pe = m.LegSpec("PE", "SELL", momentum=m.Momentum(m.Threshold.points(5), m.DOWN))
    results, state = run_day(day, m.ComboSpec("straddle_momentum", "NIFTY", (ce, pe)))
    bar = day.bar(ENTRY_BAR)
    chain = bar.chains[0]
    strike = float(chain.strikes[abs(chain.strikes - round(bar.close / 50) * 50).argmin()])

    def ltp(i, ot):
        return quote(day, i, chain.expiry, strike, ot)["ltp"]

    # The PE is sold on the first bar its LTP is 5 points under its LTP at the signal.
    trigger = float(tick(ltp(ENTRY_BAR, "PE"))) - 5
    pe_bar = next(i for i in range(ENTRY_BAR, len(day)) if ltp(i, "PE") <= trigger)
    # The CE: sold at the signal, stopped 10% above, sold again on the next bar, stopped again, done.
    expected = []
    i, entry = ENTRY_BAR, tick(quote(day, ENTRY_BAR, chain.expiry, strike, "CE")["bid"])
    for _ in range(2):
        stop = tick(float(entry) * 1.10)
        out = next(j for j in range(i + 1, len(day)) if tick(ltp(j, "CE")) >= stop)
        expected.append((i, entry, out))
        i, entry = out + 1, tick(quote(day, out + 1, chain.expiry, strike, "CE")["bid"])

    opened = [(ENTRY_BAR + k, p) for k, r in enumerate(results) for p in r.opened]
    ce_legs = [(k, p) for k, p in opened if p.option_type == "CE"]
    [(pe_opened, pe_leg)] = [(k, p) for k, p in opened if p.option_type == "PE"]
    assert pe_opened == pe_bar and pe_leg.entry_price == tick(
        quote(day, pe_bar, chain.expiry, strike, "PE")["bid"]
    )
    assert [(k, p.entry_price) for k, p in ce_legs] == [(k, e) for k, e, _ in expected]
    assert [p.position_id[-5:] for _, p in ce_legs] == ["-C-L1", "-L1R1"]
    stops = [c for c in closed_trades(results) if c.position.option_type == "CE"]
    assert [(c.exit_type, c.exit_time) for c in stops] == [
        (risk.STOP_LOSS, day.bar(out).time + BAR) for _, _, out in expected
    ]
    assert state.combos == {} and state.risk.trades_today == 1


class SlowBuysBroker(PaperBroker):
    """A broker that works every BUY for one bar (OPEN) before it fills; SELLs fill at once."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.sent: list[tuple[str, str]] = []
        self.working: dict[str, tuple] = {}

    def place_order(self, request, market=None):
        self.sent.append((request.transaction_type, request.tradingsymbol))
        if request.transaction_type == "BUY" and request.client_order_id not in self.working:
            self.working[request.client_order_id] = (request, market)
            return BrokerOrder(
                client_order_id=request.client_order_id, status=orders.OPEN, quantity=request.quantity
            )
        return super().place_order(request, market)

    def order_status(self, client_order_id):
        if client_order_id in self.working and super().order_status(client_order_id) is None:
            request, market = self.working[client_order_id]
            return BrokerOrder(client_order_id=client_order_id, status=orders.OPEN, quantity=request.quantity)
        return super().order_status(client_order_id)

    def poll(self, market=None):
        for request, _ in self.working.values():
            if super().order_status(request.client_order_id) is None:
                super().place_order(request, market)  # fills on this bar's quotes
        return []


def test_sold_legs_wait_for_the_bought_legs_in_flight(sim):
    day = sim.day(date(2025, 11, 24))
    broker = SlowBuysBroker()
    results, state = run_day(day, templates.iron_condor("NIFTY"), broker=broker, upto=ENTRY_BAR + 2)
    first, second = results
    assert [side for side, _ in broker.sent[:2]] == ["BUY", "BUY"] and len(broker.sent) == 2 + 2
    assert first.opened == [] and [p.side for p in second.opened] == ["BUY", "BUY", "SELL", "SELL"]
    # The wings' fills came in on the second cycle; only then were the sold legs sent, in that cycle.
    sold = {p.entry_time for p in second.opened if p.side == "SELL"}
    assert sold == {day.bar(ENTRY_BAR + 1).time + BAR}
    [combo] = state.combos.values()
    assert combo.status == "OPEN" and combo.payoff_known
    assert combo.max_loss is not None and combo.max_profit is not None  # defined risk


def test_a_positional_leg_is_charged_at_each_of_its_dates():
    """A short strangle sold on 2024-09-30 and bought back by the kill switch on 2024-10-01: the sale
    at the rates until 30 September 2024 (STT 0.0625%, NSE 0.0500%), the buy-back at those from
    1 October (NSE 0.03553%), worked by hand from DOMAIN.md's table."""
    source = SimSource(index="NIFTY", seed=7, start=date(2024, 9, 30))
    first, second = source.day(date(2024, 9, 30)), source.day(date(2024, 10, 1))
    spec = templates.short_strangle("NIFTY", product=m.NRML, exit_time=None, leg_stop=None)
    _, state = run_day(first, spec, allocation="1000000")
    assert len(state.combos) == 1
    state.risk.kill_switch = True
    results, state = run_day(second, spec, upto=ENTRY_BAR + 1, state=state)
    trades = closed_trades(results)
    assert len(trades) == 2 and {t.exit_type for t in trades} == {risk.KILL_SWITCH}
    for t in trades:
        q = t.position.quantity
        assert q == 25  # the lot of October 2024's weekly series
        sold, bought = t.position.entry_price * q, t.exit_price * q
        stt = (sold * Decimal("0.000625")).quantize(Decimal(1), ROUND_HALF_UP)
        txn = (sold * Decimal("0.000500") + bought * Decimal("0.0003553")).quantize(
            Decimal("0.01"), ROUND_HALF_UP
        )
        sebi = ((sold + bought) * Decimal("0.000001")).quantize(Decimal("0.01"), ROUND_HALF_UP)
        stamp = (bought * Decimal("0.00003")).quantize(Decimal("0.01"), ROUND_HALF_UP)
        gst = ((Decimal(40) + txn + sebi) * Decimal("0.18")).quantize(Decimal("0.01"), ROUND_HALF_UP)
        assert t.charges == Decimal(40) + stt + txn + sebi + stamp + gst
        assert t.position.entry_time.date() == date(2024, 9, 30) and t.exit_time.date() == date(2024, 10, 1)


@pytest.mark.parametrize(
    ("session", "rules"),
    [
        (
            date(2025, 11, 19),
            {"lock_and_trail": m.LockAndTrail(Decimal(600), Decimal(200), Decimal(100), Decimal(50))},
        ),
        (date(2025, 11, 21), {"stop_loss": Decimal(700)}),
    ],
)
def test_combo_lock_and_trail_and_stop_in_rupees(sim, session, rules):
    day = sim.day(session)
    spec = templates.short_straddle("NIFTY", leg_stop=None, **rules)
    results, _ = run_day(day, spec)
    trades = closed_trades(results)
    assert len(trades) == 2
    # The reference: the marked P&L (LTPs on the tick) bar by bar, its peak, the locked floor.
    legs = [t.position for t in trades]
    peak, expected = Decimal(0), None
    for i in range(ENTRY_BAR + 1, len(day)):
        pnl = sum(
            (p.entry_price - tick(quote(day, i, p.expiry, p.strike, p.option_type)["ltp"])) * p.quantity
            for p in legs
        )
        peak = max(peak, pnl)
        if "stop_loss" in rules and pnl <= -rules["stop_loss"]:
            expected = (i, risk.STOP_LOSS)
            break
        if "lock_and_trail" in rules:
            floor = m.locked_profit(rules["lock_and_trail"], peak)
            if floor is not None and pnl <= floor:
                expected = (i, risk.TRAILING_STOP)
                break
    assert expected is not None, "the day must reach the rule"
    i, exit_type = expected
    assert {(t.exit_type, t.exit_time) for t in trades} == {(exit_type, day.bar(i).time + BAR)}


def test_legs_closed_outside_the_state_do_not_keep_a_combo_open(sim):
    """After an outage a leg's close may have been spooled and its position reloaded as closed: the
    combo takes the leg as closed, and closes once no leg is left, instead of blocking entries."""
    day = sim.day(date(2025, 11, 24))
    spec = templates.short_straddle("NIFTY", leg_stop=None)
    _, state = run_day(day, spec, upto=ENTRY_BAR + 1)
    [combo] = state.combos.values()
    for position_id in list(combo.leg_positions.values()):
        del state.positions[position_id]
    bar = day.bar(ENTRY_BAR + 1)
    result = engine.run_cycle(
        at=bar.time + BAR,
        bar=bar,
        row={},
        signals=[],
        state=state,
        broker=PaperBroker(),
        strategies={"A": StrategySlot(name="A", combos={"CALL": spec})},
        config=EngineConfig(),
    )
    assert state.combos == {} and state.open_count() == 0
    assert sum("no longer open" in note for note in result.notes) == 2
    assert result.combos[-1].status == "CLOSED" and state.risk.trades_today == 0  # its trades: the journal's


def test_a_combo_enters_only_between_its_entry_and_exit_times(sim):
    day = sim.day(date(2025, 11, 24))
    late = templates.short_straddle("NIFTY", entry_time=time(9, 30))
    results, state = run_day(day, late, upto=ENTRY_BAR + 1)  # the signal at 09:25 IST
    [signal] = results[0].signals
    assert signal.reject_reason == risk.R_BEFORE_ENTRY_START and "09:30" in signal.reject_detail
    early_exit = templates.short_straddle("NIFTY", exit_time=time(9, 25))
    results, state = run_day(day, early_exit, upto=ENTRY_BAR + 1)
    assert results[0].signals[0].reject_reason == risk.R_AFTER_CUTOFF and state.combos == {}


def test_a_calendar_held_to_the_near_expiry_settles_the_near_leg_and_sells_the_far_one(sim):
    day = sim.day(date(2025, 11, 25))  # the near (weekly = monthly) expiry
    legs = (
        m.LegSpec("CE", "BUY", expiry=m.NEXT_MONTH),
        m.LegSpec("CE", "SELL", expiry=m.CURRENT_WEEK),
    )
    results, state = run_day(day, m.ComboSpec("calendar", "NIFTY", legs, product=m.NRML, exit_time=None))
    trades = {t.position.side: t for t in closed_trades(results)}
    near, far = trades["SELL"], trades["BUY"]
    last = len(day) - 1
    assert near.exit_type == risk.EXPIRY and near.position.expiry == date(2025, 11, 25)
    assert far.exit_type == risk.TIME_EXIT and far.position.expiry == date(2025, 12, 30)
    # The far leg is sold at the bid of the session's last bar, charged as a sale (not an exercise).
    bid = tick(quote(day, last, far.position.expiry, far.position.strike, "CE")["bid"])
    assert far.exit_price == bid and far.exit_time == day.bar(last).time + BAR
    assert (
        far.charges
        == charges.round_trip_charges(
            side="LONG",
            entry_price=far.position.entry_price,
            exit_price=bid,
            quantity=far.position.quantity,
            entry_date=day.session,
            exit_date=day.session,
        ).total
    )
    assert state.combos == {}


def test_combo_and_leg_ids_fit_the_journal():
    from trading.core.combo_entries import combo_id_for, leg_position_id

    config = EngineConfig(index="MIDCPNIFTY", mode="BACKTEST", position_prefix="BT99999-")
    combo_id = combo_id_for(config, "AVeryLongStrategyNameIndeed", day_start(), "CALL")
    assert len(leg_position_id(combo_id, 3, 9)) <= 64


def day_start():
    from datetime import UTC, datetime

    return datetime(2025, 11, 24, 3, 55, tzinfo=UTC)


def test_a_positional_combos_orders_go_as_nrml_and_an_intraday_ones_as_mis(sim):
    day = sim.day(date(2025, 11, 24))
    nrml = templates.short_strangle("NIFTY", product=m.NRML, exit_time=None, leg_stop=None)
    results, state = run_day(day, nrml, upto=ENTRY_BAR + 1)
    assert {o.request.product for o in results[0].orders} == {"NRML"}
    state.risk.kill_switch = True
    results, _ = run_day(day, nrml, upto=ENTRY_BAR + 2, state=state)
    exits = [o for r in results for o in r.orders if o.purpose == orders.EXIT]
    assert len(exits) == 2 and {o.request.product for o in exits} == {"NRML"}
    results, _ = run_day(day, templates.short_strangle("NIFTY"), upto=ENTRY_BAR + 1)
    assert {o.request.product for o in results[0].orders} == {"MIS"}
