"""Charges against DOMAIN.md's worked example and examples worked by hand here."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from trading.core.charges import STT_SELL, Leg, charges_for_legs, fill_charges, rate_on, round_trip_charges


def test_domain_worked_example_after_april_2026():
    # Buy 1 NIFTY lot (65) at 100, sell at 120 (DOMAIN.md section 1).
    c = round_trip_charges(
        side="LONG",
        entry_price="100",
        exit_price="120",
        quantity=65,
        entry_date=date(2026, 5, 5),
        exit_date=date(2026, 5, 5),
    )
    assert (c.brokerage, c.stt, c.exchange_txn, c.sebi_fee, c.stamp_duty, c.gst) == (
        D("40.00"),
        D("12.00"),
        D("5.08"),
        D("0.01"),
        D("0.20"),
        D("8.12"),
    )
    assert c.total == D("65.41")
    gross = (D("120") - D("100")) * 65
    assert gross - c.total == D("1234.59")


def test_trade_in_2025_at_ten_basis_points_stt_and_lot_75():
    # 2 lots of 75 = 150 units, bought at 152.35 and sold at 171.80 on 2025-06-10.
    # buy turnover 22,852.50; sell turnover 25,770.00; total 48,622.50
    # brokerage 2 x 20 = 40.00
    # STT 0.10% x 25,770 = 25.77 -> 26 (nearest rupee)
    # transaction 0.03553% x 48,622.50 = 17.2756 -> 17.28
    # SEBI 0.0001% x 48,622.50 = 0.0486 -> 0.05
    # stamp 0.003% x 22,852.50 = 0.6856 -> 0.69
    # GST 18% x (40 + 17.28 + 0.05 = 57.33) = 10.3194 -> 10.32
    # total 94.34; gross 150 x 19.45 = 2,917.50; net 2,823.16
    c = round_trip_charges(
        side="LONG",
        entry_price=D("152.35"),
        exit_price=D("171.80"),
        quantity=150,
        entry_date=date(2025, 6, 10),
        exit_date=date(2025, 6, 10),
    )
    assert (c.brokerage, c.stt, c.exchange_txn, c.sebi_fee, c.stamp_duty, c.gst) == (
        D("40.00"),
        D("26.00"),
        D("17.28"),
        D("0.05"),
        D("0.69"),
        D("10.32"),
    )
    assert c.total == D("94.34")
    assert D("2917.50") - c.total == D("2823.16")


@pytest.mark.parametrize(("price", "stt"), [("115.00", "12.00"), ("114.95", "11.00"), ("114.50", "11.00")])
def test_stt_rounds_to_the_nearest_rupee_half_up(price, stt):
    # 100 units sold in 2025 at 0.10%: 11,500 -> 11.50 -> 12; 11,495 -> 11.495 -> 11; 11,450 -> 11.45 -> 11
    c = fill_charges(side="SELL", price=price, quantity=100, on=date(2025, 2, 3))
    assert c.stt == D(stt)


def test_each_leg_is_charged_at_its_own_dates_rates():
    # Bought 2024-09-30 (STT n/a, NSE txn 0.0500% = 0.0495% + 0.0005% IPFT), sold 2024-10-01
    # (STT 0.10%, txn 0.03553% = 0.03503% + 0.0005% IPFT).
    # buy 100 @ 200 = 20,000: txn 10.00, sebi 0.02, stamp 0.60
    # sell 100 @ 210 = 21,000: txn 7.4613, sebi 0.021, STT 21.00
    # txn 17.4613 -> 17.46; sebi 0.041 -> 0.04; GST 18% x (40 + 17.46 + 0.04) = 10.35
    c = round_trip_charges(
        side="LONG",
        entry_price="200",
        exit_price="210",
        quantity=100,
        entry_date=date(2024, 9, 30),
        exit_date=date(2024, 10, 1),
    )
    assert (c.stt, c.exchange_txn, c.sebi_fee, c.stamp_duty, c.gst) == (
        D("21.00"),
        D("17.46"),
        D("0.04"),
        D("0.60"),
        D("10.35"),
    )
    assert rate_on(STT_SELL, date(2026, 3, 31)) == D("0.001")
    assert rate_on(STT_SELL, date(2026, 4, 1)) == D("0.0015")


def test_short_trade_pays_stt_on_the_entry_and_stamp_on_the_exit():
    c = round_trip_charges(
        side="SHORT",
        entry_price="120",
        exit_price="100",
        quantity=65,
        entry_date=date(2026, 5, 5),
        exit_date=date(2026, 5, 5),
    )
    # Same two legs as the worked example in the other order: same charges.
    assert c.total == D("65.41")
    assert c.stamp_duty == D("0.20") and c.stt == D("12.00")


def test_worthless_expiry_has_no_exit_charges():
    c = round_trip_charges(
        side="LONG",
        entry_price="10",
        exit_price="0",
        quantity=65,
        entry_date=date(2026, 5, 5),
        exit_date=date(2026, 5, 12),
        exit_type="EXPIRY",
    )
    only_entry = fill_charges(side="BUY", price="10", quantity=65, on=date(2026, 5, 5))
    assert c == only_entry
    assert c.stt == 0 and c.brokerage == D("20.00")


def test_exercised_long_pays_exercise_stt_on_settlement_value():
    # 65 units settle at intrinsic 30: 1,950 x 0.15% = 2.925 -> 3 (after 2026-04-01)
    c = round_trip_charges(
        side="LONG",
        entry_price="25",
        exit_price="30",
        quantity=65,
        entry_date=date(2026, 5, 5),
        exit_date=date(2026, 5, 12),
        exit_type="EXPIRY",
    )
    assert c.stt == D("3.00")


def test_split_order_pays_brokerage_per_child_order():
    c = charges_for_legs([Leg("BUY", D("100"), 2600, date(2026, 5, 5), orders=2)])
    assert c.brokerage == D("40.00")


def test_bse_rates_for_sensex():
    # 20 units bought at 300 on BSE: 6,000 x 0.0325% = 1.95
    c = fill_charges(side="BUY", price="300", quantity=20, on=date(2026, 5, 5), exchange="BSE")
    assert c.exchange_txn == D("1.95")


def test_bad_input_is_refused():
    with pytest.raises(ValueError):
        round_trip_charges(
            side="FLAT",
            entry_price="1",
            exit_price="1",
            quantity=1,
            entry_date=date(2026, 5, 5),
            exit_date=date(2026, 5, 5),
        )
    with pytest.raises(ValueError):
        fill_charges(side="BUY", price="1", quantity=0, on=date(2026, 5, 5))


def test_the_rate_in_force_is_the_latest_started_on_every_day_of_every_schedule():
    """``rate_on`` (a bisection over the schedule) against a scan of it, on every day from a year
    before each schedule's first date to a year after its last; before the first, an error."""
    from datetime import timedelta

    from trading.core import charges

    schedules = [charges.GST, charges.SEBI_FEE]
    for rates in (charges._instrument(charges.OPTION), charges._instrument(charges.FUTURE)):
        schedules += [rates.stt_sell, rates.stamp_duty_buy, *rates.exchange_txn.values()]
        schedules += [rates.stt_exercise] if rates.stt_exercise is not None else []
    assert len(schedules) >= 8
    for schedule in schedules:
        day, last = schedule[0][0] - timedelta(days=366), schedule[-1][0] + timedelta(days=366)
        while day <= last:
            started = [rate for start, rate in schedule if start <= day]
            if started:
                assert rate_on(schedule, day) == started[-1], (schedule, day)
            else:
                with pytest.raises(ValueError, match="no rate in force"):
                    rate_on(schedule, day)
            day += timedelta(days=1)
