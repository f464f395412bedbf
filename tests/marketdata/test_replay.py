"""CSV replay: the sample file, the feed interface, and the rejection of malformed files."""

from __future__ import annotations

import io
import math
from datetime import date, datetime, time, timedelta
from pathlib import Path

import numpy as np
import pytest

from trading.core import calendar as market_calendar
from trading.core.features import feature_frame
from trading.marketdata.base import NoData
from trading.marketdata.replay import COLUMNS, ReplayFeed, ReplayFormatError, read_replay

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "replay_sample.csv"
SESSION = date(2025, 10, 6)


def ist(hh: int, mm: int, ss: int = 0, d: date = SESSION) -> datetime:
    return datetime.combine(d, time(hh, mm, ss), tzinfo=market_calendar.IST)


@pytest.fixture(scope="module")
def lines() -> list[str]:
    return SAMPLE.read_text().splitlines()


def read_lines(lines: list[str]) -> dict:
    return read_replay(io.StringIO("\n".join(lines) + "\n"))


def field(lines: list[str], line_no: int, column: str, value: str) -> list[str]:
    """A copy of ``lines`` with one field of line ``line_no`` (1 = header) replaced."""
    out = list(lines)
    parts = out[line_no - 1].split(",")
    parts[COLUMNS.index(column)] = value
    out[line_no - 1] = ",".join(parts)
    return out


def rejected(lines: list[str]) -> ReplayFormatError:
    with pytest.raises(ReplayFormatError) as info:
        read_lines(lines)
    return info.value


# --- the sample ------------------------------------------------------------------------------------------


def test_sample_reads_as_one_session_of_arrays() -> None:
    days = read_replay(SAMPLE)
    assert list(days) == ["NIFTY"]
    (day,) = days["NIFTY"]
    assert day.session == SESSION and len(day) == 30
    assert day.expiries == (date(2025, 10, 7), date(2025, 10, 28))
    assert day.strikes.shape == (30, 2, 11)
    assert np.all(np.diff(day.strikes, axis=2) == 50)  # ascending, no padding
    assert day.bar_time(0) == ist(9, 15) and day.bar_time(29) == ist(9, 44)
    # The first data row, by hand.
    first = SAMPLE.read_text().splitlines()[1].split(",")
    row = dict(zip(COLUMNS, first))
    assert day.open[0] == float(row["spot_open"]) and day.close[0] == float(row["spot_close"])
    assert day.vix[0] == float(row["vix"]) and day.volume[0] == 0.0
    e = day.expiries.index(date.fromisoformat(row["expiry"]))
    s = int(np.nonzero(day.strikes[0, e] == float(row["strike"]))[0][0])
    side = "call" if row["option_type"] == "CE" else "put"
    for name in ("ltp", "bid", "ask", "oi", "volume", "iv"):
        assert getattr(day, f"{side}_{name}")[0, e, s] == float(row[name]), name


def test_replay_feed_interface() -> None:
    feed = ReplayFeed(SAMPLE)
    assert feed.source == "REPLAY" and feed.sessions == [SESSION]
    with pytest.raises(NoData):
        feed.snapshot(ist(9, 15, 59))
    bar = feed.snapshot(ist(9, 16))
    assert bar.time == ist(9, 15)
    assert feed.snapshot(ist(9, 30, 30)).time == ist(9, 29)
    assert feed.snapshot(ist(15, 0)).time == ist(9, 44)
    assert feed.snapshot(ist(10, 0, d=date(2025, 10, 7))).time == ist(9, 44)  # the last known bar
    bars = list(feed.bars(ist(9, 20), ist(9, 25)))
    assert [b.time for b in bars] == [ist(9, m) for m in range(20, 25)]
    assert len(bars[0].chains) == 2 and bars[0].chains[0].expiry == date(2025, 10, 7)
    assert bars[0].chains[0].strikes.size == 11
    quote = bars[0].chains[0].quote(float(bars[0].chains[0].strikes[5]), "CE")
    assert quote is not None and quote["oi"] > 0
    assert [d.session for d in feed.days(SESSION, SESSION)] == [SESSION]
    assert list(feed.days(date(2025, 10, 7), date(2025, 10, 8))) == []
    assert len(list(feed.bars(ist(9, 0), ist(16, 0)))) == 30


def test_sample_feeds_the_feature_frame() -> None:
    frame = feature_frame(ReplayFeed(SAMPLE).days(SESSION, SESSION))
    assert len(frame) == 30
    assert frame["atm_iv"].notna().all() and frame["pcr_oi"].notna().all()
    assert frame["or_high"].iloc[14] == frame["high"].iloc[:15].max()


def test_missing_strikes_are_padded_and_trimmed(lines: list[str], tmp_path: Path) -> None:
    # Drop every row of one strike of the 09:20 minute: that minute has 10 strikes, the day pads to 11.
    header, rows = lines[0], lines[1:]
    gone = [r for r in rows if r.startswith("2025-10-06T09:20")][:2]  # lowest strike, CE and PE
    kept = [r for r in rows if r not in gone]
    path = tmp_path / "gap.csv"
    path.write_text("\n".join([header, *kept]) + "\n")
    (day,) = read_replay(path)["NIFTY"]
    assert day.strikes.shape == (30, 2, 11)
    assert math.isnan(day.strikes[5, 0, 10]) and math.isnan(day.call_oi[5, 0, 10])
    bar = ReplayFeed(path).snapshot(ist(9, 21))
    assert bar.chains[0].strikes.size == 10 and np.isfinite(bar.chains[0].strikes).all()


def test_until_and_an_unterminated_last_line(lines: list[str], tmp_path: Path) -> None:
    path = tmp_path / "live.csv"
    path.write_text("\n".join(lines) + "\n" + lines[-1][:40])  # a writer cut mid-line
    with pytest.raises(ReplayFormatError):
        read_replay(path)
    (day,) = read_replay(path, partial_tail=True)["NIFTY"]
    assert len(day) == 30
    (day,) = read_replay(path, until=ist(9, 30), partial_tail=True)["NIFTY"]
    assert len(day) == 15 and day.bar_time(14) == ist(9, 29)
    assert read_replay(path, until=ist(9, 15), partial_tail=True) == {}


# --- malformed files: the line and the reason ----------------------------------------------------------


def test_header_problems(lines: list[str]) -> None:
    err = rejected([lines[0].replace(",iv", ",implied_vol"), *lines[1:]])
    assert (
        err.line == 1
        and "missing column(s) iv" in err.reason
        and "unknown column(s) implied_vol" in err.reason
    )
    err = rejected([lines[0] + ",ltp", *lines[1:]])
    assert err.line == 1 and "repeated column(s) ltp" in err.reason
    with pytest.raises(ReplayFormatError) as info:
        read_replay(io.StringIO(""))
    assert info.value.line == 1 and "empty file" in info.value.reason
    err = rejected(lines[:1])
    assert err.line == 2 and "no data rows" in err.reason


def test_columns_in_another_order_are_fine(lines: list[str]) -> None:
    order = list(reversed(COLUMNS))
    swapped = [",".join(reversed(line.split(","))) for line in lines]
    assert swapped[0] == ",".join(order)
    (day,) = read_lines(swapped)["NIFTY"]
    (ref,) = read_replay(SAMPLE)["NIFTY"]
    assert np.array_equal(day.call_oi, ref.call_oi) and np.array_equal(day.close, ref.close)


@pytest.mark.parametrize(
    ("line_no", "column", "value", "reason"),
    [
        (12, "strike", "abc", "strike: 'abc' is not a number"),
        (5, "oi", "", "oi: missing value"),
        (9, "oi", "-15", "oi: -15 must be >= 0"),
        (20, "strike", "0", "strike: 0 must be positive"),
        (7, "option_type", "CALL", "option_type 'CALL' is not CE or PE"),
        (3, "time", "2025-10-06T09:15:00", "has no UTC offset"),
        (3, "time", "06/10/2025 09:15", "is not an ISO 8601 date-time"),
        (3, "time", "2025-10-06T09:15:30+05:30", "is not on a whole minute"),
        (2, "time", "2025-10-06T09:10:00+05:30", "outside the 09:15-15:29 IST session"),
        (4, "index", "NIFTY50", "unknown index 'NIFTY50'"),
        (8, "expiry", "2025-13-01", "expiry '2025-13-01' is not a date YYYY-MM-DD"),
        (8, "expiry", "2025-10-03", "expiry 2025-10-03 is in the past"),
        (6, "bid", "9999", "is above ask"),
        (6, "iv", "high", "iv: 'high' is not a number"),
        (10, "vix", "-1", "vix: -1 must be positive"),
        (10, "spot_high", "1", "spot_high 1 is below the open or the close"),
        (4, "spot_close", "23815.8", "spot_close 23815.8 differs from 23815.83 on line 2"),
        (11, "ltp", "inf", "ltp: 'inf' is not a number"),
    ],
)
def test_bad_values_name_line_and_reason(
    lines: list[str], line_no: int, column: str, value: str, reason: str
) -> None:
    err = rejected(field(lines, line_no, column, value))
    assert err.line == line_no, err
    assert reason in err.reason, err
    assert str(err).startswith(f"line {line_no}: ")


def test_optional_fields_may_be_empty(lines: list[str]) -> None:
    edited = field(field(field(lines, 6, "bid", ""), 6, "ask", ""), 7, "iv", "")
    (day,) = read_lines(edited)["NIFTY"]
    assert np.isnan(day.call_bid).sum() + np.isnan(day.put_bid).sum() == 1
    assert np.isnan(day.call_iv).sum() + np.isnan(day.put_iv).sum() == 1


def test_structure_problems(lines: list[str]) -> None:
    short = list(lines)
    short[6] = short[6].rsplit(",", 1)[0]
    err = rejected(short)
    assert (err.line, err.reason) == (7, "expected 17 fields, found 16")
    long = list(lines)
    long[9] += ",extra"
    assert rejected(long).reason == "expected 17 fields, found 18"
    blank = [*lines[:4], "", *lines[4:]]
    err = rejected(blank)
    assert (err.line, err.reason) == (5, "empty line")
    dup = [*lines[:30], lines[25], *lines[30:]]
    err = rejected(dup)
    assert err.line == 31 and "repeats the" in err.reason
    back = [*lines[:100], lines[2], *lines[100:]]
    err = rejected(back)
    assert err.line == 101 and "time goes backwards" in err.reason


def test_the_earliest_problem_is_reported(lines: list[str]) -> None:
    edited = field(field(field(lines, 40, "strike", "x"), 25, "oi", "-1"), 31, "option_type", "C")
    err = rejected(edited)
    assert err.line == 25 and "oi" in err.reason


def test_a_bad_file_is_never_half_read(lines: list[str], tmp_path: Path) -> None:
    good = tmp_path / "NIFTY_2025-10-06.csv"
    good.write_text("\n".join(lines) + "\n")
    later = [line.replace("2025-10-06T", "2025-10-07T") for line in lines]
    later = field(later, len(later), "ltp", "?")  # the very last row is bad
    (tmp_path / "NIFTY_2025-10-07.csv").write_text("\n".join(later) + "\n")
    with pytest.raises(ReplayFormatError) as info:
        ReplayFeed(tmp_path)
    assert info.value.line == len(lines) and info.value.path.endswith("NIFTY_2025-10-07.csv")
    assert "NIFTY_2025-10-07.csv: line" in str(info.value)


def test_several_sessions_and_indices_in_one_file(lines: list[str]) -> None:
    day2 = [line.replace("2025-10-06T", "2025-10-07T") for line in lines[1:]]
    bank = [line.replace(",NIFTY,", ",BANKNIFTY,") for line in lines[1:133]]  # 3 minutes
    day1 = sorted(lines[1:] + bank, key=lambda line: line.split(",", 1)[0])  # stable: minutes interleave
    got = read_lines([lines[0], *day1, *day2])
    assert [d.session for d in got["NIFTY"]] == [SESSION, date(2025, 10, 7)]
    assert len(got["BANKNIFTY"]) == 1 and len(got["BANKNIFTY"][0]) == 3
    assert got["NIFTY"][1].bar_time(0) == got["NIFTY"][0].bar_time(0) + timedelta(days=1)
    assert ReplayFeed.__name__ and len(got["NIFTY"][0]) == 30
