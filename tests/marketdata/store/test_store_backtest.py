"""Backtests on the market-data store: paper trading the stored bars and backtesting them make the
same trades; ``manage.py backtest --data store`` stores a STORE run with exactly the engine's trades,
refuses an end-of-day-only session by name before storing anything, and reports gaps."""

from __future__ import annotations

import os
import signal
from datetime import date
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from journal.models import Trade
from tests.helpers import child_processes
from tests.marketdata.store.conftest import OLD_FILE
from trading.brokers.paper import PaperBroker
from trading.core import session_prep
from trading.core.backtest import run_backtest
from trading.core.live import FeedSource
from trading.core.simulator import MarketSimulator
from trading.execution.backtest_market import market_history
from trading.execution.config import engine_config, strategy_slots
from trading.execution.desk import Desk, reset_desks, set_desk
from trading.execution.models import BacktestRun
from trading.marketdata.replay import day_to_rows, format_rows
from trading.marketdata.store.importer import import_file
from trading.marketdata.store_feed import StoreFeed

SESSION = date(2025, 1, 7)
KEYS = ("strategy_name", "tradingsymbol", "quantity", "entry_time", "entry_price", "exit_time", "exit_price")


@pytest.fixture
def stored(store, tmp_path):
    day = MarketSimulator(seed=7, start=date(2025, 1, 1)).day(SESSION)
    path = tmp_path / "NIFTY_2025-01-07.csv"
    path.write_text(format_rows(day_to_rows(day)))
    assert import_file(store, "minute", path).ok
    return store


@pytest.fixture
def desks():
    reset_desks()
    yield
    reset_desks()


@pytest.mark.slow
@pytest.mark.django_db
def test_paper_on_the_store_trades_as_the_backtest_on_it(stored, desks) -> None:
    feed = StoreFeed(stored, "NIFTY")
    (day,) = feed.days(SESSION, SESSION)
    desk = Desk("NIFTY", mode="PAPER", source=FeedSource(feed, first_session=SESSION), broker=PaperBroker())
    set_desk(desk)
    for i in range(len(day)):
        desk.cycle(bar=day.bar(i))
    paper = sorted(tuple(getattr(t, k) for k in KEYS) for t in Trade.objects.filter(entry_mode="PAPER"))
    slots, pairs = strategy_slots("NIFTY")
    result = run_backtest(
        feed.days(SESSION, SESSION),
        strategies=slots,
        broker=PaperBroker(),
        params=dict(pairs),
        config=engine_config("NIFTY", mode="PAPER", data_source="STORE"),
    )
    backtested = sorted(tuple(c.trade[k] for k in KEYS) for c in result.trades)
    assert paper and paper == backtested


@pytest.mark.django_db
def test_the_command_stores_a_store_run_with_the_engines_trades(stored, settings) -> None:
    settings.MARKETDATA_DIR = stored.root
    out = StringIO()
    call_command("backtest", "--data", "store", "--start", str(SESSION), stdout=out)
    run = BacktestRun.objects.get()
    assert run.data_source == "STORE" and run.status == "DONE" and run.seed is None
    trades = Trade.objects.filter(backtest_run=run)
    assert trades.count() == run.summary["trades"] > 0
    assert set(trades.values_list("data_source", "entry_mode").distinct()) == {("STORE", "BACKTEST")}
    slots, pairs = strategy_slots("NIFTY")
    result = run_backtest(
        StoreFeed(stored.root, "NIFTY").days(SESSION, SESSION),
        strategies=slots,
        broker=PaperBroker(),
        params=dict(pairs),
        config=engine_config("NIFTY", mode="BACKTEST", data_source="STORE", position_prefix=f"BT{run.pk}-"),
    )
    assert sorted(tuple(getattr(t, k) for k in KEYS) for t in trades) == sorted(
        tuple(c.trade[k] for k in KEYS) for c in result.trades
    )
    assert f"BacktestRun {run.pk}" in out.getvalue()
    # The features were computed in a process of their own, from a second reading of the store that
    # also hashed it: the data version is the one the whole market in memory gives.
    market = market_history(data_source="STORE", index="NIFTY", seed=0, start=SESSION, end=SESSION)
    assert run.data_version == market.version() != ""


@pytest.mark.django_db
def test_the_features_process_killed_fails_the_run_and_journals_nothing(
    stored, settings, monkeypatch
) -> None:
    """The process computing the features dies (the OOM killer, a kill -9) in the middle of a
    ``manage.py backtest``: the run is FAILED with the reason, no trade of it is in the journal, and
    the process is not left behind."""
    settings.MARKETDATA_DIR = stored.root
    parent = os.getpid()
    signals_of = session_prep.SessionPrep.signals_of  # a batch's signals, inline or in the child

    def dying(self, rows):
        if os.getpid() != parent:  # in the forked child only
            os.kill(os.getpid(), signal.SIGKILL)
        return signals_of(self, rows)

    monkeypatch.setattr(session_prep.SessionPrep, "signals_of", dying)
    before = child_processes()
    with pytest.raises(session_prep.PrepDied):
        call_command("backtest", "--data", "store", "--start", str(SESSION), stdout=StringIO())
    run = BacktestRun.objects.get()
    assert run.status == "FAILED" and "PrepDied" in run.error and "ended" in run.error
    assert not Trade.objects.exists()
    assert child_processes() == before  # reaped: no child of this process is left behind


@pytest.mark.django_db
def test_an_end_of_day_only_session_is_refused_by_name(store, settings) -> None:
    assert import_file(store, "bhavcopy", OLD_FILE).ok  # 2024-01-05, end of day only
    settings.MARKETDATA_DIR = store.root
    with pytest.raises(CommandError, match="2024-01-05"):
        call_command("backtest", "--data", "store", "--start", "2024-01-05", stdout=StringIO())
    assert not BacktestRun.objects.exists()


@pytest.mark.django_db
def test_missing_minutes_are_traded_around_and_reported(store, tmp_path, settings) -> None:
    day = MarketSimulator(seed=7, start=date(2025, 1, 1)).day(SESSION)
    lines = format_rows(day_to_rows(day)).splitlines(keepends=True)
    path = tmp_path / "gappy.csv"
    path.write_text("".join(line for line in lines if "T10:0" not in line))  # 10:00-10:09 IST missing
    assert import_file(store, "minute", path).ok
    settings.MARKETDATA_DIR = store.root
    out = StringIO()
    call_command("backtest", "--data", "store", "--start", str(SESSION), stdout=out)
    run = BacktestRun.objects.get()
    assert run.summary["gaps"] == [f"{SESSION}: 10 of 375 minutes missing"]
    assert "gap: 2025-01-07: 10 of 375 minutes missing" in out.getvalue()


@pytest.mark.django_db
def test_a_range_the_store_does_not_hold_is_refused_and_a_missing_session_reported(stored, settings) -> None:
    """Dates with no minute bars in the store at all: refused before anything is stored (it was an
    empty DONE run). A range that holds some of its sessions: the others listed as gaps."""
    settings.MARKETDATA_DIR = stored.root
    with pytest.raises(CommandError, match="holds no NIFTY minute bars between 2025-01-08 and 2025-01-10"):
        call_command(
            "backtest", "--data", "store", "--start", "2025-01-08", "--end", "2025-01-10", stdout=StringIO()
        )
    assert not BacktestRun.objects.exists()
    out = StringIO()
    call_command("backtest", "--data", "store", "--start", "2025-01-06", "--end", "2025-01-08", stdout=out)
    run = BacktestRun.objects.get()
    assert run.status == "DONE" and run.trade_count > 0
    assert run.summary["gaps"] == ["2025-01-06: not in the store", "2025-01-08: not in the store"]
    assert "gap: 2025-01-06: not in the store" in out.getvalue()
