"""The database metrics: state and journal counts computed at scrape time.

``DatabaseCollector`` exports the families of ``trading.monitoring.families.DB_FAMILIES`` from a
handful of GROUP BY queries (trades, orders, open positions, today's performance, strategies, control
state).
They come from the database, not from any process's memory, so they are right after a restart, after
a wipe of the multiprocess directory, and whichever process made the trade: ``trading_trades_total``
per strategy is the number of journal rows per strategy, ``trading_orders_total`` the order rows.

"Today" is the session of the market clock: the IST date of the engine's last bar
(``TradingState.last_bar_time`` of ``settings.TRADING_INDEX``), the wall-clock date when there is none,
so a simulated market trading 2025-01-02 shows that day's P&L. The market clock also says whether the
session is open (``trading_market_session_open``): the wall clock with the Kite feed, the close of the
engine's last bar with the simulated and replay feeds.

Gauges of the state read 0, not nothing, when the desk is flat: open positions, their value and
unrealised P&L, working orders, per switched-on strategy and trading mode. The journal's counters
start at 0 for the same keys (trades per side, exits per type, wins), so ``increase()`` sees their
first event.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import sys
import threading
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import (
    Count,
    DecimalField,
    ExpressionWrapper,
    F,
    FloatField,
    Sum,
)
from django.db.models.functions import Coalesce
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from journal import spool
from journal.models import DailyPerformance, StrategyPerformance, Trade
from trading import metrics
from trading.choices import ExitType, Side
from trading.core import calendar, fills, order_types
from trading.execution.models import Position, TradingState
from trading.monitoring import multiprocess
from trading.monitoring.families import DB_FAMILIES, DbFamily
from trading.monitoring.tally import JournalTally, Series, as_float
from trading.strategies.models import Signal, StrategyConfig

log = logging.getLogger(__name__)


def _family(spec: DbFamily):
    if spec.kind == "counter":
        return CounterMetricFamily(spec.name, spec.documentation, labels=spec.labels)
    return GaugeMetricFamily(spec.name, spec.documentation, labels=spec.labels)


def _ist_midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=calendar.IST)


class DatabaseCollector:
    """A prometheus_client collector of the database metrics (register it on a scrape's registry)."""

    def __init__(self, multiprocess_dir: Path | None = None) -> None:
        self.multiprocess_dir = multiprocess_dir

    def describe(self):
        """The families, without samples (lets a registry check names)."""
        return [_family(spec) for spec in DB_FAMILIES.values()]

    def collect(self):
        start = time.perf_counter()
        fam = {name: _family(spec) for name, spec in DB_FAMILIES.items()}
        self._static(fam)
        try:
            series = database_series()
            up = 1.0
        except DatabaseError as exc:
            # The database is down: the state and journal families go out empty (alerts see them
            # absent) and the rest of the scrape still works.
            log.warning("metrics: database unreachable: %s", exc)
            series, up = {}, 0.0
        for name, data in series.items():
            family = fam[name]
            paise = "_rupees" in name  # money to the paisa, as the journal keeps it
            for labels, value in data.items():
                family.add_metric(labels, round(value, 2) if paise else value)
        fam["trading_market_session_open"].add_metric(
            ["NSE"], 1.0 if calendar.is_in_session(market_now(series)) else 0.0
        )
        fam["trading_metrics_database_up"].add_metric([], up)
        fam["trading_metrics_collect_seconds"].add_metric([], time.perf_counter() - start)
        return list(fam.values())

    def _static(self, fam: dict) -> None:
        """The families that need no database."""

        try:
            depth = spool.depth()
        except OSError:
            depth = 0
        fam["trading_trade_spool_depth"].add_metric([], depth)
        fam["trading_build_info"].add_metric(
            [
                str(settings.SPECTACULAR_SETTINGS.get("VERSION", "dev")),
                "{}.{}.{}".format(*sys.version_info[:3]),
                settings.TRADING_MODE,
            ],
            1.0,
        )
        fam["trading_capital_rupees"].add_metric([], float(settings.TRADING_CAPITAL))
        fam["trading_daily_loss_limit_rupees"].add_metric(
            [], float(getattr(settings, "DAILY_LOSS_LIMIT", 0.0))
        )
        fam["trading_live_trading_enabled"].add_metric([], 1.0 if settings.LIVE_TRADING_ENABLED else 0.0)
        fam["trading_metrics_multiprocess_files"].add_metric(
            [], multiprocess.file_count(self.multiprocess_dir)
        )


def market_now(series: Series) -> datetime:
    """The market clock: the wall clock with the Kite feed; with the simulated and replay feeds the
    close of the engine's last bar of ``settings.TRADING_INDEX`` (the wall clock before any bar)."""
    now = timezone.now()
    if settings.MARKET_FEED == "kite":
        return now
    bar = series.get("trading_last_bar_timestamp_seconds", {}).get((metrics.label(settings.TRADING_INDEX),))
    if bar is None:
        return now
    return datetime.fromtimestamp(bar, UTC) + BAR


BAR = timedelta(minutes=1)  # the engine's bars: a bar's close is its start plus this


# --- reading the database ------------------------------------------------------------------------


def _new_series() -> Series:
    return defaultdict(lambda: defaultdict(float))


def read_database(tally: JournalTally | None = None) -> Series:
    """Every database family's samples, read now: a few small queries, and the journal counts
    brought up to date in ``tally`` (a fresh one when None: two GROUP BYs)."""
    out = _new_series()
    session = _state(out)
    tally = tally or JournalTally()
    tally.refresh()
    tally.emit(out)
    unrealized = _positions(out)
    _today(out, session, unrealized)
    enabled = _strategies(out)
    _zeros(out, enabled, desk_modes())
    return out


def desk_modes() -> list[str]:
    """The modes the desk trades in: PAPER, and the configured one."""
    return sorted({"PAPER", settings.TRADING_MODE})


def _zeros(out: Series, strategies: list[str], modes: list[str]) -> None:
    """0 for the keys the desk can move but has not: a flat book reads 0 (not an absent series) and
    a journal counter's first trade is an increase from 0."""
    for s in strategies:
        for mode in modes:
            key = (s, mode)
            for name in ZERO_WHEN_FLAT:
                out[name][key] += 0.0
            for side in Side.values:
                out["trading_trades"][(s, side, "closed", mode)] += 0.0
                out["trading_winning_trades"][(s, side, mode)] += 0.0
            for exit_type in ExitType.values:
                out["trading_trade_exits"][(s, exit_type, mode)] += 0.0
            for reason in REJECTION_REASONS:
                out["trading_orders_rejected"][(s, reason, mode)] += 0.0
            for reason in CANCELLATION_REASONS:
                out["trading_orders_cancelled"][(s, reason, mode)] += 0.0


# The reason codes an order is refused or cancelled with (``metrics.reason_label`` of the stored
# reason: the paper broker's and the engine's codes; a broker's free text reads "other").
REJECTION_REASONS = (
    fills.R_INVALID_PRICE,
    fills.R_PRICE_BAND,
    fills.R_INVALID_QUANTITY,
    fills.R_NO_QUOTE,
    order_types.R_BROKER_REJECTED,
    order_types.R_MAX_RETRIES,
    order_types.R_RATE_LIMITED,
    "other",
)
CANCELLATION_REASONS = (order_types.R_CANCELLED, "other")

ZERO_WHEN_FLAT = (
    "trading_positions_open",
    "trading_positions_open_quantity",
    "trading_positions_value_rupees",
    "trading_unrealized_pnl_rupees",
    "trading_orders_working",
)


def _state(out: Series) -> date:

    session = None
    for st in TradingState.objects.all():
        idx = (metrics.label(st.index),)
        out["trading_circuit_breaker_active"][idx] = 1.0 if st.circuit_breaker else 0.0
        out["trading_kill_switch_active"][idx] = 1.0 if st.kill_switch else 0.0
        out["trading_live_confirmed"][idx] = 1.0 if st.live_confirmed_at else 0.0
        if st.last_bar_time:
            out["trading_last_bar_timestamp_seconds"][idx] = st.last_bar_time.timestamp()
        if st.last_cycle_at:
            out["trading_last_cycle_timestamp_seconds"][idx] = st.last_cycle_at.timestamp()
        if st.last_bar_time and (session is None or st.index == settings.TRADING_INDEX):
            session = calendar.ist_date(st.last_bar_time)
    session = session or calendar.ist_date(timezone.now())
    out["trading_session_date_timestamp_seconds"][()] = _ist_midnight(session).timestamp()
    return session


def _positions(out: Series) -> dict[str, float]:

    money = DecimalField(max_digits=20, decimal_places=4)
    mark = Coalesce("last_price", "entry_price")
    rows = (
        Position.objects.filter(status="OPEN")
        .values("strategy_name", "mode", "side")
        .annotate(
            n=Count("id"),
            qty=Sum("quantity"),
            value=Sum(ExpressionWrapper(F("quantity") * mark, output_field=money)),
            cost=Sum(ExpressionWrapper(F("quantity") * F("entry_price"), output_field=money)),
        )
        .order_by()
    )
    unrealized: dict[str, float] = defaultdict(float)
    for r in rows:
        key = (metrics.label(r["strategy_name"]), r["mode"])
        value, cost = as_float(r["value"]), as_float(r["cost"])
        upnl = (cost - value) if r["side"] == "SHORT" else (value - cost)
        out["trading_positions_open"][key] += float(r["n"])
        out["trading_positions_open_quantity"][key] += float(r["qty"] or 0)
        out["trading_positions_value_rupees"][key] += value
        out["trading_unrealized_pnl_rupees"][key] += upnl
        unrealized[r["mode"]] += upnl
    return unrealized


def _today(out: Series, session: date, unrealized: dict[str, float]) -> None:

    capital = float(settings.TRADING_CAPITAL) or 1.0
    realized: dict[str, float] = {}
    rows = DailyPerformance.objects.filter(date=session).values_list(
        "mode", "net_pnl", "trades", "win_rate", "total_charges", "max_drawdown"
    )
    for mode, net, trades, win_rate, charges, drawdown in rows:
        realized[mode] = as_float(net)
        out["trading_daily_trades"][(mode,)] = float(trades)
        out["trading_daily_win_rate_percent"][(mode,)] = as_float(win_rate)
        out["trading_daily_charges_rupees"][(mode,)] = as_float(charges)
        out["trading_daily_max_drawdown_rupees"][(mode,)] = as_float(drawdown)
    # The trading modes always have a daily figure (0 before the first trade), so alerts and panels
    # see a number, not an absent series.
    for mode in sorted({"PAPER", settings.TRADING_MODE} | set(realized) | set(unrealized)):
        r, u = realized.get(mode, 0.0), unrealized.get(mode, 0.0)
        out["trading_realized_pnl_rupees"][(mode,)] = r
        out["trading_daily_pnl_rupees"][(mode,)] = r + u
        out["trading_daily_pnl_percent"][(mode,)] = (r + u) / capital * 100.0
    rows = (
        Trade.objects.filter(trade_date=session)
        .values_list("strategy_name", "entry_mode")
        .annotate(net=Sum("net_pnl", output_field=FloatField()))
        .order_by()
    )
    for name, mode, net in rows:
        out["trading_strategy_daily_pnl_rupees"][(metrics.label(name), mode)] += as_float(net)
    start = _ist_midnight(session).astimezone(UTC)
    rows = (
        Signal.objects.filter(bar_time__gte=start, bar_time__lt=start + timedelta(days=1))
        .values_list("strategy_name", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    for name, status, n in rows:
        out["trading_daily_signals"][(metrics.label(name), status)] += float(n)


def _strategies(out: Series) -> list[str]:
    """The strategies' families; returns the label values of the switched-on strategies."""
    enabled = []
    for name, on, capital in StrategyConfig.objects.values_list("name", "enabled", "capital_allocation"):
        s = (metrics.label(name),)
        out["trading_strategy_enabled"][s] = 1.0 if on else 0.0
        out["trading_strategy_capital_allocation_rupees"][s] = as_float(capital)
        if on:
            enabled.append(s[0])
    out["trading_strategies_enabled"][()] = float(len(enabled))
    rows = StrategyPerformance.objects.values_list(
        "strategy_name",
        "mode",
        "win_rate",
        "profit_factor",
        "expectancy",
        "max_drawdown",
        "best_trade",
        "worst_trade",
        "avg_hold_minutes",
    )
    for name, mode, win_rate, pf, expectancy, drawdown, best, worst, hold in rows:
        key = (metrics.label(name), mode)
        out["trading_strategy_win_rate_percent"][key] = as_float(win_rate)
        if pf is not None:
            out["trading_strategy_profit_factor_ratio"][key] = as_float(pf)
        out["trading_strategy_expectancy_rupees"][key] = as_float(expectancy)
        out["trading_strategy_max_drawdown_rupees"][key] = as_float(drawdown)
        out["trading_strategy_best_trade_rupees"][key] = as_float(best)
        out["trading_strategy_worst_trade_rupees"][key] = as_float(worst)
        out["trading_strategy_avg_hold_seconds"][key] = as_float(hold) * 60.0
    return enabled


class _SnapshotCache:
    """The last reading of the database and the change token it was read at.

    The token is read *before* the queries: a commit that lands between the token and the queries'
    snapshot is already in the counts, and one after it moves the token, so a cached answer is never
    older than the database. PostgreSQL: the WAL insert position (any committed change moves it).
    SQLite: ``PRAGMA data_version`` on a read-only connection of our own (it changes whenever another
    connection commits). Inside a transaction (our own uncommitted writes move no token), with another
    database, or on any doubt: no caching. ``MAX_AGE`` bounds what a commit racing the token could
    hide (PostgreSQL writes its commit record a moment before the commit becomes visible).
    """

    MAX_AGE = 60.0

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.key: tuple | None = None
        self.built = 0.0
        self.series: Series = {}
        self.tally = JournalTally()
        self._probe: sqlite3.Connection | None = None
        self._probe_path = ""

    def _sqlite_version(self, path: str) -> int | None:
        if self._probe is None or self._probe_path != path:
            if self._probe is not None:
                self._probe.close()
            self._probe = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
            self._probe_path = path
        return self._probe.execute("PRAGMA data_version").fetchone()[0]

    def token(self) -> tuple | None:
        try:
            if connection.vendor == "postgresql":
                with connection.cursor() as cur:
                    cur.execute("SELECT pg_current_wal_insert_lsn()::text")
                    return ("pg", connection.settings_dict.get("NAME"), cur.fetchone()[0])
            if connection.vendor == "sqlite":
                path = str(connection.settings_dict.get("NAME") or "")
                if not path or path == ":memory:" or path.startswith("file:"):
                    return None
                st = os.stat(path)
                return ("sqlite", path, st.st_ino, st.st_dev, self._sqlite_version(path))
        except (DatabaseError, sqlite3.Error, OSError):
            log.debug("metrics: no change token", exc_info=True)
        return None

    def get(self) -> Series:
        if connection.in_atomic_block:
            return read_database()
        with self.lock:
            token = self.token()
            # The wall-clock date is part of the key: with no engine state "today" is the calendar's.
            key = None if token is None else (token, timezone.localdate())
            fresh = time.monotonic() - self.built < self.MAX_AGE
            if key is not None and key == self.key and fresh:
                return self.series
            try:
                series = read_database(self.tally)
            except Exception:
                self.tally = JournalTally()  # never keep a tally a failed refresh left half-updated
                raise
            self.key, self.series, self.built = key, series, time.monotonic()
            return series

    def clear(self) -> None:
        with self.lock:
            self.key, self.series, self.built = None, {}, 0.0
            self.tally = JournalTally()


_snapshot = _SnapshotCache()


def database_series() -> Series:
    """The database families' samples: re-read when the database changed since the last scrape."""
    return _snapshot.get()
