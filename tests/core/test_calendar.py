"""Trading calendar: holidays from the CSV, trading-day arithmetic and the IST session."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, timedelta

import pytest

from trading.core import calendar as cal


def test_holidays_cover_2024_to_2026_on_both_exchanges():
    for exchange in ("NSE", "BSE"):
        assert {2024, 2025, 2026} <= cal.holiday_years(exchange)
    nse = cal.holidays("NSE")
    # Spot checks from the exchange lists, including the special closures.
    for d in (
        date(2024, 1, 22),
        date(2024, 11, 20),
        date(2025, 10, 21),
        date(2026, 1, 15),
        date(2026, 3, 31),
    ):
        assert d in nse
    assert cal.holidays("BFO") == cal.holidays("BSE")


def test_csv_lists_weekdays_only_and_both_exchanges_agree():
    with cal.HOLIDAYS_CSV.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows, "holiday CSV is empty"
    for row in rows:
        assert date.fromisoformat(row["date"]).weekday() < 5, row
        assert row["description"].strip(), row
    # NSE and BSE published the same equity-derivatives holidays for 2024-2026.
    assert cal.holidays("NSE") == cal.holidays("BSE")


def test_is_trading_day():
    assert cal.is_trading_day(date(2025, 10, 20))  # Monday
    assert not cal.is_trading_day(date(2025, 10, 21))  # Diwali Laxmi Pujan
    assert not cal.is_trading_day(date(2025, 10, 25))  # Saturday
    assert not cal.is_trading_day(date(2026, 1, 15), "BSE")  # Maharashtra civic polls


def test_next_and_previous_are_strict():
    # 2025-10-21 and 10-22 are holidays: Mon 20 -> Thu 23 and back.
    assert cal.next_trading_day(date(2025, 10, 20)) == date(2025, 10, 23)
    assert cal.previous_trading_day(date(2025, 10, 23)) == date(2025, 10, 20)
    assert cal.next_trading_day(date(2025, 10, 17)) == date(2025, 10, 20)  # Friday -> Monday
    assert cal.previous_trading_day(date(2025, 10, 20)) == date(2025, 10, 17)


def test_trading_days_inclusive():
    assert cal.trading_days(date(2025, 10, 17), date(2025, 10, 23)) == [
        date(2025, 10, 17),
        date(2025, 10, 20),
        date(2025, 10, 23),
    ]
    assert cal.trading_days(date(2025, 10, 23), date(2025, 10, 23)) == [date(2025, 10, 23)]
    assert cal.trading_days(date(2025, 10, 24), date(2025, 10, 23)) == []


def test_session_times_are_aware_ist():
    d = date(2025, 11, 11)
    op, cl = cal.session_open(d), cal.session_close(d)
    assert op.utcoffset() == cl.utcoffset() == timedelta(hours=5, minutes=30)
    assert op.astimezone(UTC) == datetime(2025, 11, 11, 3, 45, tzinfo=UTC)
    assert cl.astimezone(UTC) == datetime(2025, 11, 11, 10, 0, tzinfo=UTC)


def test_ist_date():
    assert cal.ist_date(datetime(2025, 1, 1, 20, 0, tzinfo=UTC)) == date(2025, 1, 2)  # 01:30 IST
    assert cal.ist_date(datetime(2025, 1, 1, 18, 29, tzinfo=UTC)) == date(2025, 1, 1)  # 23:59 IST
    with pytest.raises(ValueError, match="naive"):
        cal.ist_date(datetime(2025, 1, 1, 12, 0))


def test_is_in_session():
    d = date(2025, 11, 11)
    ist = cal.IST
    assert cal.is_in_session(datetime(2025, 11, 11, 9, 15, tzinfo=ist))
    assert not cal.is_in_session(datetime(2025, 11, 11, 9, 14, 59, tzinfo=ist))
    assert cal.is_in_session(datetime(2025, 11, 11, 15, 29, 59, tzinfo=ist))
    assert not cal.is_in_session(cal.session_close(d))
    assert cal.is_in_session(datetime(2025, 11, 11, 4, 0, tzinfo=UTC))  # 09:30 IST
    assert not cal.is_in_session(datetime(2025, 10, 21, 10, 0, tzinfo=ist))  # holiday
    assert not cal.is_in_session(datetime(2025, 11, 15, 10, 0, tzinfo=ist))  # Saturday


def test_unknown_exchange():
    with pytest.raises(ValueError, match="unknown exchange"):
        cal.is_trading_day(date(2025, 1, 1), "MCX")


def test_trading_days_from_counts_sessions_across_weekends_and_holidays():
    # 2025-02-26 (Mahashivratri) is an NSE holiday: from Tue 25 Feb, five sessions skip it and the weekend.
    days = cal.trading_days_from(date(2025, 2, 25), 5)
    assert days == [
        date(2025, 2, 25),
        date(2025, 2, 27),
        date(2025, 2, 28),
        date(2025, 3, 3),
        date(2025, 3, 4),
    ]
