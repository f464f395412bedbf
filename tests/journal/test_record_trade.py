"""record_trade: derived fields, exactly once, validation, and the spool."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from journal import spool
from journal.derive import derive_trade
from journal.models import DailyPerformance, StrategyPerformance, Trade
from journal.services import drain_spool, record_trade
from tests.helpers import NOW, at_once, database_unreachable, ist, trade_fields

pytestmark = pytest.mark.django_db


def test_derived_fields_of_the_worked_example():
    t = record_trade(now=NOW, **trade_fields())
    t.refresh_from_db()
    assert t.lots == 1
    assert (t.brokerage, t.stt, t.exchange_txn, t.sebi_fee, t.stamp_duty, t.gst) == (
        D("40.00"),
        D("12.00"),
        D("5.08"),
        D("0.01"),
        D("0.20"),
        D("8.12"),
    )
    assert t.total_charges == D("65.41")
    assert t.gross_pnl == D("1300.00") and t.net_pnl == D("1234.59")
    # P&L % on the premium paid: 1234.59 / 6500 x 100
    assert t.pnl_percentage == D("18.9937")
    assert t.is_winning_trade is True
    assert t.hold_duration_minutes == D("75.00")
    # initial risk (100 - 80) x 65 = 1300; R = 1234.59 / 1300
    assert t.initial_risk == D("1300.00") and t.r_multiple == D("0.9497")
    assert t.planned_rr == D("1.00")
    assert t.trade_date == date(2026, 5, 5)
    assert t.tradingsymbol.startswith("NIFTY26") and t.exchange == "NFO"


def test_trade_belongs_to_the_ist_date_of_its_exit():
    # 00:30 IST on the 6th is still the 5th in UTC: the trade's day is the 6th. (No session runs at
    # that hour, so record_trade refuses it; the derivation without a clock shows the rule.)
    values = derive_trade(trade_fields(exit_time=ist(2026, 5, 6, 0, 30), exit_type="MANUAL"))
    assert values["trade_date"] == date(2026, 5, 6)


def test_a_losing_trade_net_of_charges_is_not_a_win():
    # exit 100.50: gross +32.50 but charges above it -> net < 0 -> not a win
    t = record_trade(now=NOW, **trade_fields(exit_price=D("100.50")))
    assert t.gross_pnl == D("32.50") and t.net_pnl < 0 and t.is_winning_trade is False


def test_short_trade_pnl():
    t = record_trade(
        now=NOW,
        **trade_fields(
            side="SHORT",
            entry_price=D("120"),
            exit_price=D("100"),
            stop_loss_price=D("140"),
            target_price=D("100"),
        ),
    )
    assert t.gross_pnl == D("1300.00") and t.net_pnl == D("1234.59")


def test_second_call_returns_the_stored_trade_and_changes_nothing():
    first = record_trade(now=NOW, **trade_fields())
    second = record_trade(now=NOW, **trade_fields(exit_price=D("150")))
    assert second.pk == first.pk and second.exit_price == D("120.00")
    assert Trade.objects.count() == 1
    daily = DailyPerformance.objects.get(date=date(2026, 5, 5), mode="PAPER")
    assert daily.trades == 1 and daily.net_pnl == D("1234.59")


def test_performance_rows_refresh_with_each_trade():
    record_trade(now=NOW, **trade_fields())
    record_trade(
        now=NOW,
        **trade_fields(
            trade_id="T-2",
            entry_time=ist(2026, 5, 5, 11),
            exit_time=ist(2026, 5, 5, 11, 30),
            exit_price=D("90"),
            exit_type="STOP_LOSS",
        ),
    )
    # T-2: gross -650; charges: brokerage 40, STT 0.15% x 5850 = 8.775 -> 9, txn 0.03553% x 12350 = 4.388 -> 4.39,
    # SEBI 0.01235 -> 0.01, stamp 0.195 -> 0.20, GST 18% x 44.40 = 7.992 -> 7.99: 61.59; net -711.59
    t2 = Trade.objects.get(trade_id="T-2")
    assert t2.total_charges == D("61.59") and t2.net_pnl == D("-711.59")
    for row in (
        DailyPerformance.objects.get(date=date(2026, 5, 5), mode="PAPER"),
        StrategyPerformance.objects.get(strategy_name="PCRStrategy", mode="PAPER"),
    ):
        assert (row.trades, row.wins, row.losses) == (2, 1, 1)
        assert row.net_pnl == D("523.00")
        assert row.total_charges == D("127.00")
        assert row.win_rate == D("50.00")
        assert row.profit_factor == D("1.7350")  # 1234.59 / 711.59 = 1.73496...
        assert row.max_drawdown == D("711.59")
        assert row.best_trade == D("1234.59") and row.worst_trade == D("-711.59")


def test_out_of_order_trade_recomputes_drawdown():
    record_trade(
        now=NOW,
        **trade_fields(trade_id="late", entry_time=ist(2026, 5, 5, 14), exit_time=ist(2026, 5, 5, 14, 30)),
    )
    record_trade(now=NOW, **trade_fields(trade_id="early", exit_price=D("90"), exit_type="STOP_LOSS"))
    row = StrategyPerformance.objects.get(strategy_name="PCRStrategy", mode="PAPER")
    # in exit order: -711.59 then +1234.59: drawdown 711.59 from the 0 peak
    assert row.max_drawdown == D("711.59") and row.trades == 2


BAD = [
    ({"exit_time": ist(2026, 5, 5, 9, 0)}, "exit_time"),
    ({"quantity": 0}, "quantity"),
    ({"quantity": -65}, "quantity"),
    ({"quantity": 100}, "quantity"),  # not a whole number of lots of 65
    ({"entry_price": D("-1")}, "entry_price"),
    ({"entry_price": D("0")}, "entry_price"),
    ({"exit_price": D("0")}, "exit_price"),  # only an EXPIRY may exit at 0
    ({"entry_price": D("100.03")}, "entry_price"),  # off the 0.05 tick
    ({"instrument_type": "FUT"}, "instrument_type"),
    ({"entry_mode": "DEMO"}, "entry_mode"),
    ({"entry_time": "yesterday"}, "entry_time"),
    ({"symbol": "NOSUCH"}, "symbol"),
    ({"bogus": 1}, "bogus"),
    ({"expiry_date": "2026-02-30"}, "expiry_date"),  # well-formed, impossible
    ({"entry_time": "2026-02-30T09:30:00+05:30"}, "entry_time"),
    ({"lots": "two"}, "lots"),
    ({"lots": 2}, "lots"),  # disagrees with 65 units of a 65 lot
    ({"strategy_name": "S" * 65}, "strategy_name"),
    ({"entry_price": D("1e15")}, "entry_price"),
    (
        {
            "entry_time": ist(2015, 5, 5, 9, 30),
            "exit_time": ist(2015, 5, 5, 10),
            "expiry_date": "2015-05-07",
            "quantity": 50,
        },
        "entry_time",
    ),  # before the charge schedule (lot 50 then)
]


@pytest.mark.parametrize(("override", "field"), BAD)
def test_bad_input_names_the_field_and_writes_nothing(override, field):
    with pytest.raises(ValidationError) as exc:
        record_trade(now=NOW, **trade_fields(**override))
    assert field in exc.value.message_dict
    assert Trade.objects.count() == 0 and DailyPerformance.objects.count() == 0


def test_expiry_at_zero_is_allowed():
    t = record_trade(now=NOW, **trade_fields(exit_price=D("0"), exit_type="EXPIRY"))
    assert t.gross_pnl == D("-6500.00") and t.stt == 0


@pytest.mark.django_db(transaction=True)
def test_unreachable_database_spools_and_the_drain_writes_each_trade_once():
    with database_unreachable():
        a = record_trade(now=NOW, **trade_fields(trade_id="S-1"))
        b = record_trade(now=NOW, **trade_fields(trade_id="S-2", exit_price=D("90"), exit_type="STOP_LOSS"))
        assert a.spooled and b.spooled and a.net_pnl == D("1234.59")
        assert spool.depth() == 2
        # While still down the drain keeps everything.
        result = drain_spool()
        assert result.written == 0 and result.remaining == 2
    assert Trade.objects.count() == 0
    result = drain_spool()
    assert result.written == 2 and result.remaining == 0
    assert drain_spool().written == 0
    assert sorted(Trade.objects.values_list("trade_id", flat=True)) == ["S-1", "S-2"]
    assert DailyPerformance.objects.get(date=date(2026, 5, 5), mode="PAPER").trades == 2


@pytest.mark.django_db(transaction=True)
def test_a_spooled_trade_already_written_is_not_counted_twice():
    with database_unreachable():
        record_trade(now=NOW, **trade_fields(trade_id="S-1"))
    record_trade(now=NOW, **trade_fields(trade_id="S-1"))  # written directly once the database is back
    assert drain_spool().remaining == 0
    assert Trade.objects.filter(trade_id="S-1").count() == 1
    assert StrategyPerformance.objects.get(strategy_name="PCRStrategy", mode="PAPER").trades == 1


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_calls_with_the_same_trade_id_store_one_trade():
    assert connection.vendor == "postgresql"
    results, errors = at_once(4, lambda i: record_trade(now=NOW, **trade_fields(trade_id="C-1")).pk)
    assert not errors
    assert len(set(results)) == 1
    assert Trade.objects.filter(trade_id="C-1").count() == 1
    assert DailyPerformance.objects.get(date=date(2026, 5, 5), mode="PAPER").trades == 1
    assert StrategyPerformance.objects.get(strategy_name="PCRStrategy", mode="PAPER").trades == 1
