"""Chain recorder: what a feed showed, recorded in the replay format, replays as the same bars."""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path

import numpy as np
import pytest

from trading.core import calendar as market_calendar
from trading.core.bars import CHAIN_FIELDS, MarketBar
from trading.marketdata.base import NoData
from trading.marketdata.recorder import ChainRecorder
from trading.marketdata.replay import ReplayFeed, read_replay
from trading.marketdata.simulated import SimulatedFeed

D1, D2 = date(2025, 10, 6), date(2025, 10, 7)


def ist(d: date, hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime.combine(d, time(hh, mm, ss), tzinfo=market_calendar.IST)


@pytest.fixture(scope="module")
def sim_feed() -> SimulatedFeed:
    return SimulatedFeed(seed=9, start=date(2025, 10, 1))


def assert_same_bar(a: MarketBar, b: MarketBar) -> None:
    assert (a.index, a.time, a.open, a.high, a.low, a.close, a.vix, a.volume) == (
        b.index,
        b.time,
        b.open,
        b.high,
        b.low,
        b.close,
        b.vix,
        b.volume,
    )
    assert [c.expiry for c in a.chains] == [c.expiry for c in b.chains]
    for ca, cb in zip(a.chains, b.chains):
        assert np.array_equal(ca.strikes, cb.strikes)
        for name in CHAIN_FIELDS:
            assert np.array_equal(getattr(ca, name), getattr(cb, name), equal_nan=True), name


def test_simulated_feed_interface(sim_feed: SimulatedFeed) -> None:
    assert sim_feed.source == "SIM" and sim_feed.index == "NIFTY"
    with pytest.raises(NoData):
        sim_feed.snapshot(ist(date(2025, 10, 1), 9, 15, 30))
    bar = sim_feed.snapshot(ist(D1, 10, 0, 30))
    assert bar.time == ist(D1, 9, 59)
    assert sim_feed.check(ist(D1, 10, 0)) is None
    (day,) = sim_feed.days(D1, D1)
    assert_same_bar(bar, day.bar(44))
    bars = list(sim_feed.bars(ist(D1, 15, 28), ist(D2, 9, 17)))
    assert [b.time for b in bars] == [ist(D1, 15, 28), ist(D1, 15, 29), ist(D2, 9, 15), ist(D2, 9, 16)]
    assert len(sim_feed.warmup_history(30)) == 30


def test_record_then_replay_gives_the_same_bars(sim_feed: SimulatedFeed, tmp_path: Path) -> None:
    start, end = ist(D1, 15, 20), ist(D2, 9, 25)
    recorder = ChainRecorder(tmp_path)
    assert recorder.record_feed(sim_feed, start, end) == 20
    assert sorted(p.name for p in tmp_path.iterdir()) == ["NIFTY_2025-10-06.csv", "NIFTY_2025-10-07.csv"]
    replay = ReplayFeed(tmp_path)
    original = list(sim_feed.bars(start, end))
    replayed = list(replay.bars(start, end))
    assert len(replayed) == len(original) == 20
    for a, b in zip(original, replayed):
        assert_same_bar(a, b)
    assert_same_bar(replay.snapshot(ist(D2, 9, 20)), sim_feed.snapshot(ist(D2, 9, 20)))


def test_a_recorded_session_is_the_simulated_session(sim_feed: SimulatedFeed, tmp_path: Path) -> None:
    (day,) = sim_feed.days(D2, D2)
    ChainRecorder(tmp_path).record_all(day)
    (back,) = read_replay(tmp_path / "NIFTY_2025-10-07.csv")["NIFTY"]
    assert back.expiries == day.expiries and back.session == day.session
    for name in ("times", "open", "high", "low", "close", "volume", "vix", "strikes", *CHAIN_FIELDS):
        assert np.array_equal(getattr(back, name), getattr(day, name)), name


def test_recording_is_idempotent_and_resumes(sim_feed: SimulatedFeed, tmp_path: Path) -> None:
    start, mid, end = ist(D1, 9, 15), ist(D1, 9, 20), ist(D1, 9, 25)
    first = ChainRecorder(tmp_path)
    assert first.record_feed(sim_feed, start, mid) == 5
    assert first.record_feed(sim_feed, start, mid) == 0  # the same minutes again: nothing written
    path = first.path_for("NIFTY", D1)
    # The process dies mid-line; a new recorder cuts the broken line and carries on.
    with path.open("a") as fh:
        fh.write("2025-10-06T09:20:00+05:30,NIFTY,2400")
    second = ChainRecorder(tmp_path)
    assert second.record_feed(sim_feed, start, end) == 5
    assert path.read_text().count("time,index") == 1
    replayed = list(ReplayFeed(tmp_path).bars(start, end))
    assert [b.time for b in replayed] == [ist(D1, 9, m) for m in range(15, 25)]
    assert_same_bar(replayed[-1], sim_feed.snapshot(end))
