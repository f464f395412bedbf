"""The NSE transaction charge with its IPFT levy across 2023-04-01 and 2024-10-01, and index futures as
an instrument with their own dated charges - every figure worked by hand in the comments."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from trading.core import charges as ch
from trading.core import contracts as c
from trading.core.charges import FUTURE, OPTION, fill_charges, round_trip_charges


def test_option_transaction_charge_either_side_of_2024_10_01_includes_ipft():
    # BUY 75 @ 123.45 = 9,258.75 of premium.
    # 2024-09-30: 0.0495% fee + 0.0005% IPFT = 0.0500%: 4.58308 + 0.04629 = 4.629375 -> 4.63
    #             (without the IPFT it would be 4.58).
    # 2024-10-01: 0.03503% fee + 0.0005% IPFT = 0.03553%: 3.243290 + 0.046294 = 3.289634 -> 3.29
    before = fill_charges(side="BUY", price="123.45", quantity=75, on=date(2024, 9, 30))
    after = fill_charges(side="BUY", price="123.45", quantity=75, on=date(2024, 10, 1))
    assert before.exchange_txn == D("4.63")
    assert after.exchange_txn == D("3.29")
    # GST 18% of (20 + 4.63 + 0.01) = 4.4352 -> 4.44; of (20 + 3.29 + 0.01) = 4.194 -> 4.19
    assert before.gst == D("4.44") and after.gst == D("4.19")


def test_ipft_starts_on_2023_04_01():
    # BUY 100 @ 100 = 10,000 of premium. 2023-03-31: 0.053% (no IPFT levy to speak of) = 5.30;
    # 2023-04-03: 0.0495% + 0.0005% = 0.0500% = 5.00.
    assert fill_charges(side="BUY", price="100", quantity=100, on=date(2023, 3, 31)).exchange_txn == D("5.30")
    assert fill_charges(side="BUY", price="100", quantity=100, on=date(2023, 4, 3)).exchange_txn == D("5.00")
    # The published components add up to the rates charged.
    assert ch.rate_on(ch.EXCHANGE_TXN["NSE"], date(2024, 9, 30)) == D("0.000495") + D("0.000005")
    assert ch.rate_on(ch.EXCHANGE_TXN["NSE"], date(2024, 10, 1)) == D("0.0003503") + D("0.000005")
    assert ch.rate_on(ch.FUT_EXCHANGE_TXN["NSE"], date(2024, 10, 1)) == D("0.0000173") + D("0.000001")


def test_nifty_future_round_trip_in_may_2026():
    # 1 lot of the May-2026 NIFTY future (expiry Tue 2026-05-26, lot 65), bought at 24,000 and sold at
    # 24,100 on 2026-05-05.
    expiry = c.future_expiries("NIFTY", date(2026, 5, 5))[0]
    assert expiry == date(2026, 5, 26)
    lot = c.future_lot_size("NIFTY", expiry)
    assert lot == 65
    # buy value 24,000 x 65 = 15,60,000; sell value 24,100 x 65 = 15,66,500; total 31,26,500
    # brokerage 2 x 20                                  = 40.00
    # STT 0.05% x 15,66,500 = 783.25 -> nearest rupee  = 783.00
    # NSE 0.00173% + IPFT 0.0001% = 0.00183% x 31,26,500 = 57.21495 -> 57.21
    # SEBI 0.0001% x 31,26,500 = 3.1265                 -> 3.13
    # stamp 0.002% x 15,60,000                          = 31.20
    # GST 18% x (40 + 57.21 + 3.13 = 100.34) = 18.0612  -> 18.06
    # total 932.60; gross 100 x 65 = 6,500.00; net 5,567.40
    charged = round_trip_charges(
        side="LONG",
        entry_price="24000",
        exit_price="24100",
        quantity=lot,
        entry_date=date(2026, 5, 5),
        exit_date=date(2026, 5, 5),
        instrument=FUTURE,
    )
    assert (charged.brokerage, charged.stt, charged.exchange_txn) == (D("40.00"), D("783.00"), D("57.21"))
    assert (charged.sebi_fee, charged.stamp_duty, charged.gst) == (D("3.13"), D("31.20"), D("18.06"))
    assert charged.total == D("932.60")
    assert (D("24100") - D("24000")) * lot - charged.total == D("5567.40")
    assert c.future_tradingsymbol("NIFTY", expiry) == "NIFTY26MAYFUT"


@pytest.mark.parametrize(
    ("on", "stt", "txn"),
    [
        # SELL 1 unit at 2,00,000: STT and the NSE charge (fee + IPFT) on that value.
        (date(2023, 3, 31), "20.00", "4.00"),  # STT 0.01%; 0.002%
        (date(2023, 4, 3), "25.00", "3.96"),  # STT 0.0125%; 0.00188% + 0.0001% = 0.00198%
        (date(2024, 9, 30), "25.00", "3.96"),
        (date(2024, 10, 1), "40.00", "3.66"),  # STT 0.02%; 0.00173% + 0.0001% = 0.00183%
        (date(2026, 3, 31), "40.00", "3.66"),
        (date(2026, 4, 1), "100.00", "3.66"),  # STT 0.05% (Finance Act 2026)
    ],
)
def test_future_stt_and_transaction_charge_by_date(on, stt, txn):
    charged = fill_charges(side="SELL", price="200000", quantity=1, on=on, instrument=FUTURE)
    assert (charged.stt, charged.exchange_txn, charged.stamp_duty) == (D(stt), D(txn), D("0.00"))


def test_future_buy_pays_stamp_at_the_futures_rate_and_bse_futures_have_no_exchange_charge():
    # BUY 20 SENSEX futures at 80,000 = 16,00,000: stamp 0.002% = 32.00; BSE fee 0; SEBI 1.60.
    charged = fill_charges(
        side="BUY", price="80000", quantity=20, on=date(2026, 5, 5), exchange="BSE", instrument="future"
    )
    assert (charged.stamp_duty, charged.exchange_txn, charged.sebi_fee, charged.stt) == (
        D("32.00"),
        D("0.00"),
        D("1.60"),
        D("0.00"),
    )


def test_future_held_to_expiry_has_no_exit_charges():
    entry_only = fill_charges(side="BUY", price="24000", quantity=65, on=date(2026, 5, 5), instrument=FUTURE)
    settled = round_trip_charges(
        side="LONG",
        entry_price="24000",
        exit_price="24300",
        quantity=65,
        entry_date=date(2026, 5, 5),
        exit_date=date(2026, 5, 26),
        exit_type="EXPIRY",
        instrument=FUTURE,
    )
    assert settled == entry_only


def test_option_api_is_unchanged_and_instruments_are_checked():
    args = dict(
        side="LONG",
        entry_price="100",
        exit_price="120",
        quantity=65,
        entry_date=date(2026, 5, 5),
        exit_date=date(2026, 5, 5),
    )
    assert round_trip_charges(**args) == round_trip_charges(**args, instrument=OPTION)
    assert round_trip_charges(**args).total == D("65.41")  # DOMAIN.md's worked example
    with pytest.raises(ValueError, match="unknown instrument"):
        round_trip_charges(**args, instrument="SWAP")
    with pytest.raises(ValueError, match="cannot be exercised"):
        ch.charges_for_legs([ch.Leg("SELL", D("10"), 65, date(2026, 5, 5), exercise=True)], instrument=FUTURE)
