"""The desk: one index's trading in this process - the market source, the live features and
signals, the broker, and the engine state last seen (what the engine trades on while the database
is away). ``run_cycle`` is the one cycle every caller runs (the loop, the Celery tasks, tests).

A cycle reads as its steps: begin (drain the spool, load the state) -> evaluate (feature row and
signals) -> the engine (settle -> exits -> gate -> entries) -> persist (or spool while the
database is away) -> report.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from decimal import Decimal

from django.db import InterfaceError, OperationalError
from django.utils import timezone

from journal import services as journal_services
from journal import spool
from trading import metrics
from trading.core import calendar as market_calendar
from trading.core import engine, risk
from trading.core.bars import MarketBar
from trading.core.live import LiveSignals, expiry_settlement
from trading.core.results import CycleResult
from trading.core.state import EngineState, SignalInput, StrategySlot
from trading.execution.carrier import StateCarrier
from trading.execution.config import (
    engine_config,
    feed_config,
    setting,
    source_from_settings,
    strategy_slots,
    trading_index,
)
from trading.execution.config import trading_mode as configured_mode
from trading.execution.events import CycleView, FeedWatch, mode_seen
from trading.execution.live import LiveGuard, default_broker, ensure_desk_broker, ensure_live_allowed
from trading.execution.lock import cycle_lock
from trading.execution.models import Order, TradingState
from trading.execution.observe import observe_cycle
from trading.execution.order_hooks import DatabaseOrderHooks
from trading.execution.orders import broker_book_restore
from trading.execution.persistence import DeskIdentity, persist_cycle, spool_close
from trading.execution.state import load_state, trading_state
from trading.strategies.models import Signal, SignalStatus

log = logging.getLogger(__name__)

BAR = timedelta(minutes=1)
LAST_BAR = clock_time(15, 29)  # the start of a session's last minute bar, IST
DB_ERRORS = (OperationalError, InterfaceError)


@dataclass
class CycleReport:
    """What one ``run_cycle`` did (for the loop's progress line, tasks and tests)."""

    index: str
    bar_time: datetime | None
    skipped: str = ""
    signals: int = 0
    accepted: int = 0
    orders: int = 0
    opened: int = 0
    closed: int = 0
    open_positions: int = 0
    net_pnl: Decimal = Decimal(0)
    breaker: str = ""
    db_available: bool = True
    spooled: int = 0
    result: CycleResult | None = field(default=None, repr=False)

    def take(self, result: CycleResult, state: EngineState) -> None:
        """The counts of ``result`` and the state's open positions and P&L after it."""
        self.result = result
        self.signals = len(result.signals)
        self.accepted = sum(1 for outcome in result.signals if outcome.accepted)
        self.orders = len(result.orders)
        self.opened = len(result.opened)
        self.closed = len(result.closed)
        self.open_positions = len(state.positions)
        self.net_pnl = state.risk.realised_pnl
        self.breaker = result.breaker_tripped


class SnapshotThrottle:
    """Store the market view at most every ``MARKET_SNAPSHOT_INTERVAL`` wall seconds (default 1),
    and on a session's last bar: every bar when trading in real time, about once a second when the
    simulated loop runs fast (the chain page refreshes no faster)."""

    def __init__(self) -> None:
        self._last = float("-inf")

    def due(self, bar: MarketBar) -> bool:
        now = time.monotonic()
        last_bar = bar.time.astimezone(market_calendar.IST).time() >= LAST_BAR
        if last_bar or now - self._last >= float(setting("MARKET_SNAPSHOT_INTERVAL", 1.0)):
            self._last = now
            return True
        return False


class Desk:
    """One index's trading in this process (see the module docstring)."""

    RELOAD_EVERY = 30

    def __init__(
        self, index: str | None = None, *, mode: str | None = None, source=None, broker=None
    ) -> None:
        self.index = trading_index(index)
        self.mode = (mode or configured_mode()).upper()
        # The broker follows the mode: LIVE only when every condition holds (checked again every
        # cycle by the guard), any other mode on paper whatever TRADING_BROKER says.
        self.guard = LiveGuard(self.index) if self.mode == "LIVE" else None
        if self.guard is not None:
            ensure_live_allowed(self.index)
        self.broker = broker or default_broker(self.mode, index=self.index)
        ensure_desk_broker(self.mode, self.broker)
        self.source = source or source_from_settings(self.index)
        self.data_source = getattr(self.source, "source", "SIM")
        self.live = LiveSignals(self.source, warmup_sessions=int(setting("FEATURE_WARMUP_SESSIONS", 5)))
        self.broker_name = getattr(self.broker, "name", "paper") or "paper"
        self.config = engine_config(
            self.index,
            mode=self.mode,
            data_source=self.data_source,
            expiries_from_broker=bool(getattr(self.source, "expiries_from_broker", False)),
        )
        self.identity = DeskIdentity(self.index, self.mode, self.data_source, self.broker_name)
        self.state: EngineState | None = None
        self.carrier = StateCarrier(self.index, self.mode)  # the state between processes' cycles
        self.slots: dict[str, StrategySlot] = {}
        self.pairs: list[tuple[str, dict]] = []
        self.db_ok = True
        self.db_down_since: datetime | None = None  # wall clock of the outage's first failure, UTC
        self.restored = False
        self._seen_stamp: datetime | None = None  # TradingState.updated_at after our last good cycle
        self._last_row: dict | None = None
        self._snapshots = SnapshotThrottle()
        self._stages: dict[str, float] = {}
        self._since_load = 0
        self.last_bar_time: datetime | None = None
        self.feed = FeedWatch(self.index)  # feed up / down / stale, told to the outbox on change
        self._mode_told = False

    # --- database health ---
    def database_lost(self, exc: BaseException) -> None:
        """The database went away: exits only from now on, closes spooled, until a cycle reaches it.
        Logged once per outage (every cycle of it fails the same way), with its end in
        ``database_back``."""
        if self.db_down_since is None:
            self.db_down_since = datetime.now(UTC)
            log.error("database unreachable (%s): exits only, closes spooled", str(exc).strip()[:200])
            metrics.system_error("database", "critical")
        self.db_ok = False
        self._seen_stamp = None
        journal_services.discard_broken_connection()

    def database_back(self) -> None:
        """A cycle's writes were stored again after an outage: say so once, with its length."""
        if self.db_down_since is not None:
            down = (datetime.now(UTC) - self.db_down_since).total_seconds()
            log.warning("database reachable again after %.1f s: spool replayed, entries resume", down)
            self.db_down_since = None

    def restore_broker_book(self) -> int:
        """Put this desk's stored orders back into a paper broker's book, once per process."""
        if self.restored:
            return 0
        self.restored = True
        return broker_book_restore(
            self.broker, index=self.index, mode=self.mode, broker_name=self.broker_name
        )

    # --- state ---
    def _load(self, at: datetime, ts: TradingState | None = None) -> EngineState:
        """The engine state for a cycle at ``at``: kept in memory from the last cycle while nothing
        else wrote to this index (the ``TradingState`` stamp is the one we wrote, same session,
        reloaded every ``RELOAD_EVERY`` cycles anyway), else rebuilt from the database."""
        self.restore_broker_book()
        self.slots, self.pairs = strategy_slots(self.index)
        ts = ts or trading_state(self.index)
        self.last_bar_time = ts.last_bar_time
        cached = self.state
        if (
            cached is not None
            and self._seen_stamp is not None
            and ts.updated_at == self._seen_stamp
            and cached.risk.session == market_calendar.ist_date(at)
            and self._since_load < self.RELOAD_EVERY
        ):
            self._since_load += 1
            return cached
        self._since_load = 0
        return load_state(self.index, self.mode, at=at)

    # --- one cycle ---
    def cycle(
        self,
        at: datetime | None = None,
        bar: MarketBar | None = None,
        *,
        exits_only: bool = False,
        force_exit: str = "",
    ) -> CycleReport:
        """Run one engine cycle (see ``run_cycle``)."""
        if bar is None:
            at = at or timezone.now()
            try:
                with metrics.timed_market_fetch(self.data_source):  # fetch time; a failure counted
                    bar = self.source.snapshot(at)
            except Exception as exc:
                self._tell(self.feed.failed, exc, at)
                raise
            self._tell(self.feed.bar, bar, at, live=self.data_source == "KITE")
        at = at or bar.time + BAR
        started = time.perf_counter()
        with cycle_lock(self.index):
            report = self._cycle(at, bar, exits_only=exits_only, force_exit=force_exit)
        self._observe(report, bar, at, time.perf_counter() - started)
        return report

    def _tell(self, event, *args, **kwargs) -> None:
        """Write an event of the desk itself (feed, mode); the database being away is the cycle's
        business, not the event's."""
        try:
            event(*args, **kwargs)
        except DB_ERRORS as exc:
            log.warning("event not written (database unreachable): %s", exc)

    def _observe(self, report: CycleReport, bar: MarketBar, at: datetime, seconds: float) -> None:
        outcome = "skipped" if report.skipped else ("database_down" if not report.db_available else "ok")
        observe_cycle(
            index=self.index,
            data_source=self.data_source,
            outcome=outcome,
            result=report.result,
            bar=bar,
            at=at,
            seconds=seconds,
            row=self._last_row,
            stages=self._stages,
            strategy_timings=getattr(self.live, "__dict__", {}).pop("timings", {}),  # this bar only
        )

    def _begin(self, bar: MarketBar, report: CycleReport, *, replaying: bool, at: datetime):
        """Drain the spool and load the state; returns (state, the stamp seen) or (None, None) when
        the cycle is skipped. A database error switches to the state kept in memory."""
        try:
            if spool.depth() > 0:
                drained = spool.drain()
                if drained.remaining:
                    raise OperationalError(f"spool not drained: {drained.error}")
            ts = trading_state(self.index)
            # Back only once a cycle's writes are stored (``_persist``): a database that reads but
            # cannot write (SQLite's disk full, a read-only replica) is still away.
            recovering = self.db_down_since is not None
            if ts.last_bar_time is not None and bar.time <= ts.last_bar_time and not replaying:
                report.skipped = "already processed"
                return None, None
            state = self._load(at, ts)
            if recovering:
                self._keep_outage_marks(state)
            seen, self._seen_stamp = ts.updated_at, None  # trusted again only after a good persist
            return state, seen
        except DB_ERRORS as exc:
            self.database_lost(exc)
            report.db_available = False
            # The state the last cycle ended with, whichever process ran it: never an older one of
            # this process's memory (positions exited late).
            self.state = self.carrier.take() or self.state
            if self.state is None:
                report.skipped = "database unreachable and no state in memory"
                return None, None
            if (
                self.state.last_bar_time is not None
                and bar.time <= self.state.last_bar_time
                and not replaying
            ):
                report.skipped = "already processed"
                return None, None
            return self.state, None

    def _keep_outage_marks(self, state: EngineState) -> None:
        """The database is back and the state was rebuilt from it: the marks the outage's cycles
        moved (high and low water, trailing stop, last price) were never stored - keep them from the
        state those cycles traded on, so a position held through the outage exits where it would
        have without one."""
        previous = self.carrier.take() or self.state
        if previous is None or previous is state:
            return
        for position_id, position in state.positions.items():
            before = previous.positions.get(position_id)
            if before is not None:
                position.high_water, position.low_water = before.high_water, before.low_water
                position.trail, position.last_price = before.trail, before.last_price

    def _evaluate(self, bar: MarketBar, *, take_signals: bool) -> tuple[dict | None, list[SignalInput]]:
        """The bar's feature row and (``take_signals``) the enabled strategies' signals on it."""
        started = time.perf_counter()
        row = self.live.row(bar)
        featured = time.perf_counter()
        signals = self.live.signals(self.pairs) if take_signals else []
        self._stages = {"features": featured - started, "signals": time.perf_counter() - featured}
        self._last_row = row
        return row, signals

    def _persist(
        self,
        result: CycleResult,
        bar: MarketBar,
        *,
        advance: bool,
        seen: datetime | None,
        view: CycleView | None = None,
    ) -> int:
        """Store the cycle; while the database is away spool its closes instead. Returns how many
        closes were spooled."""
        if self.db_ok:
            try:
                self._seen_stamp = persist_cycle(
                    result,
                    desk=self.identity,
                    bar=bar,
                    last_bar_time=self.last_bar_time,
                    advance=advance,
                    seen=seen,
                    snapshot=self._snapshots.due(bar),
                    view=view,
                )
                self.database_back()
                if not self._mode_told:
                    mode_seen(index=self.index, mode=self.mode)
                    self._mode_told = True
            except DB_ERRORS as exc:
                self.database_lost(exc)
        if self.db_ok:
            return 0
        for closed in result.closed:
            spool_close(closed, result.orders, mode=self.mode, broker_name=self.broker_name, now=result.at)
        return len(result.closed)

    def settlement_spot(self, index: str, expiry) -> float | None:
        """The spot this index's options expiring on ``expiry`` settle on, from the desk's source
        (``core.live.expiry_settlement``): the engine's ``SettlementLookup``."""
        return expiry_settlement(self.source, expiry) if index.upper() == self.index else None

    def live_refused(self) -> str:
        """Why a LIVE desk may not trade this cycle ('' when it may, and always '' outside LIVE)."""
        if self.guard is None:
            return ""
        problems = self.guard.problems()
        return "LIVE refused: " + "; ".join(problems) if problems else ""

    def _cycle(self, at: datetime, bar: MarketBar, *, exits_only: bool, force_exit: str) -> CycleReport:
        report = CycleReport(index=self.index, bar_time=bar.time)
        report.skipped = self.live_refused()
        if report.skipped:
            return report
        self.db_ok = True
        replaying = bool(force_exit or exits_only)
        state, seen = self._begin(bar, report, replaying=replaying, at=at)
        if state is None:
            return report
        state.db_available = self.db_ok
        row, signals = self._evaluate(bar, take_signals=not replaying)
        if force_exit == risk.KILL_SWITCH:
            state.risk.kill_switch = True
        started = time.perf_counter()
        result = engine.run_cycle(
            at=at,
            bar=bar,
            row=row,
            signals=signals,
            state=state,
            broker=self.broker,
            strategies=self.slots,
            config=self.config,
            entries_allowed=self.db_ok and not exits_only,
            force_exit=force_exit,
            hooks=DatabaseOrderHooks(self),
            settlement=self.settlement_spot,
        )
        persisting = time.perf_counter()
        view = CycleView(row=row, open_positions=tuple(state.positions.values()))
        report.spooled = self._persist(result, bar, advance=not replaying, seen=seen, view=view)
        self._stages.update(engine=persisting - started, persist=time.perf_counter() - persisting)
        self.state = state
        self.carrier.put(state)
        report.take(result, state)
        report.db_available = self.db_ok
        return report

    def execute_signal(self, signal: Signal) -> CycleReport:
        """Place the entry of a stored ACCEPTED signal that has no order yet (idempotent)."""
        bar = self.source.snapshot(signal.bar_time + BAR)
        at = bar.time + BAR
        report = CycleReport(index=self.index, bar_time=bar.time)
        with cycle_lock(self.index):
            if signal.status != SignalStatus.ACCEPTED or Order.objects.filter(signal=signal).exists():
                report.skipped = "signal not accepted or already executed"
                return report
            report.skipped = self.live_refused()
            if report.skipped:
                return report
            self.db_ok = True
            state = self._load(at)
            result = engine.run_cycle(
                at=at,
                bar=bar,
                row=self.live.row(bar),
                signals=[SignalInput(signal.strategy_name, signal.direction, signal.strength, signal.reason)],
                state=state,
                broker=self.broker,
                strategies=self.slots,
                config=self.config,
                hooks=DatabaseOrderHooks(self),
                run_exits=False,
            )
            self._seen_stamp = None
            persist_cycle(
                result, desk=self.identity, bar=bar, last_bar_time=self.last_bar_time, advance=False
            )
        report.result = result
        report.orders, report.opened = len(result.orders), len(result.opened)
        report.accepted = sum(1 for outcome in result.signals if outcome.accepted)
        return report


# --- this process's desks ------------------------------------------------------------------------------------

_desks: dict[tuple[str, str], Desk] = {}
_desks_guard = threading.Lock()


def desk_for(index: str | None = None, mode: str | None = None) -> Desk:
    """This process's desk of ``index`` (created on first use from settings)."""
    key = (trading_index(index), (mode or configured_mode()).upper())
    with _desks_guard:
        desk = _desks.get(key)
        if desk is None:
            desk = _desks[key] = Desk(key[0], mode=key[1])
        return desk


def set_desk(desk: Desk) -> None:
    """Use ``desk`` for its index and mode in this process (runtrader, tests)."""
    with _desks_guard:
        _desks[(desk.index, desk.mode)] = desk


def reset_desks() -> None:
    """Forget this process's desks and the states they carry (tests)."""
    with _desks_guard:
        for desk in _desks.values():
            desk.carrier.forget()
        _desks.clear()


def run_cycle(
    index: str | None = None,
    at: datetime | None = None,
    bar: MarketBar | None = None,
    *,
    exits_only: bool = False,
    force_exit: str = "",
) -> CycleReport:
    """One engine cycle of ``index`` at clock time ``at`` (default: now) on ``bar`` (default: the
    source's last completed bar at ``at``): exits, signals, risk, orders, fills, trades, all stored.

    Idempotent: a bar already processed is skipped, and a cycle interrupted mid-way (a killed worker)
    is completed by running it again - orders are found by their client order id, positions and
    trades by their ids. ``exits_only`` takes no new entries; ``force_exit`` closes every position
    (``SQUARE_OFF``, ``KILL_SWITCH``).
    """
    return desk_for(index).cycle(at=at, bar=bar, exits_only=exits_only, force_exit=force_exit)


def square_off(index: str | None = None, at: datetime | None = None) -> CycleReport:
    """Close every open position of ``index`` now (exit type SQUARE_OFF)."""
    return desk_for(index).cycle(at=at, force_exit=risk.SQUARE_OFF)


def signal_execute(signal_id: int) -> CycleReport:
    """Execute a stored ACCEPTED signal whose entry order was never placed (recovery); idempotent."""
    signal = Signal.objects.get(pk=signal_id)
    return desk_for(signal.index, signal.mode).execute_signal(signal)


def last_completed_bar_at(now: datetime) -> datetime | None:
    """The clock time of the last completed bar's end at ``now`` in the session, None outside it."""
    if not market_calendar.is_in_session(now - BAR) and not market_calendar.is_in_session(now):
        return None
    return now.replace(second=0, microsecond=0)


def now_utc() -> datetime:
    """The wall clock (UTC) - the live desk's clock; the simulated loop passes its own time."""
    return datetime.now(UTC)


def market_now(index: str | None = None) -> datetime:
    """The desk's market clock now: the wall clock with the Kite feed; with the simulated and replay
    feeds, which run on their own clock, the close of the last bar the desk of ``index`` processed
    (the wall clock before its first bar). A task asked for "now" without a time (the kill switch's
    square-off) runs at this clock: never on a day the simulated market has not reached."""
    if feed_config().name == "kite":
        return now_utc()
    last = TradingState.objects.filter(index=trading_index(index)).values_list("last_bar_time", flat=True)
    bar_time = last.first()
    return bar_time + BAR if bar_time is not None else now_utc()
