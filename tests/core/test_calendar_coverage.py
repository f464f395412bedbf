"""Calendar coverage (final / provisional / uncovered years), the 2027 list, special sessions, and the
monthly symbol of an expiry taken from the broker's instrument master."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, time

import pytest

from trading.core import calendar as cal
from trading.core import contracts as c

IST = cal.IST


def _at(d: date, hh: int, mm: int) -> datetime:
    return datetime.combine(d, time(hh, mm), tzinfo=IST)


# --- 2027 ----------------------------------------------------------------------------------------------


def test_january_2027_monthly_is_monday_the_25th():
    # Last Tuesday of January 2027 is the 26th (Jan 1 2027 is a Friday: Tuesdays 5, 12, 19, 26),
    # Republic Day: the monthly moves back to Monday the 25th.
    assert date(2027, 1, 26).weekday() == 1 and date(2027, 1, 25).weekday() == 0
    assert not cal.is_trading_day(date(2027, 1, 26))
    assert c.monthly_expiry("NIFTY", 2027, 1) == date(2027, 1, 25)
    assert c.is_monthly_expiry("NIFTY", date(2027, 1, 25))
    assert c.tradingsymbol("NIFTY", date(2027, 1, 25), 26000, "CE") == "NIFTY27JAN26000CE"
    assert c.parse_tradingsymbol("NIFTY27JAN26000CE").expiry == date(2027, 1, 25)
    # Listed on 2027-01-18: weekly 19th, monthly 25th, then the weeklies of February.
    assert c.expiries("NIFTY", date(2027, 1, 18))[:3] == [
        date(2027, 1, 19),
        date(2027, 1, 25),
        date(2027, 2, 2),
    ]
    assert c.future_expiries("NIFTY", date(2027, 1, 1), count=1) == [date(2027, 1, 25)]


def test_2027_is_provisional_with_only_the_fixed_date_holidays_on_weekdays():
    fixed = [date(2027, 1, 26), date(2027, 5, 1), date(2027, 8, 15), date(2027, 10, 2), date(2027, 12, 25)]
    on_weekdays = {d for d in fixed if d.weekday() < 5}
    assert on_weekdays == {date(2027, 1, 26)}  # the others fall on a Saturday or a Sunday
    for exchange in ("NSE", "BSE", "NFO", "BFO"):
        assert cal.year_status(2027, exchange) == cal.PROVISIONAL
        assert {d for d in cal.holidays(exchange) if d.year == 2027} == on_weekdays
        assert "2026-12-05" in cal.year_source(2027, exchange)
        assert 2027 in cal.covered_years(exchange)


def test_every_holiday_row_names_its_source_and_its_year_is_declared():
    with cal.HOLIDAYS_CSV.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        assert row["source"].strip(), row
        assert int(row["date"][:4]) in cal.covered_years(row["exchange"]), row
        if row["date"].startswith("2027"):
            assert row["source"].startswith("PROVISIONAL"), row


# --- covered, provisional, refused -------------------------------------------------------------------


@pytest.mark.parametrize("year", [2024, 2025, 2026])
def test_published_years_are_final(year):
    for exchange in ("NSE", "BSE"):
        assert cal.year_status(year, exchange) == cal.FINAL
        assert cal.ensure_covered(date(year, 6, 30), exchange, live=True) == cal.FINAL
        assert not cal.live_must_refuse(date(year, 6, 30), exchange, expiries_from_broker=False)


def test_provisional_year_is_allowed_in_paper_and_refused_in_live_without_broker_expiries():
    d = date(2027, 3, 30)
    assert cal.is_covered(d) and cal.is_provisional(d)
    assert cal.ensure_covered(d) == cal.PROVISIONAL  # PAPER / backtest
    assert cal.ensure_covered(d, live=True, expiries_from_broker=True) == cal.PROVISIONAL
    assert cal.live_must_refuse(d, expiries_from_broker=False)
    assert not cal.live_must_refuse(d, expiries_from_broker=True)
    with pytest.raises(cal.CalendarProvisional, match="PROVISIONAL") as info:
        cal.ensure_covered(d, live=True)
    assert "instrument master" in str(info.value) and "holidays.csv" in str(info.value)


def test_uncovered_year_is_refused_naming_the_files_to_update():
    d = date(2028, 1, 25)
    assert not cal.is_covered(d)
    assert cal.year_status(2028) == cal.UNCOVERED
    assert cal.live_must_refuse(d, expiries_from_broker=True)  # even with the broker's expiries
    for kwargs in ({}, {"live": True}, {"live": True, "expiries_from_broker": True}):
        with pytest.raises(cal.CalendarNotCovered) as info:
            cal.ensure_covered(d, **kwargs)
        message = str(info.value)
        assert "2028" in message and "calendar_years.csv" in message and "holidays.csv" in message
        assert info.value.year == 2028 and info.value.exchange == "NSE"
    # The guard for contract selection uses the index's exchange: BSE for SENSEX.
    with pytest.raises(cal.CalendarNotCovered, match="BSE"):
        c.ensure_calendar_covers("SENSEX", date(2028, 1, 27))
    assert c.ensure_calendar_covers("NIFTY", date(2027, 1, 25)) == cal.PROVISIONAL
    with pytest.raises(cal.CalendarProvisional):
        c.ensure_calendar_covers("NIFTY", date(2027, 1, 25), live=True)
    # The refusal is a LookupError, not a ValueError a caller might take for bad user input.
    assert issubclass(cal.CalendarProvisional, cal.CalendarNotCovered)
    assert issubclass(cal.CalendarNotCovered, LookupError)


# --- special sessions ------------------------------------------------------------------------------


def test_saturday_budget_session_2025_is_a_full_trading_day():
    d = date(2025, 2, 1)
    assert d.weekday() == 5
    day = cal.session_hours(d)
    assert day.kind == cal.SPECIAL and day.is_open
    assert day.windows == ((_at(d, 9, 15), _at(d, 15, 30)),)
    assert "Budget" in day.description and day.source
    assert cal.is_trading_day(d) and cal.is_trading_day(d, "BSE")
    assert cal.is_in_session(_at(d, 11, 0))
    assert not cal.is_in_session(_at(d, 15, 30))
    assert cal.next_trading_day(date(2025, 1, 31)) == d
    assert cal.is_trading_day(date(2026, 2, 1))  # the Sunday budget session of 2026


def test_muhurat_hour_is_a_session_on_a_holiday_but_not_a_trading_day():
    d = date(2025, 10, 21)  # Diwali Laxmi Pujan, a listed holiday
    assert not cal.is_trading_day(d)
    day = cal.session_hours(d, "BSE")
    assert day.kind == cal.SPECIAL
    assert day.windows == ((_at(d, 13, 45), _at(d, 14, 45)),)
    assert cal.is_in_session(_at(d, 13, 45)) and cal.is_in_session(_at(d, 14, 44))
    assert not cal.is_in_session(_at(d, 10, 0)) and not cal.is_in_session(_at(d, 14, 45))
    # 2024: the evening hour, 18:00-19:00 IST = 12:30-13:30 UTC.
    assert cal.is_in_session(datetime(2024, 11, 1, 12, 45, tzinfo=UTC))
    assert not cal.is_in_session(datetime(2024, 11, 1, 4, 0, tzinfo=UTC))  # 09:30 IST
    # The expiry that fell on Diwali 2025 still moved to the day before.
    assert c.nearest_weekly("NIFTY", date(2025, 10, 15)) == date(2025, 10, 20)


def test_dr_drill_day_has_two_windows():
    d = date(2024, 3, 2)
    day = cal.session_hours(d)
    assert day.windows == ((_at(d, 9, 15), _at(d, 10, 0)), (_at(d, 11, 30), _at(d, 12, 30)))
    assert cal.is_in_session(_at(d, 9, 30)) and cal.is_in_session(_at(d, 12, 0))
    assert not cal.is_in_session(_at(d, 10, 30))
    assert not cal.is_trading_day(d)
    assert cal.session_hours(d, "BSE").kind == cal.CLOSED  # only NSE's session is recorded


def test_normal_closed_and_uncovered_days():
    normal = cal.session_hours(date(2026, 5, 5))
    assert normal.kind == cal.NORMAL and normal.year_status == cal.FINAL
    assert normal.windows == ((_at(date(2026, 5, 5), 9, 15), _at(date(2026, 5, 5), 15, 30)),)
    holiday = cal.session_hours(date(2026, 1, 15))
    assert holiday.kind == cal.CLOSED and not holiday.is_open and "CMTR72260" in holiday.source
    assert cal.session_hours(date(2026, 5, 9)).kind == cal.CLOSED  # a Saturday
    assert cal.session_hours(date(2028, 3, 7)).year_status == cal.UNCOVERED


def test_saturday_session_of_2024_01_20_took_the_expiry_of_the_22nd():
    # NSE moved the MIDCPNIFTY expiry of Monday 2024-01-22 (declared a holiday) to Saturday the 20th.
    assert cal.is_trading_day(date(2024, 1, 20)) and not cal.is_trading_day(date(2024, 1, 22))
    assert date(2024, 1, 20) in c.expiries("MIDCPNIFTY", date(2024, 1, 16))
    assert date(2024, 1, 19) not in c.expiries("MIDCPNIFTY", date(2024, 1, 16))


# --- data validation -------------------------------------------------------------------------------


@pytest.fixture
def fresh_calendar():
    """Clear the calendar's and contracts' caches before and after a test that swaps data."""

    def clear():
        for fn in (
            cal._years,
            cal._load,
            cal._special,
            c._monthly_expiry,
            c._is_monthly,
            c._listed,
            c.lot_size,
            c.tradingsymbol,
        ):
            getattr(fn, "cache_clear", lambda: None)()  # a test may have swapped in a plain function

    clear()
    yield
    clear()


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ("2026-05-09,NSE,A Saturday,NSE circular", "weekends"),
        ("2026-05-11,NSE,No source,", "source"),
        ("2029-05-14,NSE,Undeclared year,NSE circular", "not declared"),
    ],
)
def test_bad_holiday_rows_are_refused_with_their_line(tmp_path, monkeypatch, fresh_calendar, row, problem):
    path = tmp_path / "holidays.csv"
    path.write_text(f"date,exchange,description,source\n{row}\n", encoding="utf-8")
    monkeypatch.setattr(cal, "HOLIDAYS_CSV", path)
    with pytest.raises(ValueError, match=problem) as info:
        cal.holidays()
    assert f"{path}:2" in str(info.value)


def test_bad_special_session_is_refused(tmp_path, monkeypatch, fresh_calendar):
    path = tmp_path / "special_sessions.csv"
    path.write_text(
        "date,exchange,start,end,kind,trading_day,description,source\n"
        "2025-10-21,NSE,14:45,13:45,MUHURAT,no,Backwards,NSE circular\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(cal, "SPECIAL_SESSIONS_CSV", path)
    with pytest.raises(ValueError, match="start must be before end"):
        cal.session_hours(date(2025, 10, 21))


# --- an expiry from the instrument master --------------------------------------------------------------


def test_master_expiry_keeps_the_monthly_form_when_the_calendar_misses_the_holiday(
    monkeypatch, fresh_calendar
):
    # A provisional year may miss a holiday. Simulate 2027 without Republic Day: the calendar then
    # computes the monthly as Tuesday the 26th, while the broker's instrument master says the 25th.
    real = cal._load()
    without = {ex: {d: v for d, v in days.items() if d != date(2027, 1, 26)} for ex, days in real.items()}
    monkeypatch.setattr(cal, "_load", lambda: without)
    assert c.monthly_expiry("NIFTY", 2027, 1) == date(2027, 1, 26)
    master_expiry = date(2027, 1, 25)
    # The last expiry of the month uses the monthly form - never the weekly NIFTY2712526000CE.
    assert c.is_monthly_expiry("NIFTY", master_expiry)
    assert c.tradingsymbol("NIFTY", master_expiry, 26000, "CE") == "NIFTY27JAN26000CE"
    assert c.lot_size("NIFTY", master_expiry) == c.future_lot_size("NIFTY", master_expiry) == 65
    # Weeklies keep the weekly form.
    assert not c.is_monthly_expiry("NIFTY", date(2027, 1, 19))
    assert c.tradingsymbol("NIFTY", date(2027, 1, 19), 26000, "CE") == "NIFTY2711926000CE"


def test_monthly_form_rule_agrees_with_the_calendar_on_every_generated_expiry():
    # Whatever the rule used for master expiries, on the calendar's own expiries it must say "monthly"
    # exactly for the calendar's monthly dates - including BANKNIFTY's Wednesday weekly of 2024-01-24
    # in the week of the Thursday monthly (25th).
    assert not c.is_monthly_expiry("BANKNIFTY", date(2024, 1, 24))
    assert c.is_monthly_expiry("BANKNIFTY", date(2024, 1, 25))
    for index in c.INDICES:
        for d in c.all_expiries(index, date(2023, 6, 1), date(2027, 12, 31)):
            assert c.is_monthly_expiry(index, d) == (d == c.monthly_expiry(index, d.year, d.month)), (
                index,
                d,
            )
