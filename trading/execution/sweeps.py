"""Parameter sweeps: one strategy backtested over a grid or a random sample of its parameters, within
the bounds its ``Params`` declare.

* ``sweep_request`` checks the request (a ValidationError names the field); ``sweep_start`` reads the
  market ONCE for its SHA-256 (the data version) and stores one ``SweepCombination`` per point, then
  dispatches: one ``trading.tasks.sweep_combination`` per point on the ``research`` queue (any number
  of workers on any hosts; the trading workers never consume it), or - without a broker, or when
  asked - a local process pool (``sweep_run_embedded``).
* The market: a simulated one (``SIM``, at most ``MAX_SESSIONS``) is simulated once and stored on the
  sweep a session at a time (``_pack``), each process unpacking it once (``SimMarket``); the
  market-data store's (``STORE``, a year like a run) is not copied: each combination reads the store
  again, a session at a time (memory-mapped, flat memory, ``StoreMarket``), and is FAILED if what it
  read is not the sweep's data version (the store changed). Each process computes the sessions'
  feature rows once, for all its combinations (``session_prep.FeatureMemo``).
* A combination (``combination_figures``, the same function in both modes) runs
  ``core.backtest.run_backtest`` on the sweep's market and keeps only its summary figures and equity
  curve; no trade reaches the journal. ``sweep_promote`` makes a combination a backtest run, which
  writes its trades.
* The points, the seeds (market and sample) and the data version are stored, so a sweep reproduces.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import pickle
import struct
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from analytics import stats, trade_stats
from analytics.returns import daily_net, daily_returns
from trading import access
from trading.choices import DataSource
from trading.core import calendar as market_calendar
from trading.core.apart import die_with_parent
from trading.core.backtest import run_backtest
from trading.core.bars import DayBars
from trading.core.calendar import IST
from trading.core.session_prep import FeatureMemo, Identity, MemoMismatch, identity
from trading.core.state import EngineConfig, StrategySlot
from trading.core.strategies import registry as strategy_registry
from trading.execution import backtests, dispatch
from trading.execution.config import engine_config
from trading.execution.live import backtest_broker
from trading.execution.models import (
    BacktestRun,
    RunStatus,
    Sweep,
    SweepCombination,
    SweepObjective,
    SweepSample,
)
from trading.execution.sweep_space import parse_axes, sweep_space

log = logging.getLogger(__name__)

COMBINATION_TASK = "trading.tasks.sweep_combination"
PREPARE_TASK = "trading.tasks.sweep_prepare"  # a sweep started from a page: its market, then its combinations
# A simulated sweep's market is stored with it, ~1.4 MB a session (a store sweep: a run's limit).
MAX_SESSIONS = 60
# Objective -> (field, best first is the largest)
OBJECTIVES: dict[str, tuple[str, bool]] = {
    SweepObjective.NET: ("net_pnl", True),
    SweepObjective.SHARPE: ("sharpe", True),
    SweepObjective.PROFIT_FACTOR: ("profit_factor", True),
    SweepObjective.MAX_DRAWDOWN: ("max_drawdown", False),
    SweepObjective.TRADES: ("trade_count", True),
}


# --- The request --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepRequest:
    """A checked sweep (``sweep_request``)."""

    strategy: str
    start: date
    end: date
    seed: int
    index: str
    data_source: str
    sample: str
    axes: dict[str, str]
    count: int | None
    sample_seed: int | None
    objective: str
    name: str


def sweep_request(
    *,
    strategy: str,
    start: date,
    end: date | None = None,
    axes: Mapping[str, str] | Sequence[str] | str,
    seed: int = 7,
    index: str = "NIFTY",
    data_source: str = DataSource.SIM,
    sample: str = SweepSample.GRID,
    count: int | None = None,
    sample_seed: int | None = None,
    objective: str = SweepObjective.SHARPE,
    name: str = "",
) -> SweepRequest:
    """Check a sweep's settings (the space is checked again against the configuration when it starts)."""
    if strategy not in strategy_registry.names():
        raise ValidationError({"strategy": f"unknown strategy {strategy!r}"})
    if objective not in OBJECTIVES:
        raise ValidationError({"objective": f"{objective!r}: expected one of {', '.join(OBJECTIVES)}"})
    checked = backtests.backtest_request(
        start=start, end=end, seed=seed, index=index, strategies=[strategy], data_source=data_source
    )
    stored = checked.data_source == DataSource.STORE  # read from the store: a run's limit, checked above
    if not stored and len(market_calendar.trading_days(checked.start, checked.end)) > MAX_SESSIONS:
        too_long = (
            f"a sweep of the simulated market covers at most {MAX_SESSIONS} sessions (the store: a year)"
        )
        raise ValidationError({"end": too_long})
    parsed = dict(axes) if isinstance(axes, Mapping) else parse_axes(axes)
    return SweepRequest(
        strategy=strategy,
        start=checked.start,
        end=checked.end,
        seed=checked.seed,
        index=checked.index,
        data_source=checked.data_source,
        sample=str(sample).upper(),
        axes=parsed,
        count=count,
        sample_seed=sample_seed,
        objective=objective,
        name=name,
    )


# --- The market -----------------------------------------------------------------------------------------

_MARKETS: dict[tuple[int, str], SimMarket | StoreMarket] = {}  # per process: (sweep, version) -> market
_PACKED = b"SWEEPMK2"  # the stored market's format: this, then frames (see ``_pack``)
_FRAME = struct.Struct("<Q")
# What a sweep lets go of when it ends (DONE, FAILED, stopped, reaped): its simulated market (~1.4 MB a
# session, 85 MB for 60) - no combination reads it any more, and a promoted run simulates its own from
# the sweep's seed. Its data version stays, to say what the figures were computed on.
ENDED = {"market_data": b""}


class MarketChanged(RuntimeError):
    """A store sweep's combination read other sessions than the sweep's data version."""


def _nothing_to_check() -> None:
    return None


@dataclass(frozen=True)
class Reading:
    """One reading of a sweep's market: its sessions - read one at a time from a store, or the list a
    simulated market holds (``run_backtest`` signals a held sequence in bigger batches) - the IV
    history, and ``verify``: called once the run has read them all, it raises ``MarketChanged`` if
    they were not the sweep's."""

    days: Iterable[DayBars]
    iv_history: Any
    verify: Callable[[], None] = _nothing_to_check


@dataclass
class _Proven:
    """The store's files (``session_prep.identity`` of each session) that a combination of this
    process read and found to be the sweep's data version."""

    identities: list[Identity] | None = None


@dataclass(frozen=True)
class StoreMarket:
    """A store sweep's market: the store's sessions ``start``..``end`` of ``index``, read again by each
    combination one session at a time (memory-mapped once decoded: flat memory, shared pages).
    ``version`` is the sweep's data version: the first combination of a process hashes what it reads
    and must find it; the next ones, which are not hashed, must read the very files it read (each
    session's partitions by inode, size and modification time, as the decoded sessions' cache trusts
    them), else ``MarketChanged``. ``features``: the sessions' feature rows, computed by this
    process's first combination and reused by the next (``session_prep.FeatureMemo``)."""

    index: str
    start: date
    end: date
    version: str
    features: FeatureMemo = field(default_factory=FeatureMemo, compare=False, repr=False)
    proven: _Proven = field(default_factory=_Proven, compare=False, repr=False)

    def _stream(self, *, hashed: bool) -> backtests.MarketStream:
        return backtests.market_stream(
            data_source=DataSource.STORE,
            index=self.index,
            seed=0,
            start=self.start,
            end=self.end,
            apart=not hashed,  # not hashed (and read fewer sessions ahead)
        )

    def read_version(self) -> str:
        """The store's sessions read once, one at a time, and hashed: their data version."""
        stream = self._stream(hashed=True)
        for _ in stream.days:
            pass
        return stream.version()

    def reading(self) -> Reading:
        known = self.proven.identities
        stream = self._stream(hashed=known is None)  # once proven, its files are compared instead
        read: list[Identity] = []

        def days() -> Iterator[DayBars]:
            for day in stream.days:
                read.append(identity(day))
                yield day

        def verify() -> None:
            if known is None:
                found = stream.version()
                if found != self.version:
                    raise MarketChanged(
                        f"the store's sessions {self.start}..{self.end} changed since the sweep began "
                        f"(data version {self.version[:12]}, now {found[:12]}): start the sweep again"
                    )
                self.proven.identities = read
            elif read != known:
                raise self.changed()

        return Reading(days=days(), iv_history=stream.iv_history, verify=verify)

    def changed(self) -> MarketChanged:
        return MarketChanged(
            f"the store's files of the sessions {self.start}..{self.end} changed during the sweep: "
            "start the sweep again"
        )


@dataclass(frozen=True)
class SimMarket:
    """A simulated sweep's market, unpacked from the sweep once per process (``_unpack``; the
    embedded pool's workers share the parent's by fork) and read from memory by each combination.
    ``features``: the sessions' feature rows, computed by this process's first combination and
    reused by the next ones (the features do not depend on the parameters swept;
    ``session_prep.FeatureMemo``)."""

    history: backtests.MarketHistory
    features: FeatureMemo = field(default_factory=FeatureMemo, compare=False, repr=False)

    def reading(self) -> Reading:
        return Reading(days=self.history.days, iv_history=self.history.iv_history)


def _pack(stream: backtests.MarketStream) -> tuple[bytes, str]:
    """A simulated market packed as it is simulated, a session at a time (the whole market is never
    in memory with its pickle: the command's or web request's peak), and its data version: ``_PACKED``,
    then frames (8-byte length, zlib of a pickle) - the IV history, then each session."""
    parts = [_PACKED]

    def frame(value: Any) -> None:
        data = zlib.compress(pickle.dumps(value, protocol=5), 1)
        parts.extend((_FRAME.pack(len(data)), data))

    frame(stream.iv_history)
    for day in stream.days:
        frame(day)
    return b"".join(parts), stream.version()


def _frames(blob: bytes) -> Iterator[memoryview]:
    view = memoryview(blob)
    at = len(_PACKED)
    while at < len(view):
        (size,) = _FRAME.unpack_from(view, at)
        at += _FRAME.size
        yield view[at : at + size]
        at += size


def _unpack(blob: bytes) -> backtests.MarketHistory:
    """The market ``_pack`` stored (or, for a sweep stored before the frames, one pickle of it all)."""
    # Our own bytes, written by sweep_create into our own database.
    if not blob.startswith(_PACKED):
        days, iv_history = pickle.loads(zlib.decompress(blob))  # noqa: S301
        return backtests.MarketHistory(days=days, iv_history=iv_history)
    frames = _frames(blob)
    iv_history = pickle.loads(zlib.decompress(next(frames)))  # noqa: S301
    return backtests.MarketHistory(
        days=[pickle.loads(zlib.decompress(frame)) for frame in frames],  # noqa: S301
        iv_history=iv_history,
    )


def sweep_market(sweep: Sweep) -> SimMarket | StoreMarket:
    """The sweep's market, kept by this process with its feature memo: a simulated one read from the
    database once (``SimMarket``); the store's, read by each combination (``StoreMarket``)."""
    key = (sweep.pk, sweep.data_version)
    market = _MARKETS.get(key)
    if market is None:
        market = _market_of(sweep)
        _MARKETS.clear()  # one sweep at a time per process
        _MARKETS[key] = market
    return market


def _market_of(sweep: Sweep) -> SimMarket | StoreMarket:
    if sweep.data_source == DataSource.STORE:
        return StoreMarket(sweep.index, sweep.start, sweep.end, sweep.data_version)
    blob = bytes(Sweep.objects.filter(pk=sweep.pk).values_list("market_data", flat=True).get())
    if not blob:  # let go when the sweep ended (``ENDED``): nothing is left to run on it
        raise MarketChanged(f"sweep {sweep.pk} has ended: its market is no longer stored")
    return SimMarket(_unpack(blob))


# --- One combination --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CombinationJob:
    """What one combination needs besides the market (picklable: the embedded pool sends it)."""

    strategy: str
    slot: StrategySlot
    params: dict[str, Any]
    config: EngineConfig
    capital: float
    start: date
    end: date
    risk_free: float = 0.0  # yearly, a fraction (ANALYTICS_RISK_FREE_RATE, as the analytics pages)


def combination_figures(market: SimMarket | StoreMarket, job: CombinationJob) -> dict[str, Any]:
    """Backtest one point and return its figures: trades, net (rupees), Sharpe (annualised, on the
    daily net over ``capital``, every session of the sweep counted, in excess of ``risk_free``), profit factor, max drawdown
    (rupees, >= 0, on the trade-by-trade equity as ``BacktestResult.summary``), win rate (%) and
    the equity curve [[exit time ISO, cumulative net], ...]. The market is read here, a session at a
    time (``MarketChanged`` when the store's reading is not the sweep's data version)."""
    reading = market.reading()
    try:
        result = run_backtest(
            reading.days,
            strategies={job.strategy: job.slot},
            broker=backtest_broker(),
            config=job.config,
            params={job.strategy: job.params},
            iv_history=reading.iv_history,
            features=market.features,
            keep_signals=False,  # only the trades make the figures
        )
    except MemoMismatch:  # other sessions than the ones this process's first combination read
        if isinstance(market, StoreMarket):
            raise market.changed() from None
        raise
    reading.verify()
    market.features.seal()  # the rows of the sweep's very market: the next combinations reuse them
    summary = result.summary()
    nets = np.array([float(t.net_pnl) for t in result.trades], dtype=float)
    by_day = [(t.exit_time.astimezone(IST).date(), t.net_pnl) for t in result.trades]
    net = daily_net(by_day, start=job.start, end=job.end)
    sharpe = stats.sharpe(daily_returns(net, job.capital).to_numpy(), rf=job.risk_free) if len(net) else None
    return {
        "trade_count": summary["trades"],
        "net_pnl": summary["net_pnl"],
        "max_drawdown": summary["max_drawdown"],
        "win_rate": summary["win_rate"],
        "sharpe": None if sharpe is None else round(sharpe, 10),
        "profit_factor": (lambda pf: None if pf is None else round(pf, 10))(trade_stats.profit_factor(nets)),
        "equity": [[at.isoformat(), str(value)] for at, value in result.equity],
    }


def _job(sweep: Sweep, combination: SweepCombination) -> CombinationJob:
    slot = StrategySlot(**{**sweep.slot, "capital_allocation": Decimal(sweep.slot["capital_allocation"])})
    return CombinationJob(
        strategy=sweep.strategy,
        slot=slot,
        params={**sweep.base_parameters, **combination.parameters},
        config=engine_config(
            sweep.index,
            mode="BACKTEST",
            data_source=sweep.data_source,
            position_prefix=f"SW{sweep.pk}-{combination.number}-",
        ),
        capital=float(settings.TRADING_CAPITAL),
        start=sweep.start,
        end=sweep.end,
        risk_free=float(settings.ANALYTICS_RISK_FREE_RATE),
    )


def _store(combination_id: int, sweep_id: int, figures: dict | None, error: str = "") -> None:
    """A combination's figures (or its error) stored once; the sweep's count moved with it."""
    now = timezone.now()
    with transaction.atomic():
        mine = SweepCombination.objects.filter(
            pk=combination_id, status__in=(RunStatus.PENDING, RunStatus.RUNNING)
        )
        if figures is not None:
            fields = {
                **figures,
                "net_pnl": Decimal(figures["net_pnl"]),
                "max_drawdown": Decimal(figures["max_drawdown"]),
            }
            stored = mine.update(status=RunStatus.DONE, finished_at=now, error="", **fields)
            counter = {"done": F("done") + 1}
        else:
            stored = mine.update(status=RunStatus.FAILED, finished_at=now, error=error[:2000])
            counter = {"failed": F("failed") + 1}
        if not stored:
            return  # a redelivered task: counted the first time
        Sweep.objects.filter(pk=sweep_id).update(heartbeat_at=now, **counter)
        Sweep.objects.filter(
            pk=sweep_id, status__in=(RunStatus.PENDING, RunStatus.RUNNING), total=F("done") + F("failed")
        ).update(status=RunStatus.DONE, finished_at=now, **ENDED)


def sweep_combination_execute(combination_id: int) -> SweepCombination:
    """Run one combination (the research worker's task): idempotent - a finished one is left as is."""
    combination = (
        SweepCombination.objects.select_related("sweep").defer("sweep__market_data").get(pk=combination_id)
    )
    sweep = combination.sweep
    if combination.status in (RunStatus.DONE, RunStatus.FAILED) or sweep.status == RunStatus.FAILED:
        return combination
    now = timezone.now()
    SweepCombination.objects.filter(pk=combination_id, status=RunStatus.PENDING).update(
        status=RunStatus.RUNNING
    )
    Sweep.objects.filter(pk=sweep.pk, status=RunStatus.PENDING).update(status=RunStatus.RUNNING)
    Sweep.objects.filter(pk=sweep.pk).update(heartbeat_at=now)
    try:
        figures = combination_figures(sweep_market(sweep), _job(sweep, combination))
    except Exception as exc:
        _store(combination_id, sweep.pk, None, f"{type(exc).__name__}: {exc}")
        raise
    _store(combination_id, sweep.pk, figures)
    combination.refresh_from_db()
    return combination


# --- The embedded pool ----------------------------------------------------------------------------------

_POOL_MARKET: backtests.MarketHistory | StoreMarket | None = (
    None  # set before the pool forks: the children share it
)


def _pool_figures(job: CombinationJob) -> tuple[dict | None, str]:
    try:
        assert _POOL_MARKET is not None
        return combination_figures(_POOL_MARKET, job), ""
    except Exception as exc:  # noqa: BLE001 - stored as the combination's error
        return None, f"{type(exc).__name__}: {exc}"


def sweep_run_embedded(sweep_id: int, *, workers: int | None = None) -> Sweep:
    """Run every pending combination of the sweep in a local pool of ``workers`` processes (forked:
    they share the simulated market read once; each reads the store's itself); the results are stored
    by this process."""
    global _POOL_MARKET
    sweep = Sweep.objects.defer("market_data").get(pk=sweep_id)
    pending = list(sweep.combinations.filter(status__in=(RunStatus.PENDING, RunStatus.RUNNING)))
    if not pending:
        return sweep
    Sweep.objects.filter(pk=sweep.pk).update(status=RunStatus.RUNNING, heartbeat_at=timezone.now())
    jobs = [_job(sweep, c) for c in pending]
    _POOL_MARKET = _market_of(sweep)  # not kept once the pool is done (this may be the web process)
    workers = max(1, workers or settings.SWEEP_EMBEDDED_WORKERS)
    try:
        if workers == 1:
            for combination, job in zip(pending, jobs, strict=True):
                if _stopped(sweep.pk):  # sweep_stop: the rest is not run
                    break
                _store(combination.pk, sweep.pk, *_pool_figures(job))
        else:
            context = multiprocessing.get_context("fork")
            pool = ProcessPoolExecutor(
                max_workers=workers, mp_context=context, initializer=die_with_parent, initargs=(os.getpid(),)
            )
            try:
                outcomes = pool.map(_pool_figures, jobs)
                for combination, (figures, error) in zip(pending, outcomes, strict=True):
                    _store(combination.pk, sweep.pk, figures, error)
                    if _stopped(sweep.pk):  # sweep_stop: the pool's queued combinations dropped
                        _stop_pool(pool)
                        break
                else:
                    pool.shutdown()
            except BaseException:
                _stop_pool(pool)
                raise
    except (Exception, KeyboardInterrupt, SystemExit) as exc:  # Ctrl-C too: FAILED, not left RUNNING
        sweep_fail(sweep.pk, backtests.failure_reason(exc))
        raise
    finally:
        _POOL_MARKET = None
    sweep.refresh_from_db()
    return sweep


def _stop_pool(pool: ProcessPoolExecutor) -> None:
    """The pool's queued combinations dropped and its workers killed now (a combination half done is
    not needed): ``shutdown`` alone would wait for every job sent. (The workers are the executor's
    ``_processes``; each also dies with this process, ``apart.die_with_parent``.)

    The executor's manager thread reaps the killed workers too, and two threads reaping one process
    race: the one that loses may find it neither running nor ended, and a worker could still be
    listed alive right after the stop (2 stops in 20, with the other core busy). So the manager
    thread is waited for as well: once it is done, every worker is reaped and known ended."""
    # Taken before the shutdown, which forgets them (``_processes`` and the thread become None).
    workers = list((getattr(pool, "_processes", None) or {}).values())
    manager = getattr(pool, "_executor_manager_thread", None)
    pool.shutdown(wait=False, cancel_futures=True)
    for worker in workers:
        worker.kill()
    for worker in workers:
        worker.join(timeout=10)
    if manager is not None:
        manager.join(timeout=10)


# --- Services ---------------------------------------------------------------------------------------------


def sweep_create(
    request: SweepRequest, *, user: Any = None, embedded: bool = False, prepare: bool = True
) -> Sweep:
    """Store the sweep: its market (a simulated one built here, once; the store's only hashed here),
    the strategy's configuration it starts from, and its combinations (PENDING). Raises
    ``ValidationError`` for a bad space. ``prepare=False``: the market is left to ``sweep_prepare``
    (a page answers at once; its data version is empty until then)."""
    slots, params = backtests.chosen_strategies(request.index, [request.strategy])
    slot = slots[request.strategy]
    base = dict(params.get(request.strategy, {}))
    space, points = sweep_space(
        strategy=request.strategy,
        sample=request.sample,
        axes=request.axes,
        base=base,
        count=request.count,
        sample_seed=request.sample_seed,
    )
    market_data, data_version = _market_and_version(request) if prepare else (b"", "")
    slot_json = {f.name: getattr(slot, f.name) for f in dataclasses.fields(slot)}
    slot_json["capital_allocation"] = str(slot_json["capital_allocation"])
    with transaction.atomic():
        sweep = Sweep.objects.create(
            name=request.name,
            strategy=request.strategy,
            index=request.index,
            data_source=request.data_source,
            start=request.start,
            end=request.end,
            seed=request.seed,
            sample=request.sample,
            sample_seed=request.sample_seed,
            space=space,
            base_parameters=base,
            slot=slot_json,
            objective=request.objective,
            embedded=embedded,
            market_data=market_data,
            data_version=data_version,
            total=len(points),
            requested_by=user if access.has_user(user) else None,
        )
        SweepCombination.objects.bulk_create(
            SweepCombination(sweep=sweep, number=n, parameters=point) for n, point in enumerate(points, 1)
        )
    return sweep


def _market_and_version(sweep: SweepRequest | Sweep) -> tuple[bytes, str]:
    """A sweep's stored market and data version: a simulated market built and packed, once; the
    store's sessions only hashed (each combination reads them again)."""
    if sweep.data_source == DataSource.STORE:
        return b"", StoreMarket(sweep.index, sweep.start, sweep.end, "").read_version()
    stream = backtests.market_stream(
        data_source=sweep.data_source, index=sweep.index, seed=sweep.seed, start=sweep.start, end=sweep.end
    )
    return _pack(stream)


def sweep_prepare(sweep_id: int) -> Sweep | None:
    """The market of a sweep created without it (``sweep_create(prepare=False)``): the sweep RUNNING
    (the reaper's to mark if this process dies), its market built or hashed, stored with its data
    version. Returns the sweep, or None when it was stopped meanwhile (nothing more to do). An error
    marks it FAILED and is raised again."""
    claimed = Sweep.objects.filter(pk=sweep_id, status=RunStatus.PENDING, data_version="").update(
        status=RunStatus.RUNNING, heartbeat_at=timezone.now()
    )
    sweep = Sweep.objects.defer("market_data").get(pk=sweep_id)
    if not claimed:
        return sweep if sweep.data_version and sweep.status != RunStatus.FAILED else None
    try:
        market_data, data_version = _market_and_version(sweep)
    except (Exception, KeyboardInterrupt, SystemExit) as exc:
        sweep_fail(sweep_id, backtests.failure_reason(exc))
        raise
    stored = Sweep.objects.filter(pk=sweep_id, status=RunStatus.RUNNING).update(
        market_data=market_data, data_version=data_version, heartbeat_at=timezone.now()
    )
    if not stored:  # stopped while its market was being read
        return None
    sweep.refresh_from_db(fields=["data_version", "status", "heartbeat_at"])
    return sweep


def sweep_prepare_and_enqueue(sweep_id: int) -> int:
    """The research worker's first task of a sweep started from a page: its market prepared, then
    its combinations sent to the research queue. Returns how many (0 when it was stopped)."""
    return sweep_enqueue(sweep_id) if sweep_prepare(sweep_id) is not None else 0


def _send_prepare(sweep_id: int) -> None:
    dispatch.send(PREPARE_TASK, sweep_id, queue=backtests.RESEARCH_QUEUE)


def _prepare_and_run(sweep_id: int, workers: int | None = None) -> None:
    if sweep_prepare(sweep_id) is not None:
        sweep_run_embedded(sweep_id, workers=workers)


def sweep_start(
    *, user: Any, request: SweepRequest, embedded: bool | None = None, workers: int | None = None
) -> Sweep:
    """A sweep for ``user`` (needs ``RUN_BACKTESTS``): ``sweep_execute`` - or, embedded with
    ``BACKTEST_EMBEDDED_BACKGROUND`` (``make run``'s web server), the sweep stored here and its pool
    run in a thread of its own (``backtests.in_background``): the page answers at once."""
    access.require(user, access.RUN_BACKTESTS)
    embedded = settings.CELERY_TASK_ALWAYS_EAGER if embedded is None else embedded
    if embedded and settings.BACKTEST_EMBEDDED_BACKGROUND:
        with transaction.atomic():
            sweep = sweep_create(request, user=user, embedded=True, prepare=False)
            backtests.in_background(f"sweep {sweep.pk}", _prepare_and_run, sweep.pk, workers=workers)
        return sweep
    if not embedded:  # the market too is the research workers' work: the page answers at once
        with transaction.atomic():
            sweep = sweep_create(request, user=user, prepare=False)
            transaction.on_commit(
                lambda: backtests.queue_or_fail(f"sweep {sweep.pk}", _send_prepare, sweep.pk, sweep_fail)
            )
        return sweep
    return sweep_execute(request, user=user, embedded=embedded, workers=workers)


def sweep_execute(
    request: SweepRequest, *, user: Any = None, embedded: bool | None = None, workers: int | None = None
) -> Sweep:
    """Create the sweep and dispatch it: its combinations sent to the research queue, or run here in a
    local process pool (``embedded``; the default without a broker). ``manage.py sweep`` calls it. A
    broker that cannot take them (Redis down) fails the sweep saying so (``queue_or_fail``)."""
    embedded = settings.CELERY_TASK_ALWAYS_EAGER if embedded is None else embedded
    sweep = sweep_create(request, user=user, embedded=embedded)
    if embedded:
        return sweep_run_embedded(sweep.pk, workers=workers)
    backtests.queue_or_fail(f"sweep {sweep.pk}", sweep_enqueue, sweep.pk, sweep_fail)
    return Sweep.objects.defer("market_data").get(pk=sweep.pk)


def sweep_enqueue(sweep_id: int) -> int:
    """Send each pending combination of the sweep to the research queue; returns how many."""
    ids = list(
        SweepCombination.objects.filter(sweep_id=sweep_id, status=RunStatus.PENDING).values_list(
            "pk", flat=True
        )
    )
    for combination_id in ids:
        dispatch.send(COMBINATION_TASK, combination_id, queue=backtests.RESEARCH_QUEUE)
    return len(ids)


def sweep_fail(sweep_id: int, error: str) -> None:
    """Mark an unfinished sweep FAILED with ``error``."""
    Sweep.objects.filter(pk=sweep_id, status__in=(RunStatus.PENDING, RunStatus.RUNNING)).update(
        status=RunStatus.FAILED, error=error[:2000], finished_at=timezone.now(), **ENDED
    )


def sweep_stop(*, user: Any, sweep_id: int) -> bool:
    """Stop a PENDING or RUNNING sweep: marked FAILED ("stopped by ..."), its combinations not begun
    FAILED ("not run: the sweep was stopped", counted), in one transaction. The research workers
    skip what is still queued (``sweep_combination_execute``); the embedded pool stops at its next
    result (``sweep_run_embedded``); a combination already running finishes and keeps its figures.
    Needs ``RUN_BACKTESTS``, and the sweep must be the user's or the user an operator. Returns False
    when it had already ended."""
    sweep = Sweep.objects.only("pk", "requested_by_id").get(pk=sweep_id)
    access.require_owner(user, access.RUN_BACKTESTS, sweep.requested_by_id, f"sweep {sweep_id}")
    now = timezone.now()
    with transaction.atomic():
        stopped = Sweep.objects.filter(pk=sweep_id, status__in=(RunStatus.PENDING, RunStatus.RUNNING)).update(
            status=RunStatus.FAILED, error=f"stopped by {user.get_username()}", finished_at=now, **ENDED
        )
        if not stopped:
            return False
        dropped = SweepCombination.objects.filter(sweep_id=sweep_id, status=RunStatus.PENDING).update(
            status=RunStatus.FAILED, error="not run: the sweep was stopped", finished_at=now
        )
        Sweep.objects.filter(pk=sweep_id).update(failed=F("failed") + dropped)
    return True


def _stopped(sweep_id: int) -> bool:
    return Sweep.objects.filter(pk=sweep_id, status=RunStatus.FAILED).exists()


def sweeps_reap(*, now=None, stale_seconds: float | None = None) -> int:
    """Mark FAILED every RUNNING sweep none of whose combinations has started or finished for
    ``BACKTEST_STALE_SECONDS`` (its workers are gone). Returns how many."""
    now = now or timezone.now()
    stale = timedelta(seconds=stale_seconds or settings.BACKTEST_STALE_SECONDS)
    return Sweep.objects.filter(status=RunStatus.RUNNING, heartbeat_at__lt=now - stale).update(
        status=RunStatus.FAILED,
        error=f"workers lost: no combination moved for {stale.total_seconds():.0f} s",
        finished_at=now,
        **ENDED,
    )


def sweep_promote(*, user: Any, combination_id: int) -> BacktestRun:
    """A backtest run of one combination (the sweep's market, strategy and parameters): the run writes
    its trades to the journal. Needs ``RUN_BACKTESTS``."""
    access.require(user, access.RUN_BACKTESTS)
    combination = (
        SweepCombination.objects.select_related("sweep").defer("sweep__market_data").get(pk=combination_id)
    )
    sweep = combination.sweep
    if combination.status != RunStatus.DONE:
        raise ValidationError({"combination": f"#{combination.number} is {combination.status}, not DONE"})
    request = backtests.backtest_request(
        start=sweep.start,
        end=sweep.end,
        seed=sweep.seed,
        index=sweep.index,
        strategies=[sweep.strategy],
        data_source=sweep.data_source,
        overrides={sweep.strategy: {**sweep.base_parameters, **combination.parameters}},
        name=f"Sweep {sweep.pk} #{combination.number}",
    )
    run = backtests.backtest_start(user=user, request=request)
    SweepCombination.objects.filter(pk=combination.pk).update(promoted_run=run)
    return run


# --- Reading ---------------------------------------------------------------------------------------------


def sweep_table(sweep: Sweep, objective: str | None = None) -> list[SweepCombination]:
    """The combinations, best first by ``objective`` (default the sweep's); unfinished ones last."""
    field, largest_first = OBJECTIVES.get(objective or sweep.objective, OBJECTIVES[sweep.objective])
    order = F(field).desc(nulls_last=True) if largest_first else F(field).asc(nulls_last=True)
    return list(sweep.combinations.order_by(order, "number"))


def _objective_value(combination: SweepCombination, field: str) -> float | None:
    value = getattr(combination, field)
    return None if value is None else float(value)


def sweep_heatmap(sweep: Sweep, x: str, y: str, objective: str | None = None) -> dict[str, Any] | None:
    """The objective over two parameters of a grid: rows (``y`` values), columns (``x`` values), each cell
    the best value of the objective among the combinations at that point (others varying), and a
    shade 0..1 (worst..best) for its colour. None unless both are axes of a grid sweep."""
    if sweep.sample != SweepSample.GRID or x == y or x not in sweep.space or y not in sweep.space:
        return None
    field, largest_first = OBJECTIVES.get(objective or sweep.objective, OBJECTIVES[sweep.objective])
    best: dict[tuple, float] = {}
    for c in sweep.combinations.filter(status=RunStatus.DONE):
        value = _objective_value(c, field)
        key = (c.parameters.get(x), c.parameters.get(y))
        if value is None:
            continue
        if key not in best or (value > best[key] if largest_first else value < best[key]):
            best[key] = value
    values = list(best.values())
    lo, hi = (min(values), max(values)) if values else (0.0, 0.0)

    def shade(v: float) -> float:
        if hi == lo:
            return 1.0
        s = (v - lo) / (hi - lo)
        return round(s if largest_first else 1 - s, 3)

    rows = []
    for yv in sweep.space[y]:
        cells = []
        for xv in sweep.space[x]:
            v = best.get((xv, yv))
            cells.append({"x": xv, "value": v, "shade": None if v is None else shade(v)})
        rows.append({"y": yv, "cells": cells})
    label = SweepObjective(objective or sweep.objective).label
    return {"x": x, "y": y, "columns": sweep.space[x], "rows": rows, "field": field, "label": label}
