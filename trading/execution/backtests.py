"""Backtest runs: the engine over a market history, the run stored with its progress, its result
figures and its trades in the journal (entry mode BACKTEST, trade ids ``BT<run>-...``).

* ``backtest_start`` (the page, a trader or more): checks the request, stores a PENDING run and
  queues ``trading.tasks.backtest_run`` on the ``research`` queue after the commit - a queue the
  trading workers never consume, so a backtest never delays a trading cycle. Without a broker
  (``CELERY_TASK_ALWAYS_EAGER``: the embedded set-up) it runs in the caller's process.
* ``backtest_run_execute`` (the task): RUNNING, progress and a heartbeat every ``PROGRESS_EVERY``
  seconds, then DONE with its figures, or FAILED with the error - never left RUNNING by an exception.
  A worker killed outright cannot say so: ``backtest_runs_reap`` (beat, every minute) marks a run whose
  heartbeat is older than ``BACKTEST_STALE_SECONDS`` FAILED.
* ``backtest_execute``: both in one call (``manage.py backtest``, tests).

The engine is ``trading.core.backtest.run_backtest``, called as is; the market of a run comes from
``backtest_market`` (``market_stream``, ``market_history``: one place for the sources a backtest can read).
"""

from __future__ import annotations

import json
import logging
import pickle
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from journal import services as journal_services
from journal.combos import combo_record, combo_refresh_totals
from journal.models import TradeOrigin
from trading import access
from trading.choices import DataSource
from trading.core import calendar as market_calendar
from trading.core import contracts
from trading.core.apart import MapApart, can_fork
from trading.core.backtest import BacktestResult, run_backtest
from trading.core.combo_exits import combo_facts
from trading.core.state import StrategySlot
from trading.core.strategies import registry as strategy_registry
from trading.core.strategies.base import ParamError, validate_params
from trading.execution import dispatch
from trading.execution.backtest_market import (  # noqa: F401 - the market's names, re-exported
    _READ_AHEAD,
    _STORE_CACHE,
    MarketHistory,
    MarketStream,
    _store_feed,
    empty_store_range,
    market_days_again,
    market_history,
    market_stream,
    read_ahead_of,
    trim_heap,
)
from trading.execution.config import engine_config, risk_config, strategy_slots
from trading.execution.live import backtest_broker
from trading.execution.models import BacktestRun, RunStatus
from trading.execution.persistence import DB_ERRORS
from trading.marketdata.store_feed import EodOnlySession

log = logging.getLogger(__name__)

RESEARCH_QUEUE = "research"
BACKTEST_TASK = "trading.tasks.backtest_run"
PROGRESS_EVERY = 0.5  # seconds between two progress writes of a running backtest
MAX_SESSIONS = 260  # about a year of sessions in one run
SEED_MAX = 2**31 - 1  # a simulated market's seed: 0..SEED_MAX (the forms and the builder say the same)
# The data sources a backtest can read: the simulated market, the market-data store (MARKETDATA_DIR).
BACKTEST_SOURCES = (DataSource.SIM, DataSource.STORE)
# ``manage.py backtest --data``: the command's names of the sources.
DATA_SOURCES = {"sim": DataSource.SIM, "store": DataSource.STORE}


# --- The request ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BacktestRequest:
    """A checked request for a run (``backtest_request``)."""

    start: date
    end: date
    seed: int
    index: str
    strategies: tuple[str, ...]
    data_source: str
    overrides: dict[str, dict[str, Any]]
    name: str


def parse_overrides(text: str | Sequence[str]) -> dict[str, dict[str, Any]]:
    """``Strategy.parameter=value`` lines (the value in JSON: ``0.05``, ``true``) -> {strategy: {param:
    value}}; a ValidationError names ``overrides`` and the line."""
    lines = text.splitlines() if isinstance(text, str) else list(text)
    out: dict[str, dict[str, Any]] = {}
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        key, sep, value = line.partition("=")
        strategy, dot, name = key.strip().partition(".")
        if not (sep and dot and strategy and name.strip()):
            raise ValidationError({"overrides": f"{line!r}: expected Strategy.parameter=value"})
        try:
            parsed = json.loads(value.strip())
        except ValueError:
            raise ValidationError(
                {"overrides": f"{line!r}: {value.strip()!r} is not a number or true/false"}
            ) from None
        out.setdefault(strategy.strip(), {})[name.strip()] = parsed
    return out


def check_overrides(strategies: Sequence[str], overrides: Mapping[str, Any] | None) -> dict[str, dict]:
    """``overrides`` ({strategy: {param: value}}) checked against each strategy's ``Params``: a
    ValidationError names ``overrides`` and the parameter and bound it broke."""
    out: dict[str, dict] = {}
    for name, values in (overrides or {}).items():
        if name not in strategies:
            raise ValidationError({"overrides": f"{name}: not one of the run's strategies"})
        if not isinstance(values, Mapping):
            raise ValidationError({"overrides": f"{name}: expected {{parameter: value}}"})
        try:
            validate_params(strategy_registry.get(name), values)
        except ParamError as exc:
            raise ValidationError({"overrides": f"{name}.{exc.field}: {exc.message}"}) from None
        out[name] = dict(values)
    return out


def backtest_request(
    *,
    start: date,
    end: date | None = None,
    seed: int = 7,
    index: str = "NIFTY",
    strategies: Sequence[str] | None = None,
    data_source: str = DataSource.SIM,
    overrides: Mapping[str, Any] | None = None,
    name: str = "",
) -> BacktestRequest:
    """Check a run's settings; raises ``ValidationError`` naming the field."""
    end = end or start
    if end < start:
        raise ValidationError({"end": f"{end} is before the start {start}"})
    if str(index).upper() not in contracts.INDICES:
        raise ValidationError({"index": f"unknown index {index!r}: one of {', '.join(contracts.INDICES)}"})
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= SEED_MAX:
        raise ValidationError({"seed": f"{seed!r}: a whole number from 0 to {SEED_MAX}"})
    sessions = market_calendar.trading_days(start, end)
    if not sessions:
        raise ValidationError({"start": f"no trading day between {start} and {end}"})
    if len(sessions) > MAX_SESSIONS:
        raise ValidationError({"end": f"{len(sessions)} sessions: at most {MAX_SESSIONS} in one run"})
    if data_source not in BACKTEST_SOURCES:
        raise ValidationError({"data_source": f"{data_source} is not a source backtests can read"})
    if data_source == DataSource.STORE:
        try:
            feed = _store_feed(index.upper(), start, end)
        except EodOnlySession as exc:
            raise ValidationError({"data_source": str(exc)}) from None
        if not feed.store.sessions("spot_minute", index.upper(), start, end):
            raise ValidationError(
                {"data_source": empty_store_range(feed.store.root, index.upper(), start, end)}
            )
    known = strategy_registry.names()
    chosen = tuple(strategies or ())
    for strategy in chosen:
        if strategy not in known:
            raise ValidationError({"strategies": f"unknown strategy {strategy!r}"})
    if not chosen:
        chosen = tuple(chosen_strategies(index.upper(), None)[0])
    return BacktestRequest(
        start=start,
        end=end,
        seed=int(seed),
        index=index.upper(),
        strategies=chosen,
        data_source=str(data_source),
        overrides=check_overrides(chosen, overrides),
        name=name,
    )


def chosen_strategies(
    index: str, strategies: Sequence[str] | None, overrides: Mapping[str, Mapping] | None = None
) -> tuple[dict[str, StrategySlot], dict[str, dict]]:
    """The slots to backtest (``strategies`` switched on, else the enabled ones) and their parameters:
    each one's configuration with ``overrides`` on top."""
    slots, pairs = strategy_slots(index)
    if strategies:
        wanted = set(strategies)
        slots = {name: slot for name, slot in slots.items() if name in wanted}
        for slot in slots.values():
            slot.enabled = True
    slots = {name: slot for name, slot in slots.items() if slot.enabled}
    params = dict(pairs)
    for name, values in (overrides or {}).items():
        params[name] = {**params.get(name, {}), **values}
    return slots, params


# --- Services ---------------------------------------------------------------------------------------------


def backtest_create(request: BacktestRequest, *, user: Any = None) -> BacktestRun:
    """Store a PENDING run of ``request`` with its settings (the risk limits and each strategy's
    parameters as they are now)."""
    slots, params = chosen_strategies(request.index, request.strategies, request.overrides)
    return BacktestRun.objects.create(
        name=request.name,
        strategies=list(slots),
        index=request.index,
        data_source=request.data_source,
        start=request.start,
        end=request.end,
        seed=request.seed if request.data_source == DataSource.SIM else None,  # the store has no seed
        parameters={
            "risk": {key: str(value) for key, value in risk_config().__dict__.items()},
            "strategies": {name: params.get(name, {}) for name in slots},
        },
        overrides=request.overrides,
        bars_total=sum(bars for _, _, bars in session_bars(request.start, request.end).values()),
        status=RunStatus.PENDING,
        requested_by=user if access.has_user(user) else None,
    )


def backtest_start(*, user: Any, request: BacktestRequest) -> BacktestRun:
    """A run of ``request`` for ``user`` (needs ``RUN_BACKTESTS``): queued on the research queue after
    the commit, or run here when there is no broker (embedded)."""
    access.require(user, access.RUN_BACKTESTS)
    with transaction.atomic():
        run = backtest_create(request, user=user)
        if not settings.CELERY_TASK_ALWAYS_EAGER:
            transaction.on_commit(
                lambda: queue_or_fail(f"backtest run {run.pk}", backtest_enqueue, run.pk, backtest_fail)
            )
    if settings.CELERY_TASK_ALWAYS_EAGER:
        if settings.BACKTEST_EMBEDDED_BACKGROUND:
            in_background(f"backtest run {run.pk}", backtest_run_execute, run.pk)
            return run
        try:
            backtest_run_execute(run.pk)
        except Exception:  # noqa: BLE001 - the run is FAILED with its error; the page shows it
            log.exception("backtest run %s failed", run.pk)
        run.refresh_from_db()
    return run


def in_background(name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """``fn(*args, **kwargs)`` in a daemon thread of its own, started once the caller's transaction
    commits: with ``BACKTEST_EMBEDDED_BACKGROUND`` (the web server of ``make run``, which has no
    worker) a run or a sweep started from a page answers at once, and its page shows the progress.
    An error is logged (the run or sweep is FAILED with it); the thread's database connection is
    closed at its end. A process stopped meanwhile leaves it RUNNING for the reaper (``rundesk``)."""

    def work() -> None:
        try:
            fn(*args, **kwargs)
        except Exception:  # noqa: BLE001 - FAILED with its error; the page shows it
            log.exception("%s failed", name)
        finally:
            connection.close()

    transaction.on_commit(lambda: threading.Thread(target=work, name=name, daemon=True).start())


def queue_or_fail(name: str, send: Callable[[int], Any], pk: int, fail: Callable[[int, str], None]) -> None:
    """``send(pk)`` (a task to the research queue); a broker that cannot take it (Redis down) fails
    ``pk`` with ``fail`` saying so - rather than leave it PENDING for ever behind a 500 - and the page
    that started it shows why."""
    try:
        send(pk)
    except Exception as exc:  # noqa: BLE001 - kombu's OperationalError, a timeout: the broker is away
        log.error("%s not queued: %s", name, exc)
        fail(pk, f"not queued: the task broker is unreachable ({type(exc).__name__}: {exc})")


def backtest_enqueue(run_id: int) -> None:
    """Send the run to the research queue by the task's name (nothing below the wiring imports it)."""
    dispatch.send(BACKTEST_TASK, run_id, queue=RESEARCH_QUEUE)


def session_bars(start: date, end: date) -> dict[date, tuple[int, datetime, int]]:
    """Each trading session of ``start``..``end``: (bars before it, its open, its bars), from the
    calendar (special sessions included)."""
    out: dict[date, tuple[int, datetime, int]] = {}
    before = 0
    for session in market_calendar.trading_days(start, end):
        opens = market_calendar.session_open(session)
        bars = int((market_calendar.session_close(session) - opens).total_seconds() // 60)
        out[session] = (before, opens, bars)
        before += bars
    return out


class RunStopped(Exception):
    """The run is no longer RUNNING while it runs: stopped (``backtest_stop``) or reaped. It ends at
    its next progress beat; nothing of it is journaled."""

    def __init__(self, run_id: int) -> None:
        super().__init__(f"backtest run {run_id} is no longer running (stopped or reaped)")


def backtest_stop(*, user: Any, run_id: int) -> bool:
    """Stop a PENDING or RUNNING run: marked FAILED ("stopped by ..."), and the process running it
    ends it at its next progress beat (``PROGRESS_EVERY`` seconds at most) with nothing journaled.
    Needs ``RUN_BACKTESTS`` and the run must be the user's, or the user an operator. Returns False
    when the run had already ended (nothing to stop)."""
    run = BacktestRun.objects.only("pk", "requested_by_id").get(pk=run_id)
    access.require_owner(user, access.RUN_BACKTESTS, run.requested_by_id, f"backtest run {run_id}")
    return bool(
        BacktestRun.objects.filter(pk=run_id, status__in=(RunStatus.PENDING, RunStatus.RUNNING)).update(
            status=RunStatus.FAILED, error=f"stopped by {user.get_username()}", finished_at=timezone.now()
        )
    )


class _Progress:
    """Writes a running run's bars done and heartbeat at most every ``PROGRESS_EVERY`` seconds. The
    bars done are read off the calendar at each cycle's bar (so a bar the engine skips still counts)."""

    def __init__(
        self, run_id: int, sessions: dict[date, tuple[int, datetime, int]], also: Callable | None = None
    ):
        self.run_id = run_id
        self.sessions = sessions
        self.done = 0
        self.also = also
        self.last = 0.0
        self.outage = False

    def beat(self) -> None:
        """The bars done and the heartbeat onto the row. A database away (a restart, a network blip)
        does not stop the run: it trades on, and the next beat tries again on a new connection (the
        journal at the end waits for it, ``_wait_for_database``)."""
        try:
            running = BacktestRun.objects.filter(pk=self.run_id, status=RunStatus.RUNNING).update(
                bars_done=self.done, heartbeat_at=timezone.now()
            )
        except DB_ERRORS as exc:
            if connection.in_atomic_block:
                raise  # not ours to drop: the caller's transaction is broken
            journal_services.discard_broken_connection()
            if not self.outage:
                log.warning(
                    "backtest run %s: progress not written, the database is unreachable (%s)",
                    self.run_id,
                    exc,
                )
            self.outage = True
        else:
            if self.outage:
                log.warning("backtest run %s: the database is back", self.run_id)
            self.outage = False
            if not running:
                raise RunStopped(self.run_id)
        self.last = time.monotonic()

    def __call__(self, cycle: Any) -> None:
        at = cycle.bar_time
        placed = self.sessions.get(at.astimezone(market_calendar.IST).date())
        if placed is not None:
            before, opens, bars = placed
            self.done = max(self.done, before + min(bars, int((at - opens).total_seconds() // 60) + 1))
        if self.also is not None:
            self.also(cycle)
        if time.monotonic() - self.last >= PROGRESS_EVERY:
            self.beat()


def _wait_for_database(run_id: int, seconds: float) -> None:
    """Return once the database answers; its last error after ``seconds`` of trying (every 0.5 s).
    A run's trades are journaled after the run, all at once: a database restarting at that moment
    is waited for rather than losing the run."""
    deadline = time.monotonic() + seconds
    waited = False
    while True:
        try:
            connection.ensure_connection()
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            if waited:
                log.warning("backtest run %s: the database is back, journaling", run_id)
            return
        except DB_ERRORS as exc:
            journal_services.discard_broken_connection()
            if time.monotonic() >= deadline:
                raise
            if not waited:
                log.warning(
                    "backtest run %s: waiting up to %.0f s for the database (%s)", run_id, seconds, exc
                )
            waited = True
            time.sleep(0.5)


def backtest_run_execute(
    run_id: int,
    *,
    progress: Callable | None = None,
    on_session: Callable[[date, int], None] | None = None,
    features_apart: bool = False,
    checks_apart: bool = False,
) -> BacktestRun:
    """Run the stored run ``run_id``: the engine over its market (read session by session), its
    trades into the journal in bulk (``record_trades``: one transaction, one performance rebuild), its
    figures onto the row. A stored session with minutes missing is traded on what is there and named
    in the run's ``summary["gaps"]``. ``progress`` sees each cycle, ``on_session(session, bars)`` each
    session done. An exception marks the run FAILED (with the error) and is raised again.
    ``features_apart``: a stored market's feature rows and signals are computed in a forked process
    while this one trades (``market_days_again``; a process with no other thread running, such as
    ``manage.py backtest``). ``checks_apart`` (the same condition): the journal's checks of each
    closed trade run in a forked process while this one trades (``ClosedTrades``); only the
    database's part of journaling is left after the run."""
    claimed = BacktestRun.objects.filter(pk=run_id, status=RunStatus.PENDING).update(
        status=RunStatus.RUNNING, started_at=timezone.now(), heartbeat_at=timezone.now()
    )
    run = BacktestRun.objects.get(pk=run_id)
    if not claimed:
        log.warning("backtest run %s is %s, not PENDING: not run again", run_id, run.status)
        return run
    tracker = _Progress(run.pk, session_bars(run.start, run.end), also=progress)
    closed_trades: ClosedTrades | None = None
    try:
        again = (
            market_days_again(data_source=run.data_source, index=run.index, start=run.start, end=run.end)
            if features_apart
            else None
        )
        market = market_stream(
            data_source=run.data_source,
            index=run.index,
            seed=run.seed or 0,
            start=run.start,
            end=run.end,
            apart=again is not None,
        )
        BacktestRun.objects.filter(pk=run.pk).update(
            bars_total=sum(bars for _, _, bars in tracker.sessions.values()), heartbeat_at=timezone.now()
        )
        slots, _ = chosen_strategies(run.index, run.strategies)
        config = engine_config(
            run.index, mode="BACKTEST", data_source=run.data_source, position_prefix=f"BT{run.pk}-"
        )
        # The backtest's clock ends with the close of its last session.
        clock_end = market_calendar.session_close(run.end)
        closed_trades = ClosedTrades(
            journal_services.trade_checks(now=clock_end, origin=TradeOrigin.ENGINE, backtest_run=run)
            if checks_apart and can_fork()
            else None
        )
        result = run_backtest(
            market.days,
            strategies=slots,
            broker=backtest_broker(),  # PAPER_* fill model, as the desk
            config=config,
            params=run.parameters.get("strategies", {}),
            iv_history=market.iv_history,
            on_cycle=tracker,
            on_session=on_session,
            keep_signals=False,
            keep_trades=False,
            on_closed=lambda closed: closed_trades.add(closed.trade),
            days_again=again,
        )
        trim_heap()
        _wait_for_database(run.pk, settings.BACKTEST_DB_WAIT_SECONDS)
        tracker.beat()
        with transaction.atomic():
            # Stopped after the last beat? Then nothing is journaled (the row is locked from here on
            # where the database can: a stop waits for the commit, then finds the run DONE).
            if (
                not BacktestRun.objects.select_for_update()
                .filter(pk=run.pk, status=RunStatus.RUNNING)
                .exists()
            ):
                raise RunStopped(run.pk)
            for combo in result.combos.values():
                facts = combo_facts(combo, mode=config.mode, data_source=config.data_source)
                combo_record(now=clock_end, backtest_run_id=run.pk, **facts)
            journal_services.record_trades(
                now=clock_end,
                origin=TradeOrigin.ENGINE,
                trades=closed_trades.drain(),  # read back one by one
                keep=False,  # nor are the stored trades kept in memory
                backtest_run=run,
            )
            combo_refresh_totals(result.combos)
            run.refresh_from_db()
            run.data_version = result.handed_back if again is not None else market.version()
            _store_result(run, result, gaps=market.gaps)
    except RunStopped:
        # Stopped by a user (or reaped): already FAILED with its reason; nothing of it is stored.
        log.warning("backtest run %s stopped while it ran: none of its trades is stored", run.pk)
        run.refresh_from_db()
        return run
    except (Exception, KeyboardInterrupt, SystemExit) as exc:
        # Ctrl-C (or a SIGTERM the command raises as one) fails the run as an error does; the
        # transaction, if it had begun, is rolled back: none of the run's trades is stored.
        reason = failure_reason(exc)
        try:
            backtest_fail(run.pk, reason)
        except DB_ERRORS as db_exc:  # the database is the trouble: the reaper marks it when it is back
            log.error("backtest run %s not marked FAILED (%s): %s", run.pk, db_exc, reason)
        raise
    finally:
        if closed_trades is not None:
            closed_trades.close()
    return run


class ClosedTrades:
    """A run's closed trades (their journal facts), from the loop to the journal after the run.

    Set aside on disk until the run is done (``_Spill``: memory stays flat however long the run,
    ~13 kB a trade as objects) and journaled after it, so that the database is not held in a write
    transaction for the whole run (SQLite: every other writer would wait). With ``checks``
    (``journal.services.trade_checks``), each trade goes to a forked process as it closes
    (``core.apart.MapApart``) and is checked there while the loop trades on: ``drain`` then gives
    its values, ``Checked`` (stored as they are), or its facts where the checks failed there (checked
    again by the journal, where a bad one raises at its place). A process that died is
    ``ApartDied``: the run fails and no trade is stored. Where the system cannot fork now, the
    trades are spilled and checked after the run, as without ``checks``."""

    def __init__(self, checks: Callable[[dict], dict] | None = None) -> None:
        self._apart = None
        if checks is not None:
            try:
                # nice 10: the checks only have to be done by the end of the run; where the CPU is
                # short, the loop (and its features process) go first.
                self._apart = MapApart(checks, what="journal's checks", nice=10)
            except OSError as exc:  # no process to spare (EAGAIN, ENOMEM): the checks after the run
                log.warning("the journal's checks stay in this process: cannot fork (%s)", exc)
        self._spill = _Spill() if self._apart is None else None

    def add(self, facts: dict) -> None:
        if self._apart is not None:
            self._apart.send(facts)
        else:
            self._spill.add(facts)

    def drain(self) -> Iterator[dict | journal_services.Checked]:
        if self._apart is None:
            yield from self._spill.drain()
            return
        for _, value in self._apart.results():
            yield value  # Checked where the checks passed there, else the trade's facts

    def close(self) -> None:
        """The checking process stopped and reaped (if any), the spill closed."""
        if self._apart is not None:
            self._apart.close()
        else:
            self._spill.close()


class _Spill:
    """Objects set aside in an anonymous temporary file (pickled; gone when closed or when the process
    dies), read back in order once by ``drain``. It holds only what this process wrote."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(prefix="backtest-trades-")
        self.count = 0

    def add(self, item: Any) -> None:
        pickle.dump(item, self._file, protocol=pickle.HIGHEST_PROTOCOL)
        self.count += 1

    def drain(self) -> Iterator:
        """The items in the order added, then the file closed."""
        try:
            self._file.seek(0)
            for _ in range(self.count):
                yield pickle.load(self._file)
        finally:
            self._file.close()

    def close(self) -> None:
        self._file.close()


def _store_result(run: BacktestRun, result: BacktestResult, gaps: Sequence[str] = ()) -> None:
    summary = result.summary()
    if gaps:
        summary["gaps"] = list(gaps)
    run.summary = summary
    run.trade_count = summary["trades"]
    run.net_pnl = Decimal(summary["net_pnl"])
    run.gross_pnl = Decimal(summary["gross_pnl"])
    run.charges = Decimal(summary["charges"])
    run.max_drawdown = Decimal(summary["max_drawdown"])
    run.win_rate = summary["win_rate"]
    run.bars_done = result.bars
    run.status = RunStatus.DONE
    run.finished_at = timezone.now()
    run.save()


def failure_reason(exc: BaseException) -> str:
    """What a run or a sweep that ``exc`` ended stores as its error: ``interrupted`` for Ctrl-C (or
    a SIGTERM the command raises as one, ``interrupted (SIGTERM)``), else the exception's type and
    text."""
    if isinstance(exc, KeyboardInterrupt | SystemExit):
        return f"interrupted ({exc})" if str(exc) else "interrupted"
    return f"{type(exc).__name__}: {exc}"


def backtest_fail(run_id: int, error: str) -> None:
    """Mark an unfinished run FAILED with ``error`` (a finished one stays as it is)."""
    BacktestRun.objects.filter(pk=run_id, status__in=(RunStatus.PENDING, RunStatus.RUNNING)).update(
        status=RunStatus.FAILED, error=error[:2000], finished_at=timezone.now()
    )


def backtest_runs_reap(*, now: datetime | None = None, stale_seconds: float | None = None) -> int:
    """Mark FAILED every RUNNING run (and sweep, ``sweeps.sweeps_reap``) whose worker has given no sign of
    life for ``BACKTEST_STALE_SECONDS``: its process died without a word (SIGKILL, OOM, a lost host).
    Returns how many runs were marked."""
    now = now or timezone.now()
    stale = timedelta(seconds=stale_seconds or settings.BACKTEST_STALE_SECONDS)
    lost = BacktestRun.objects.filter(status=RunStatus.RUNNING, heartbeat_at__lt=now - stale)
    return lost.update(
        status=RunStatus.FAILED,
        error=f"worker lost: no sign of life for {stale.total_seconds():.0f} s",
        finished_at=now,
    )


def backtest_execute(
    *,
    start: date,
    end: date,
    seed: int = 7,
    index: str = "NIFTY",
    strategies: list[str] | None = None,
    name: str = "",
    overrides: Mapping[str, Any] | None = None,
    data_source: str = DataSource.SIM,
    progress: Callable | None = None,
    on_session: Callable[[date, int], None] | None = None,
    features_apart: bool = False,
    checks_apart: bool = False,
) -> BacktestRun:
    """Backtest the strategies over the sessions ``start``..``end`` here and now, and store the run
    and its trades (``manage.py backtest``). Raises ``ValidationError`` for bad settings.
    ``features_apart``, ``checks_apart``: see ``backtest_run_execute``."""
    request = backtest_request(
        start=start,
        end=end,
        seed=seed,
        index=index,
        strategies=strategies,
        data_source=data_source,
        overrides=overrides,
        name=name,
    )
    run = backtest_create(request)
    return backtest_run_execute(
        run.pk,
        progress=progress,
        on_session=on_session,
        features_apart=features_apart,
        checks_apart=checks_apart,
    )
