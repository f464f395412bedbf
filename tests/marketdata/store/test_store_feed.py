"""The store round trip: a replay CSV imported into the store and read back through ``StoreFeed``
serves the very bars the ``ReplayFeed`` serves from the file (every field), a backtest on either
makes the same trades, EOD-only sessions are refused by name and gaps are reported, never filled."""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta

import numpy as np
import pytest

from tests.marketdata.store.conftest import OLD_FILE, REPLAY_FILE, snapshot_files
from trading.brokers.paper import PaperBroker
from trading.core import calendar as market_calendar
from trading.core.backtest import run_backtest
from trading.core.bars import CHAIN_FIELDS, DayBars, MarketBar
from trading.core.engine import EngineConfig, StrategySlot
from trading.core.simulator import MarketSimulator
from trading.core.strategies import registry
from trading.marketdata.base import NoData
from trading.marketdata.replay import ReplayFeed, day_to_rows, format_rows
from trading.marketdata.store.importer import import_file
from trading.marketdata.store_feed import EodOnlySession, StoreFeed

SESSION = date(2025, 10, 6)
DAY_FIELDS = ("times", "open", "high", "low", "close", "volume", "vix", "strikes", *CHAIN_FIELDS)


def ist(hh: int, mm: int, d: date = SESSION) -> datetime:
    return datetime.combine(d, time(hh, mm), tzinfo=market_calendar.IST)


def assert_same_day(a: DayBars, b: DayBars) -> None:
    assert (a.index, a.session, a.expiries) == (b.index, b.session, b.expiries)
    for name in DAY_FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.shape == y.shape and x.dtype == y.dtype, name
        assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), name


def assert_same_bar(a: MarketBar, b: MarketBar) -> None:
    for name in ("index", "time", "open", "high", "low", "close", "vix", "volume"):
        assert getattr(a, name) == getattr(b, name), name
    assert [c.expiry for c in a.chains] == [c.expiry for c in b.chains]
    for ca, cb in zip(a.chains, b.chains, strict=True):
        for name in ("strikes", *CHAIN_FIELDS):
            assert np.array_equal(getattr(ca, name), getattr(cb, name), equal_nan=True), name


@pytest.fixture
def imported(store):
    result = import_file(store, "minute", REPLAY_FILE)
    assert result.ok and result.written == 2
    return store


def test_round_trip_serves_the_replay_feeds_bars(imported) -> None:
    store_feed, replay = StoreFeed(imported, "NIFTY"), ReplayFeed(REPLAY_FILE, "NIFTY")
    assert store_feed.sessions == replay.sessions == [SESSION]
    (a,) = store_feed.days(SESSION, SESSION)
    (b,) = replay.days(SESSION, SESSION)
    assert_same_day(a, b)
    start, end = ist(9, 0), ist(10, 0)
    mine, theirs = list(store_feed.bars(start, end)), list(replay.bars(start, end))
    assert len(mine) == len(theirs) == 30
    for x, y in zip(mine, theirs, strict=True):
        assert_same_bar(x, y)
    for at in (
        ist(9, 16),
        ist(
            9,
            30,
        ),
        ist(9, 44) + timedelta(seconds=59),
        ist(12, 0),
    ):
        assert_same_bar(store_feed.snapshot(at), replay.snapshot(at))
    with pytest.raises(NoData):
        store_feed.snapshot(ist(9, 15))


def test_round_trip_of_a_full_session_gives_the_same_backtest(store, tmp_path) -> None:
    day = MarketSimulator(seed=7, start=date(2025, 1, 1)).day(date(2025, 1, 6))
    csv = tmp_path / "NIFTY_2025-01-06.csv"
    csv.write_text(format_rows(day_to_rows(day)))
    assert import_file(store, "minute", csv).ok
    (from_store,) = StoreFeed(store).days(day.session, day.session)
    (from_file,) = ReplayFeed(csv).days(day.session, day.session)
    assert_same_day(from_store, from_file)
    config = EngineConfig(index="NIFTY", mode="BACKTEST", data_source="REPLAY")
    slots = {name: StrategySlot(name) for name in registry.names()}

    def trades(d: DayBars) -> list[tuple]:
        result = run_backtest([d], strategies=slots, broker=PaperBroker(), config=config)
        keys = (
            "strategy_name",
            "tradingsymbol",
            "quantity",
            "entry_time",
            "entry_price",
            "exit_time",
            "exit_price",
        )
        return sorted(tuple(t.trade[k] for k in keys) for t in result.trades)

    on_store = trades(from_store)
    assert on_store and on_store == trades(from_file)


def test_reimport_of_the_replay_file_changes_nothing(imported) -> None:
    before = snapshot_files(imported)
    again = import_file(imported, "minute", REPLAY_FILE)
    assert again.ok and again.written == 0
    assert snapshot_files(imported) == before


def test_a_bad_replay_file_stores_nothing(store, tmp_path) -> None:
    lines = REPLAY_FILE.read_text().splitlines()
    parts = lines[700].split(",")
    parts[10] = "XE"  # option_type
    lines[700] = ",".join(parts)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    result = import_file(store, "minute", bad)
    assert not result.ok and result.error.line == 701 and "option_type 'XE'" in result.error.reason
    assert snapshot_files(store) == {}


def test_sessions_with_only_end_of_day_data_are_refused_by_name(imported) -> None:
    assert import_file(imported, "bhavcopy", OLD_FILE).ok
    feed = StoreFeed(imported, "NIFTY")
    with pytest.raises(EodOnlySession) as info:
        list(feed.days(date(2024, 1, 1), date(2025, 12, 31)))
    assert info.value.sessions == [date(2024, 1, 5)] and "2024-01-05" in str(info.value)
    assert "only end-of-day data" in str(info.value)
    with pytest.raises(EodOnlySession):
        list(feed.bars(ist(9, 0, date(2024, 1, 5)), ist(16, 0, date(2024, 1, 5))))
    with pytest.raises(EodOnlySession):
        feed.snapshot(ist(10, 0, date(2024, 1, 5)))
    # A range without that session is served.
    assert [d.session for d in feed.days(date(2025, 1, 1), date(2025, 12, 31))] == [SESSION]


def test_gaps_are_reported_and_never_filled(store, tmp_path) -> None:
    lines = REPLAY_FILE.read_text().splitlines()
    header, rows = lines[0], lines[1:]
    minute_1000 = "2025-10-06T09:20:00+05:30"
    dropped_strike = ",2025-10-07,23700,"
    kept = [
        r
        for r in rows
        if not r.startswith(minute_1000)  # a whole minute missing
        and not (r.startswith("2025-10-06T09:25:00") and dropped_strike in r)  # a strike missing
        and not (r.startswith("2025-10-06T09:30:00") and ",2025-10-07,23800,PE," in r)  # one side missing
    ]
    gappy = tmp_path / "gappy.csv"
    gappy.write_text("\n".join([header, *kept]) + "\n")
    assert import_file(store, "minute", gappy).ok
    feed = StoreFeed(store)
    (day,) = feed.days(SESSION, SESSION)
    assert len(day) == 29 and ist(9, 20) not in [day.bar_time(i) for i in range(len(day))]
    (gaps,) = feed.gaps(SESSION, SESSION)
    assert gaps.counts["missing_minutes"] == 375 - 29
    assert "09:20" in gaps.examples["missing_minutes"][0]
    assert gaps.counts["missing_strikes"] == 1 and gaps.examples["missing_strikes"] == [
        "09:25 2025-10-07 23700"
    ]
    assert gaps.counts["one_sided"] == 1 and gaps.examples["one_sided"] == ["09:30 2025-10-07 23800"]
    # The one-sided strike is served with its call and a NaN put - nothing invented.
    bar = next(b for b in feed.bars(ist(9, 30), ist(9, 31)))
    chain = bar.chain(date(2025, 10, 7))
    i = int(np.flatnonzero(chain.strikes == 23800)[0])
    assert math.isfinite(chain.call_ltp[i]) and math.isnan(chain.put_ltp[i])
    bar_25 = next(b for b in feed.bars(ist(9, 25), ist(9, 26)))
    assert 23700 not in bar_25.chain(date(2025, 10, 7)).strikes


def test_store_recorder_writes_live_bars_that_read_back_identically(store) -> None:
    from trading.marketdata.store.recorder import StoreRecorder

    replay = ReplayFeed(REPLAY_FILE)
    bars = list(replay.bars(ist(9, 0), ist(10, 0)))
    recorder = StoreRecorder(store, flush_every=7)
    for bar in bars:
        recorder.record(bar)
    recorder.record(bars[10])  # a retried minute changes nothing
    recorder.close()
    (a,) = StoreFeed(store).days(SESSION, SESSION)
    (b,) = replay.days(SESSION, SESSION)
    assert_same_day(a, b)
