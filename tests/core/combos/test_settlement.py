"""Expiry settlement of each leg kind, long and short, ITM and OTM, with charges worked by hand."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from trading.core.charges import round_trip_charges
from trading.core.combos.model import BUY, CE, FUT, PE, SELL, priced_leg
from trading.core.combos.settlement import (
    ASSIGNED,
    EXERCISED,
    EXPIRED_WORTHLESS,
    FUTURE_SETTLED,
    settle_combo,
    settle_leg,
)

EXP = date(2026, 5, 5)  # STT on exercise 0.15% from 2026-04-01; lot 65


def leg(kind, side, strike, premium, expiry=EXP, lots=1):
    return priced_leg("NIFTY", kind, side, strike, expiry, lots, premium)


def zero(charges):
    return charges.total == 0 and charges.stt == 0 and charges.brokerage == 0


def test_long_itm_call_is_exercised_with_stt_on_the_intrinsic_value():
    s = settle_leg(leg(CE, BUY, 24000, 150), index="NIFTY", settlement_price="24100.35")
    # Intrinsic 100.35 x 65 = 6,522.75 received.
    assert (s.outcome, s.exit_price, s.cash_flow) == (EXERCISED, D("100.35"), D("6522.75"))
    assert s.gross_pnl == D("-3227.25")  # (100.35 - 150) x 65
    # STT 0.15% x 6,522.75 = 9.78 -> 10 (nearest rupee); brokerage 20 for the exercise; GST 18% x 20;
    # no exchange charge, SEBI fee or stamp duty on an exercise.
    c = s.charges
    assert (c.brokerage, c.stt, c.exchange_txn, c.sebi_fee, c.stamp_duty, c.gst) == (
        D("20.00"),
        D("10.00"),
        D("0.00"),
        D("0.00"),
        D("0.00"),
        D("3.60"),
    )
    assert s.net_cash_flow == D("6489.15")


def test_long_itm_put_is_exercised():
    s = settle_leg(leg(PE, BUY, 24000, 140), index="NIFTY", settlement_price=D("23900.50"))
    # 99.50 x 65 = 6,467.50; STT 0.15% = 9.70 -> 10.
    assert (s.outcome, s.exit_price, s.cash_flow, s.charges.stt) == (
        EXERCISED,
        D("99.50"),
        D("6467.50"),
        D("10.00"),
    )
    assert s.gross_pnl == D("-2632.50")


def test_short_itm_options_are_assigned_without_stt_or_charges():
    call = settle_leg(leg(CE, SELL, 24000, 150), index="NIFTY", settlement_price="24100.35")
    assert (call.outcome, call.exit_price, call.cash_flow, call.gross_pnl) == (
        ASSIGNED,
        D("100.35"),
        D("-6522.75"),
        D("3227.25"),
    )
    assert zero(call.charges) and call.net_cash_flow == D("-6522.75")
    put = settle_leg(leg(PE, SELL, 24000, 140), index="NIFTY", settlement_price="23900.50")
    assert (put.outcome, put.cash_flow, put.gross_pnl) == (ASSIGNED, D("-6467.50"), D("2632.50"))
    assert zero(put.charges)


@pytest.mark.parametrize(
    "kind, side, premium, price, gross",
    [
        (CE, BUY, 150, "23999.95", D("-9750.00")),
        (CE, SELL, 150, "23999.95", D("9750.00")),
        (PE, BUY, 140, "24000.05", D("-9100.00")),
        (PE, SELL, 140, "24000.05", D("9100.00")),
        (CE, BUY, 150, "24000", D("-9750.00")),  # exactly at the money: nothing to exercise
    ],
)
def test_otm_options_expire_worthless_with_no_cash_and_no_charges(kind, side, premium, price, gross):
    s = settle_leg(leg(kind, side, 24000, premium), index="NIFTY", settlement_price=price)
    assert (s.outcome, s.exit_price, s.cash_flow, s.gross_pnl) == (
        EXPIRED_WORTHLESS,
        D("0.00"),
        D("0.00"),
        gross,
    )
    assert str(s.cash_flow) == "0.00"
    assert zero(s.charges)


def test_futures_settle_at_the_settlement_price():
    long_ = settle_leg(leg(FUT, BUY, None, 24050), index="NIFTY", settlement_price="24100.35")
    # (24,100.35 - 24,050) x 65 = 3,272.75.
    assert (long_.outcome, long_.exit_price, long_.cash_flow, long_.gross_pnl) == (
        FUTURE_SETTLED,
        D("24100.35"),
        D("3272.75"),
        D("3272.75"),
    )
    assert zero(long_.charges)
    short = settle_leg(leg(FUT, SELL, None, 24050), index="NIFTY", settlement_price="23990")
    assert (short.cash_flow, short.gross_pnl) == (D("3900.00"), D("3900.00"))  # (24,050 - 23,990) x 65


def test_exercise_before_april_2026_uses_the_older_rate_and_matches_round_trip_charges():
    # 2025-12-30 monthly, lot 75: 100.35 x 75 = 7,526.25; STT 0.125% = 9.41 -> 9.
    s = settle_leg(
        leg(CE, BUY, 24000, 150, expiry=date(2025, 12, 30)), index="NIFTY", settlement_price="24100.35"
    )
    assert s.leg.quantity == 75 and s.cash_flow == D("7526.25") and s.charges.stt == D("9.00")
    # charges.round_trip_charges of the same position = entry charges + this settlement's charges.
    whole = round_trip_charges(
        side="LONG",
        entry_price="150",
        exit_price="100.35",
        quantity=75,
        entry_date=date(2025, 12, 29),
        exit_date=date(2025, 12, 30),
        exit_type="EXPIRY",
    )
    assert whole.stt == s.charges.stt  # no STT on a bought entry
    assert whole.brokerage == D("40.00") and s.charges.brokerage == D("20.00")


def test_bse_index_and_zero_brokerage_plan():
    s = settle_leg(
        priced_leg("SENSEX", CE, BUY, 80000, date(2026, 5, 7), 1, 300),
        index="SENSEX",
        settlement_price="80500",
        brokerage_per_order=0,
    )
    # 500 x 20 = 10,000; STT 0.15% = 15; no brokerage, so no GST.
    assert s.cash_flow == D("10000.00") and s.charges.stt == D("15.00") and s.charges.total == D("15.00")


def test_settle_combo_per_leg_and_per_expiry():
    iron_fly = [
        leg(CE, BUY, 24200, 70),
        leg(PE, BUY, 23800, 60),
        leg(CE, SELL, 24000, 150),
        leg(PE, SELL, 24000, 140),
    ]
    out = settle_combo(iron_fly, index="NIFTY", settlement_prices="24250")
    assert [s.outcome for s in out] == [EXERCISED, EXPIRED_WORTHLESS, ASSIGNED, EXPIRED_WORTHLESS]
    assert [s.cash_flow for s in out] == [D("3250.00"), D("0.00"), D("-16250.00"), D("0.00")]
    # Gross: credit 160 x 65 = 10,400 less the 200-point spread settled (50 - 250) x 65 = -13,000 -> -2,600.
    assert sum(s.gross_pnl for s in out) == D("-2600.00")
    calendar = [leg(CE, BUY, 24000, 260, expiry=date(2026, 5, 12)), leg(CE, SELL, 24000, 150)]
    out = settle_combo(calendar, index="NIFTY", settlement_prices={date(2026, 5, 12): "23900", EXP: "24010"})
    assert [s.outcome for s in out] == [EXPIRED_WORTHLESS, ASSIGNED]
    with pytest.raises(ValueError, match="leg 1: no settlement price for 2026-05-12"):
        settle_combo(calendar, index="NIFTY", settlement_prices={EXP: "24010"})
    with pytest.raises(ValueError, match="price per expiry"):
        settle_combo(calendar, index="NIFTY", settlement_prices="24010")
    with pytest.raises(ValueError, match="positive"):
        settle_leg(calendar[1], index="NIFTY", settlement_price="-1")
