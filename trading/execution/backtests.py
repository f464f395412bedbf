"""Backtest runs: the engine over simulated or stored sessions, the run stored with its trades in the
journal (in bulk, in one transaction, with one performance rebuild)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import date

from django.utils import timezone

from journal import services as journal_services
from journal.models import TradeOrigin
from trading.choices import DataSource
from trading.core import calendar as market_calendar
from trading.core.backtest import run_backtest
from trading.core.bars import DayBars
from trading.core.live import SimSource
from trading.execution.config import engine_config, feed_config, risk_config, strategy_slots
from trading.execution.live import paper_broker
from trading.execution.models import BacktestRun
from trading.marketdata.store.eod import iv_history as store_iv_history
from trading.marketdata.store_feed import EodOnlySession, StoreFeed

DATA_SOURCES: tuple[str, ...] = ("sim", "store")
"""Where a backtest's sessions come from: the simulated market, or the market-data store."""

_SOURCE = {"sim": DataSource.SIM, "store": DataSource.STORE}
# Sessions a stored backtest keeps decoded at once: the features and the loop read one at a time.
_STORE_CACHE = 2


def _chosen(index: str, strategies: list[str] | None):
    """The slots to backtest (``strategies`` switched on, else the enabled ones) and their parameters."""
    slots, pairs = strategy_slots(index)
    if strategies:
        wanted = set(strategies)
        slots = {name: slot for name, slot in slots.items() if name in wanted}
        for slot in slots.values():
            slot.enabled = True
    slots = {name: slot for name, slot in slots.items() if slot.enabled}
    return slots, dict(pairs)


def _with_gaps(days: Iterable[DayBars], gaps: list[str]) -> Iterator[DayBars]:
    """``days`` as they come, noting each session's missing minutes (traded on what is there)."""
    for day in days:
        span = market_calendar.session_close(day.session) - market_calendar.session_open(day.session)
        expected = int(span.total_seconds() // 60)
        if len(day) < expected:
            gaps.append(f"{day.session}: {expected - len(day)} of {expected} minutes missing")
        yield day


def _sessions(data: str, *, index: str, start: date, end: date, seed: int, gaps: list[str]):
    """The sessions (a generator: one in memory at a time), their IV history and settlement lookup."""
    if data == "sim":
        source = SimSource(index=index, seed=seed, start=start)
        return source.sim.days(start, end), source.iv_history()
    feed = StoreFeed(feed_config().store_dir, index, cache=_STORE_CACHE)
    eod_only = feed.eod_only_sessions(start, end)
    if eod_only:  # refused by name before any run is stored
        raise EodOnlySession(index, eod_only)
    return _with_gaps(feed.days(start, end), gaps), store_iv_history(feed.store, index, start)


def backtest_execute(
    *,
    start: date,
    end: date,
    seed: int = 7,
    index: str = "NIFTY",
    strategies: list[str] | None = None,
    name: str = "",
    data: str = "sim",
    progress: Callable | None = None,
    on_session: Callable[[date, int], None] | None = None,
) -> BacktestRun:
    """Backtest the strategies over the sessions ``start``..``end`` of ``data`` (``DATA_SOURCES``:
    the simulated market with ``seed``, or the market-data store at ``MARKETDATA_DIR``) and store the
    run and its trades (entry mode BACKTEST, trade ids prefixed ``BT<run>-``), streamed into the
    journal in bulk (``journal.services.trade_writer``).

    The store: a session with only end-of-day data is refused by name (``EodOnlySession``) before
    anything is stored; a session with gaps is traded on what is there and its gaps noted in the
    run's summary (``gaps``). ``progress`` sees each cycle's result, ``on_session(session, bars)``
    each session done."""
    if data not in DATA_SOURCES:
        raise ValueError(f"data {data!r}: one of {', '.join(DATA_SOURCES)}")
    index = index.upper()
    slots, params = _chosen(index, strategies)
    source_name = _SOURCE[data]
    gaps: list[str] = []
    days, iv_history = _sessions(data, index=index, start=start, end=end, seed=seed, gaps=gaps)
    run = BacktestRun.objects.create(
        name=name,
        strategies=list(slots),
        index=index,
        data_source=source_name,
        start=start,
        end=end,
        seed=seed if data == "sim" else None,
        parameters={
            "risk": {key: str(value) for key, value in risk_config().__dict__.items()},
            "strategies": params,
        },
        status="RUNNING",
    )
    try:
        config = engine_config(
            index, mode="BACKTEST", data_source=source_name, position_prefix=f"BT{run.pk}-"
        )
        # The backtest's clock ends with the close of its last session. Trades stream into the
        # journal as they close (one transaction, one performance rebuild): none is held in memory.
        with journal_services.trade_writer(
            now=market_calendar.session_close(end), origin=TradeOrigin.ENGINE, backtest_run=run
        ) as journal:
            result = run_backtest(
                days,
                strategies=slots,
                broker=paper_broker(),  # PAPER_* fill model, as the desk
                config=config,
                params=params,
                iv_history=iv_history,
                on_cycle=progress,
                on_session=on_session,
                on_closed=lambda closed: journal.add(closed.trade),
                keep_signals=False,
                keep_trades=False,
            )
        run.summary = result.summary()
        if gaps:
            run.summary["gaps"] = gaps
        run.status = "DONE"
    except Exception as exc:
        run.status = "FAILED"
        run.summary = {"error": f"{type(exc).__name__}: {exc}"}
        run.finished_at = timezone.now()
        run.save()
        raise
    run.finished_at = timezone.now()
    run.save()
    return run
