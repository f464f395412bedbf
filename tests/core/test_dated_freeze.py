"""Freeze quantities are dated like lot sizes: each NSE revision on both sides of its effective date."""

from __future__ import annotations

from datetime import date

import pytest

from trading.core import contracts as c

D = date


@pytest.mark.parametrize(
    ("index", "day_before", "effective", "before", "after"),
    [
        ("BANKNIFTY", D(2025, 8, 29), D(2025, 9, 1), 600, 900),  # NSE circular 2025-08-29
        ("BANKNIFTY", D(2025, 10, 31), D(2025, 11, 3), 900, 600),  # NSE circular 2025-10-31
        ("FINNIFTY", D(2025, 11, 28), D(2025, 12, 1), 1800, 1200),  # NSE circular 2025-11-28
    ],
)
def test_each_revision_applies_from_its_effective_date(index, day_before, effective, before, after):
    assert c.freeze_quantity(index, day_before) == before
    assert c.freeze_quantity(index, effective) == after
    assert c.freeze_quantity(index, on=effective) == after  # keyword form of the same signature


def test_banknifty_600_from_july_2025_and_earlier_dates_use_the_first_row():
    assert c.freeze_quantity("BANKNIFTY", D(2025, 7, 1)) == 600
    assert c.freeze_quantity("BANKNIFTY", D(2025, 8, 31)) == 600
    # Before 2025-07-01 the table has no row: the first one (600) is used - smaller than the 900 of
    # the earlier NSE revisions, so orders only split more.
    assert c.freeze_quantity("BANKNIFTY", D(2025, 3, 3)) == 600


def test_unchanged_limits():
    for day in (D(2024, 6, 3), D(2025, 9, 1), D(2026, 5, 5)):
        assert c.freeze_quantity("NIFTY", day) == 1800
        assert c.freeze_quantity("MIDCPNIFTY", day) == 2800
        assert c.freeze_quantity("SENSEX", day) == 1000


def test_max_lots_per_order_follow_the_order_date_and_the_contract_lot():
    # BANKNIFTY Sep-2025 monthly (30th), lot 35 (the Jul-Dec 2025 series): 600 // 35 = 17 lots on
    # 2025-08-29, 900 // 35 = 25 lots from 2025-09-01.
    assert c.lot_size("BANKNIFTY", D(2025, 9, 30)) == 35
    assert c.max_lots_per_order("BANKNIFTY", D(2025, 9, 30), D(2025, 8, 29)) == 17
    assert c.max_lots_per_order("BANKNIFTY", D(2025, 9, 30), D(2025, 9, 1)) == 25
    # FINNIFTY Dec-2025 monthly (30th), lot 65: 1800 // 65 = 27 on 2025-11-28, 1200 // 65 = 18 from 12-01.
    assert c.max_lots_per_order("FINNIFTY", D(2025, 12, 30), D(2025, 11, 28)) == 27
    assert c.max_lots_per_order("FINNIFTY", D(2025, 12, 30), D(2025, 12, 1)) == 18
