"""Expiry settlement: an option whose expiry passed while the engine was down settles on the expiry
session's closing spot (the exchange's final settlement price: the index's official close), at that
session's close - never on the spot of the day the engine comes back.

The issue's case, hand-worked: a 23950 PE, 975 units (13 lots of 75) bought at 60.00, expiring on
Tuesday 2025-11-25 with NIFTY closing at 23868.90; the engine comes back on Wednesday at 23849.45.
Settlement value 23950 - 23868.90 = 81.10 per unit (not 23950 - 23849.45 = 100.55); gross
(81.10 - 60.00) x 975 = 20,572.50 (the old figure, (100.55 - 60.00) x 975 = 39,536.25, was
Rs 18,963.75 off).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal as D

import pandas as pd
import pytest

from journal.models import Trade
from tests.helpers import ist
from trading.brokers.paper import PaperBroker
from trading.core import calendar as market_calendar
from trading.core import engine, risk
from trading.core.live import FeedSource, SimSource, expiry_settlement
from trading.core.state import EngineConfig, EngineState, OpenPosition, SignalInput
from trading.execution.desk import Desk, reset_desks, set_desk
from trading.execution.models import Position, PositionStatus
from trading.marketdata.store import MarketDataStore
from trading.marketdata.store_feed import StoreFeed

EXPIRY = date(2025, 11, 25)  # Tuesday: NIFTY's November monthly
MONDAY, WEDNESDAY = date(2025, 11, 24), date(2025, 11, 26)
SEED = 7
SIM_START = date(2025, 11, 19)  # the simulated market's first session


def test_the_settlement_value_is_the_final_settlement_price_less_the_strike():
    assert risk.intrinsic_value("PE", 23950, 23868.90) == D("81.10")
    assert risk.intrinsic_value("CE", 23950, 23868.90) == D("0.00")
    # the index closes to the paisa: 24286.682680 -> 24286.68, a call 24000 is worth 286.68 (a cash
    # value, not a price on the 0.05 tick)
    assert risk.intrinsic_value("CE", 24000, 24286.682680) == D("286.68")
    assert risk.intrinsic_value("CALL", 24000, 24123.4) == D("123.40")
    assert risk.intrinsic_value("PUT", 24000, 24123.4) == D("0.00")


def put_23950(quantity: int = 975) -> OpenPosition:
    return OpenPosition(
        position_id="P-EXPIRY-1",
        strategy="PCRStrategy",
        index="NIFTY",
        tradingsymbol="NIFTY25NOV23950PE",
        exchange="NFO",
        option_type="PE",
        strike=23950.0,
        expiry=EXPIRY,
        quantity=quantity,
        lot_size=75,
        entry_price=D("60.00"),
        entry_time=ist(2025, 11, 24, 10, 0),
        stop=D("42.00"),
        target=D("96.00"),
        trail_fraction=0.2,
        trail_activation=D("72.00"),
    )


def wednesday_bar(spot: float = 23849.45):
    """Wednesday's first bar of the simulated market, its spot set to the issue's 23849.45."""
    bar = SimSource(index="NIFTY", seed=SEED, start=SIM_START).day(WEDNESDAY).bar(0)
    return replace(bar, open=spot, high=spot, low=spot, close=spot)


def cycle_after_the_restart(position: OpenPosition, **kwargs):
    state = EngineState(index="NIFTY")
    state.positions[position.position_id] = position
    bar = wednesday_bar()
    result = engine.run_cycle(
        at=bar.time + timedelta(minutes=1),
        bar=bar,
        row={},
        signals=[],
        state=state,
        broker=PaperBroker(),
        strategies={},
        config=EngineConfig(index="NIFTY", mode="PAPER"),
        **kwargs,
    )
    return state, result


def test_a_restart_after_the_expiry_settles_on_the_expiry_close():
    closes = {("NIFTY", EXPIRY): 23868.90}
    state, result = cycle_after_the_restart(
        put_23950(), settlement=lambda index, expiry: closes.get((index, expiry))
    )
    [closed] = result.closed
    assert closed.exit_type == "EXPIRY" and closed.exit_order_id == "" and not result.orders
    assert closed.exit_price == D("81.10")
    assert closed.gross_pnl == D("20572.50")  # (81.10 - 60.00) x 975
    assert closed.exit_time == ist(2025, 11, 25, 15, 30)  # the expiry session's close
    assert not state.positions


def test_without_the_expiry_close_the_position_waits_rather_than_settle_on_todays_spot():
    state, result = cycle_after_the_restart(put_23950(), settlement=lambda index, expiry: None)
    assert not result.closed and not result.orders
    assert "P-EXPIRY-1" in state.positions
    assert any("no settlement price" in note for note in result.notes)
    state, result = cycle_after_the_restart(put_23950())  # no lookup at all: the same
    assert not result.closed and "P-EXPIRY-1" in state.positions


def test_the_kill_switch_does_not_try_to_sell_an_expired_option():
    _, result = cycle_after_the_restart(
        put_23950(), settlement=lambda index, expiry: 23868.90, force_exit=risk.KILL_SWITCH
    )
    [closed] = result.closed
    assert (closed.exit_type, closed.exit_price) == ("EXPIRY", D("81.10")) and not result.orders


# --- the source's expiry close --------------------------------------------------------------------------


def test_the_source_gives_the_expiry_sessions_last_minute_close():
    source = SimSource(index="NIFTY", seed=SEED, start=SIM_START)
    day = source.day(EXPIRY)
    assert day.bar_time(len(day) - 1) == ist(2025, 11, 25, 15, 29)
    assert expiry_settlement(source, EXPIRY) == float(day.close[-1])
    assert expiry_settlement(source, date(2025, 11, 1)) is None  # before the source: unknown


class _Truncated:
    """A feed whose recording of the expiry day stops at 14:00 (the recorder went down)."""

    index, source = "NIFTY", "REPLAY"

    def __init__(self) -> None:
        self.sim = SimSource(index="NIFTY", seed=SEED, start=SIM_START)

    def days(self, start, end):
        day = self.sim.day(start)
        keep = sum(1 for i in range(len(day)) if day.bar_time(i) < ist(2025, 11, 25, 14, 0))
        yield replace(
            day,
            times=day.times[:keep],
            open=day.open[:keep],
            high=day.high[:keep],
            low=day.low[:keep],
            close=day.close[:keep],
            vix=day.vix[:keep],
        )


def test_a_recording_that_stops_before_the_close_gives_no_settlement():
    assert expiry_settlement(FeedSource(_Truncated()), EXPIRY) is None


def test_the_store_gives_the_exchange_settlement_price(tmp_path):
    """The index's official close on the expiry day (the store's daily index closes) wins over the
    last minute bar."""
    store = MarketDataStore(tmp_path)
    frame = pd.DataFrame(
        {"date": [EXPIRY], "open": [23900.0], "high": [23990.0], "low": [23850.0], "close": [23868.90]}
    )
    store.commit([store.stage("index_daily", "NIFTY", EXPIRY.year, frame)])
    feed = StoreFeed(store, "NIFTY")
    assert feed.settlement_price(EXPIRY) == 23868.90
    assert feed.settlement_price(WEDNESDAY) is None
    assert expiry_settlement(FeedSource(feed), EXPIRY) == 23868.90


# --- the desk: a restart that spans an expiry -------------------------------------------------------------


@pytest.fixture
def fresh_desks():
    reset_desks()
    yield
    reset_desks()


def new_desk(signals: list[SignalInput]) -> Desk:
    """A desk as a fresh process builds it (new source, new broker, nothing in memory)."""
    desk = Desk(
        "NIFTY",
        mode="PAPER",
        source=SimSource(index="NIFTY", seed=SEED, start=SIM_START),
        broker=PaperBroker(),
    )
    real = desk.live.signals
    desk.live.signals = lambda pairs: (real(pairs), list(signals))[1]
    set_desk(desk)
    return desk


@pytest.mark.django_db
def test_the_desk_settles_a_position_left_open_over_the_expiry_at_the_expiry_close(fresh_desks):
    """Monday 10:00 the desk buys the 24000 CE and PE expiring Tuesday, then the process dies until
    Wednesday. Tuesday's last minute closed at 24286.682680 (the simulated market's bar, checked
    below): final settlement 24286.68, so the CE settles at 24286.68 - 24000 = 286.68 and the PE at
    0.00; Wednesday's first spot (24288.23) would have given 288.23 (old code, on the tick: 288.25)."""
    monday = new_desk(
        [SignalInput("PCRStrategy", "CALL", 0.9, "t"), SignalInput("MaxPainStrategy", "PUT", 0.9, "t")]
    )
    monday.cycle(bar=monday.source.day(MONDAY).bar(45))
    positions = {p.instrument_type: p for p in Position.objects.filter(status=PositionStatus.OPEN)}
    assert {p.expiry_date for p in positions.values()} == {EXPIRY}
    assert {p.strike_price for p in positions.values()} == {D("24000.00")}
    tuesday = monday.source.day(EXPIRY)
    assert round(float(tuesday.close[-1]), 2) == 24286.68  # the expiry session's closing spot
    assert round(float(monday.source.day(WEDNESDAY).close[0]), 2) == 24288.23  # Wednesday's first

    wednesday = new_desk([])  # the restart, two sessions later
    report = wednesday.cycle(bar=wednesday.source.day(WEDNESDAY).bar(0))
    assert report.closed == 2 and not report.orders
    call = Trade.objects.get(instrument_type="CALL")
    put = Trade.objects.get(instrument_type="PUT")
    assert (call.exit_type, call.exit_price) == ("EXPIRY", D("286.68"))
    assert (put.exit_type, put.exit_price) == ("EXPIRY", D("0.00"))
    for trade, settled in ((call, D("286.68")), (put, D("0"))):
        assert trade.exit_time == market_calendar.session_close(EXPIRY)
        assert trade.gross_pnl == ((settled - trade.entry_price) * trade.quantity).quantize(D("0.01"))
    assert not Position.objects.filter(status=PositionStatus.OPEN).exists()


@pytest.mark.django_db
def test_the_journal_takes_a_settlement_value_off_the_tick_only_at_expiry():
    from django.core.exceptions import ValidationError

    from journal.services import record_trade
    from tests.helpers import NOW, trade_fields

    fields = trade_fields(
        exit_time=ist(2026, 5, 12, 15, 30), expiry_date="2026-05-12", exit_price=D("123.43")
    )
    assert record_trade(now=NOW, **dict(fields, exit_type="EXPIRY")).exit_price == D("123.43")
    with pytest.raises(ValidationError, match="tick"):
        record_trade(now=NOW, **dict(fields, trade_id="T-2", exit_type="TARGET"))
