"""Contracts: expiry schedules across the 2024-2025 changes, holiday shifts, lot sizes, symbols."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from trading.core import contracts as c
from trading.core.contracts import FRI, MON, THU, TUE, WED

D = date


# --- expiry weekdays and listings --------------------------------------------------------------------


def test_weekly_weekdays_per_domain():
    assert c.weekly_expiry_weekday("NIFTY", D(2025, 8, 28)) == THU
    assert c.weekly_expiry_weekday("NIFTY", D(2025, 9, 2)) == TUE
    assert c.weekly_expiry_weekday("SENSEX", D(2024, 12, 27)) == FRI
    assert c.weekly_expiry_weekday("SENSEX", D(2025, 1, 7)) == TUE
    assert c.weekly_expiry_weekday("SENSEX", D(2025, 9, 4)) == THU
    assert c.weekly_expiry_weekday("BANKNIFTY", D(2024, 11, 13)) == WED
    assert c.weekly_expiry_weekday("FINNIFTY", D(2024, 11, 19)) == TUE
    assert c.weekly_expiry_weekday("MIDCPNIFTY", D(2024, 11, 18)) == MON
    for index in ("BANKNIFTY", "FINNIFTY", "MIDCPNIFTY"):
        assert c.weekly_expiry_weekday(index, D(2024, 11, 20)) is None
        assert c.monthly_expiry_weekday(index, D(2025, 8, 1)) == THU
        assert c.monthly_expiry_weekday(index, D(2025, 9, 15)) == TUE


def test_nifty_listing_across_thursday_to_tuesday_switch():
    # Mon 2025-08-25: the Aug monthly (last Thursday, 28th), then Tuesday weeklies from Sep 2;
    # Sep 30 is the last Tuesday of September, so monthly; 4 weeklies + 3 monthlies.
    assert c.expiries("NIFTY", D(2025, 8, 25)) == [
        D(2025, 8, 28),
        D(2025, 9, 2),
        D(2025, 9, 9),
        D(2025, 9, 16),
        D(2025, 9, 23),
        D(2025, 9, 30),
        D(2025, 10, 28),
    ]
    assert c.expiries("NIFTY", D(2025, 8, 25), count=2) == [D(2025, 8, 28), D(2025, 9, 2)]


def test_monthly_expiries():
    assert c.monthly_expiry("NIFTY", 2025, 8) == D(2025, 8, 28)  # last Thursday
    assert c.monthly_expiry("NIFTY", 2025, 9) == D(2025, 9, 30)  # last Tuesday
    assert c.monthly_expiry("BANKNIFTY", 2024, 11) == D(2024, 11, 27)  # last Wednesday
    assert c.monthly_expiry("BANKNIFTY", 2025, 1) == D(2025, 1, 30)  # last Thursday
    assert c.monthly_expiry("FINNIFTY", 2024, 12) == D(2024, 12, 31)  # last Tuesday
    assert c.monthly_expiry("MIDCPNIFTY", 2024, 12) == D(2024, 12, 30)  # last Monday
    assert c.monthly_expiry("SENSEX", 2024, 12) == D(2024, 12, 27)  # last Friday
    assert c.monthly_expiry("SENSEX", 2025, 1) == D(2025, 1, 28)  # last Tuesday
    assert c.monthly_expiry("SENSEX", 2025, 9) == D(2025, 9, 25)  # last Thursday


def test_sensex_listing_keeps_the_last_friday_weekly():
    # BSE: the 2025-01-03 weekly kept Friday; Tuesdays from 2025-01-07, monthly last Tuesday 01-28.
    assert c.expiries("SENSEX", D(2024, 12, 30)) == [
        D(2025, 1, 3),
        D(2025, 1, 7),
        D(2025, 1, 14),
        D(2025, 1, 21),
        D(2025, 1, 28),
        D(2025, 2, 25),
        D(2025, 3, 25),
    ]


def test_indices_without_weeklies_list_monthlies_only():
    # BANKNIFTY on 2024-11-01: the last two Wednesday weeklies (6th, 13th), then monthlies; the
    # Dec-2024 monthly (Wed 25th, Christmas) moves to Tue 24th.
    assert c.expiries("BANKNIFTY", D(2024, 11, 1)) == [
        D(2024, 11, 6),
        D(2024, 11, 13),
        D(2024, 11, 27),
        D(2024, 12, 24),
        D(2025, 1, 30),
    ]
    assert c.expiries("FINNIFTY", D(2025, 6, 2)) == [D(2025, 6, 26), D(2025, 7, 31), D(2025, 8, 28)]
    assert c.nearest_weekly("BANKNIFTY", D(2025, 6, 2)) == D(2025, 6, 26)


@pytest.mark.parametrize(
    ("index", "on", "nominal", "expected"),
    [
        ("NIFTY", D(2024, 4, 8), D(2024, 4, 11), D(2024, 4, 10)),  # Thu Id-Ul-Fitr -> Wed
        ("NIFTY", D(2025, 10, 15), D(2025, 10, 21), D(2025, 10, 20)),  # Tue Diwali -> Mon
        ("NIFTY", D(2026, 2, 27), D(2026, 3, 3), D(2026, 3, 2)),  # Tue Holi -> Mon
        ("SENSEX", D(2026, 1, 12), D(2026, 1, 15), D(2026, 1, 14)),  # Thu civic polls -> Wed (BSE circular)
    ],
)
def test_holiday_expiry_moves_to_previous_trading_day(index, on, nominal, expected):
    listed = c.expiries(index, on)
    assert nominal not in listed
    assert expected in listed
    assert c.nearest_weekly(index, on) == expected


def test_holiday_monthly_expiry_keeps_monthly_status():
    # Tue 2026-03-31 (Mahavir Jayanti) is the last Tuesday of March: the monthly expires Mon 30th.
    assert c.monthly_expiry("NIFTY", 2026, 3) == D(2026, 3, 30)
    assert c.is_monthly_expiry("NIFTY", D(2026, 3, 30))
    assert not c.is_monthly_expiry("NIFTY", D(2026, 3, 24))
    assert c.tradingsymbol("NIFTY", D(2026, 3, 30), 22000, "PE") == "NIFTY26MAR22000PE"
    assert c.parse_tradingsymbol("NIFTY26MAR22000PE").expiry == D(2026, 3, 30)


def test_expiry_is_alive_on_its_day_and_gone_after():
    assert c.expiries("NIFTY", D(2025, 9, 2))[0] == D(2025, 9, 2)
    assert c.expiries("NIFTY", D(2025, 9, 3))[0] == D(2025, 9, 9)
    # On the holiday itself the moved expiry (the day before) is already over.
    assert c.nearest_weekly("NIFTY", D(2025, 10, 21)) == D(2025, 10, 28)


def test_nearest_weekly_and_current_monthly():
    assert c.nearest_weekly("NIFTY", D(2025, 8, 29)) == D(2025, 9, 2)
    assert c.current_monthly("NIFTY", D(2025, 8, 28)) == D(2025, 8, 28)
    assert c.current_monthly("NIFTY", D(2025, 8, 29)) == D(2025, 9, 30)
    assert c.current_monthly("NIFTY", D(2025, 12, 31)) == D(2026, 1, 27)


def test_all_expiries_range():
    assert c.all_expiries("NIFTY", D(2025, 8, 20), D(2025, 9, 10)) == [
        D(2025, 8, 21),
        D(2025, 8, 28),
        D(2025, 9, 2),
        D(2025, 9, 9),
    ]


# --- lot sizes, steps, freeze, rate ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("index", "expiry", "lot"),
    [
        ("NIFTY", D(2024, 4, 25), 50),
        ("NIFTY", D(2024, 5, 2), 25),
        ("NIFTY", D(2024, 12, 19), 25),  # last 25-lot weekly
        ("NIFTY", D(2024, 12, 26), 25),  # Dec-2024 monthly
        ("NIFTY", D(2025, 1, 2), 75),  # first 75-lot weekly
        ("NIFTY", D(2025, 1, 30), 25),  # Jan-2025 monthly was listed before 2024-11-20
        ("NIFTY", D(2025, 2, 27), 75),  # first 75-lot monthly
        ("NIFTY", D(2025, 12, 23), 75),  # last 75-lot weekly
        ("NIFTY", D(2025, 12, 30), 75),  # last 75-lot monthly
        ("NIFTY", D(2026, 1, 6), 65),  # first 65-lot weekly
        ("NIFTY", D(2026, 1, 27), 65),
        ("BANKNIFTY", D(2025, 1, 30), 15),
        ("BANKNIFTY", D(2025, 2, 27), 30),
        ("BANKNIFTY", D(2025, 6, 26), 30),
        ("BANKNIFTY", D(2025, 7, 31), 35),
        ("BANKNIFTY", D(2025, 12, 30), 35),
        ("BANKNIFTY", D(2026, 1, 27), 30),
        ("FINNIFTY", D(2024, 7, 23), 40),
        ("FINNIFTY", D(2024, 7, 30), 25),
        ("FINNIFTY", D(2025, 2, 27), 65),
        ("FINNIFTY", D(2026, 1, 27), 60),
        ("MIDCPNIFTY", D(2024, 7, 29), 50),
        ("MIDCPNIFTY", D(2025, 2, 27), 120),
        ("MIDCPNIFTY", D(2025, 7, 31), 140),
        ("MIDCPNIFTY", D(2026, 1, 27), 120),
        ("SENSEX", D(2025, 1, 3), 10),
        ("SENSEX", D(2025, 1, 7), 20),
        ("SENSEX", D(2025, 1, 28), 10),  # Jan-2025 monthly, listed before the revision
        ("SENSEX", D(2025, 2, 25), 20),
        ("SENSEX", D(2026, 1, 14), 20),
    ],
)
def test_lot_size_follows_the_series(index, expiry, lot):
    assert c.lot_size(index, expiry) == lot


def test_december_2025_lots_side_by_side():
    listed = c.expiries("NIFTY", D(2025, 12, 1))
    lots = {e: c.lot_size("NIFTY", e) for e in listed}
    assert {lot for e, lot in lots.items() if e.year == 2025} == {75}
    assert {lot for e, lot in lots.items() if e.year == 2026} == {65}


def test_specs_steps_freeze_and_rates():
    assert c.INDICES["SENSEX"].fo_exchange == "BFO" and c.INDICES["SENSEX"].exchange == "BSE"
    assert c.INDICES["NIFTY"].fo_exchange == "NFO" and c.INDICES["NIFTY"].tick_size == 0.05
    assert [c.strike_step(i, D(2026, 1, 1)) for i in c.INDICES] == [50, 100, 50, 25, 100]
    # FINNIFTY 1,200 from 2025-12-01 (NSE circular 2025-11-28); dated cases in test_dated_freeze.py.
    assert [c.freeze_quantity(i, D(2026, 1, 1)) for i in c.INDICES] == [1800, 600, 1200, 2800, 1000]
    assert c.max_lots_per_order("NIFTY", D(2026, 1, 27), D(2026, 1, 5)) == 27  # 1800 // 65
    assert c.repo_rate(D(2025, 12, 5)) == 0.0525
    assert c.risk_free_rate(D(2026, 1, 15)) == pytest.approx(0.055)
    assert c.risk_free_rate(D(2025, 12, 4)) == pytest.approx(0.0575)  # repo 5.50% + 0.25
    assert c.risk_free_rate(D(2025, 5, 1)) == pytest.approx(0.0625)  # repo 6.00%
    assert c.risk_free_rate(D(2025, 3, 1)) == pytest.approx(0.065)  # repo 6.25%
    assert c.risk_free_rate(D(2024, 6, 1)) == pytest.approx(0.0675)  # repo 6.50%


def test_unknown_index_is_a_value_error():
    with pytest.raises(ValueError, match="unknown index"):
        c.lot_size("NIFTYNXT50", D(2025, 1, 30))
    assert c.lot_size("nifty", D(2026, 1, 27)) == 65


# --- trading symbols ---------------------------------------------------------------------------------


def test_domain_symbol_examples_both_ways():
    # 2025-11-25 is the last Tuesday of Nov-2025 (monthly form); 2025-11-11 a weekly.
    assert c.tradingsymbol("NIFTY", D(2025, 11, 25), 24000, "CE") == "NIFTY25NOV24000CE"
    assert c.tradingsymbol("NIFTY", D(2025, 11, 11), 24500.0, "CE") == "NIFTY25N1124500CE"
    assert c.parse_tradingsymbol("NIFTY25NOV24000CE") == ("NIFTY", D(2025, 11, 25), Decimal(24000), "CE")
    assert c.parse_tradingsymbol("NIFTY25N1124500CE") == ("NIFTY", D(2025, 11, 11), Decimal(24500), "CE")


@pytest.mark.parametrize(
    ("index", "expiry", "strike", "ot", "symbol"),
    [
        ("NIFTY", D(2025, 9, 2), 24500, "PE", "NIFTY2590224500PE"),  # digit month, zero-padded day
        ("NIFTY", D(2025, 10, 20), 25000, "CE", "NIFTY25O2025000CE"),
        ("NIFTY", D(2025, 12, 23), 26000, "PE", "NIFTY25D2326000PE"),
        ("SENSEX", D(2026, 1, 14), 84000, "CE", "SENSEX2611484000CE"),
        ("SENSEX", D(2026, 1, 29), 84000, "CE", "SENSEX26JAN84000CE"),
        ("BANKNIFTY", D(2025, 1, 30), 50000, "PE", "BANKNIFTY25JAN50000PE"),
        ("MIDCPNIFTY", D(2026, 1, 27), 13025, "CE", "MIDCPNIFTY26JAN13025CE"),
    ],
)
def test_symbols_round_trip(index, expiry, strike, ot, symbol):
    assert c.tradingsymbol(index, expiry, strike, ot) == symbol
    parsed = c.parse_tradingsymbol(symbol)
    assert (parsed.index, parsed.expiry, parsed.strike, parsed.option_type) == (index, expiry, strike, ot)


def test_every_listed_contract_round_trips():
    for index in c.INDICES:
        for on in (D(2024, 11, 4), D(2025, 8, 25), D(2026, 3, 2)):
            for e in c.expiries(index, on):
                assert c.parse_tradingsymbol(c.tradingsymbol(index, e, 1000, "PE")).expiry == e


def test_parse_accepts_exchange_prefix_and_case():
    assert c.parse_tradingsymbol("NFO:nifty25nov24000ce").expiry == D(2025, 11, 25)
    assert c.tradingsymbol("NIFTY", D(2025, 11, 11), 24512.5, "CE") == "NIFTY25N1124512.5CE"
    assert c.parse_tradingsymbol("NIFTY25N1124512.5CE").strike == Decimal("24512.5")


@pytest.mark.parametrize(
    ("symbol", "message"),
    [
        ("", "bad option symbol"),
        ("NIFTY25NOV24000XE", "bad option symbol"),
        ("NIFTY25XYZ24000CE", "bad option symbol"),
        ("FOO25NOV100CE", "bad option symbol"),
        ("NIFTYNXT5025NOV100CE", "bad option symbol"),
        ("NIFTY25NOVCE", "bad option symbol"),
        ("NIFTY25N3124500CE", "not a date"),  # 31 November
        ("NIFTY25NOV0CE", "strike must be positive"),
    ],
)
def test_parse_errors(symbol, message):
    with pytest.raises(ValueError, match=message):
        c.parse_tradingsymbol(symbol)


def test_tradingsymbol_errors():
    with pytest.raises(ValueError, match="option type"):
        c.tradingsymbol("NIFTY", D(2025, 11, 25), 24000, "XX")
    with pytest.raises(ValueError, match="positive"):
        c.tradingsymbol("NIFTY", D(2025, 11, 25), -50, "CE")
    with pytest.raises(ValueError, match="unknown index"):
        c.tradingsymbol("DOW", D(2025, 11, 25), 24000, "CE")
