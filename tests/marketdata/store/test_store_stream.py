"""A stored backtest streams its sessions: read ahead by a thread (the same days in the same order,
hashed to the same data version, an error raised at its place, the thread stopped when the loop
ends early), and the number of sessions held at once does not grow with the sessions run."""

from __future__ import annotations

import gc
import threading
from datetime import date

import pytest

from trading.brokers.paper import PaperBroker
from trading.core import calendar as market_calendar
from trading.core.backtest import run_backtest
from trading.core.bars import DayBars
from trading.core.simulator import MarketSimulator
from trading.execution import backtest_market
from trading.execution.backtests import MarketHistory, market_stream, read_ahead_of
from trading.execution.config import engine_config, strategy_slots
from trading.marketdata.store.minute import day_frames
from trading.marketdata.store_feed import StoreFeed

START = date(2025, 1, 1)
KEYS = ("trade_id", "strategy_name", "tradingsymbol", "entry_time", "entry_price", "exit_time", "exit_price")


def _fill(store, sessions: list[date]) -> None:
    sim = MarketSimulator(seed=5, start=START)
    for d in sessions:
        with store.lock():
            staged = [store.stage(k, "NIFTY", d, f) for k, f in day_frames(sim.day(d)).items()]
            store.commit([p for p in staged if p is not None])


@pytest.fixture
def stored(store, settings):
    sessions = market_calendar.trading_days_from(MarketSimulator(seed=5, start=START).first_session, 12)
    _fill(store, sessions)
    settings.MARKETDATA_DIR = store.root
    return store, sessions


def test_read_ahead_gives_the_items_in_order_and_raises_at_the_place_of_an_error() -> None:
    assert list(read_ahead_of(iter(range(50)), 2)) == list(range(50))

    def failing():
        yield 1
        yield 2
        raise ValueError("bad session")

    got = []
    with pytest.raises(ValueError, match="bad session"):
        for item in read_ahead_of(failing(), 1):
            got.append(item)
    assert got == [1, 2]


def test_a_loop_that_stops_early_stops_the_reading_thread() -> None:
    produced = []

    def endless():
        n = 0
        while True:
            produced.append(n)
            yield n
            n += 1

    before = {t.ident for t in threading.enumerate()}
    stream = read_ahead_of(endless(), 2)
    assert [next(stream) for _ in range(3)] == [0, 1, 2]
    stream.close()
    assert not [t for t in threading.enumerate() if t.ident not in before and t.name == "backtest-read-ahead"]
    assert len(produced) <= 3 + 2 + 1  # never more than ``ahead`` (+ the one in hand) past the consumer


@pytest.mark.django_db
def test_the_stream_read_ahead_trades_and_hashes_as_the_history_in_memory(stored) -> None:
    store, sessions = stored
    start, end = sessions[0], sessions[-1]
    slots, pairs = strategy_slots("NIFTY")
    for slot in slots.values():
        slot.enabled = True
    config = engine_config("NIFTY", mode="BACKTEST", data_source="STORE", position_prefix="BT0-")

    def trades(days, iv_history):
        result = run_backtest(
            days,
            strategies=slots,
            broker=PaperBroker(),
            config=config,
            params=dict(pairs),
            iv_history=iv_history,
        )
        return [tuple(c.trade[k] for k in KEYS) for c in result.trades]

    stream = market_stream(data_source="STORE", index="NIFTY", seed=0, start=start, end=end)
    streamed = trades(stream.days, stream.iv_history)
    in_memory = MarketHistory(
        days=list(StoreFeed(store, "NIFTY").days(start, end)), iv_history=stream.iv_history
    )
    assert streamed == trades(in_memory.days, in_memory.iv_history)
    assert streamed  # the strategies trade in these sessions
    assert stream.version() == in_memory.version()


@pytest.mark.django_db
def test_the_sessions_held_at_once_do_not_grow_with_the_sessions_run(stored) -> None:
    """Counted, not timed: the DayBars alive at each session's end, over 3 and over 12 sessions."""
    _, sessions = stored
    slots, _ = strategy_slots("NIFTY")
    config = engine_config("NIFTY", mode="BACKTEST", data_source="STORE")

    def days_alive() -> int:
        gc.collect()
        return sum(1 for o in gc.get_objects() if isinstance(o, DayBars))

    def most_alive(n: int) -> int:
        before = days_alive()  # other tests' days (cached fixtures) are not this run's
        stream = market_stream(
            data_source="STORE", index="NIFTY", seed=0, start=sessions[0], end=sessions[n - 1]
        )
        alive = []

        def count(session, bars) -> None:
            alive.append(days_alive() - before)

        run_backtest(
            stream.days,
            strategies=slots,
            broker=PaperBroker(),
            config=config,
            on_session=count,
            keep_signals=False,
        )
        assert len(alive) == n
        return max(alive)

    short, long = most_alive(3), most_alive(12)
    # at most a batch of the loop (5 sessions), the read-ahead and the one the thread is reading: not 12
    assert short <= 3 and long <= 5 + backtest_market._READ_AHEAD + 1 < 12
