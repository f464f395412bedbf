"""`manage.py runtrader`: paper trading on the simulated market, in this process (the embedded mode).
Always PAPER on the paper broker, whatever ``TRADING_MODE`` and ``TRADING_BROKER`` say.

Runs ``trading.execution.desk`` cycles bar by bar on ``SimSource(seed, start)``: the same cycle the Celery
tasks run in the distributed mode. Before trading it drains the spool and reconciles; it reconciles
again every 30 bars.

* ``--speed N``: N market minutes per second (``max``: as fast as possible). ``make run`` uses 60.
* ``--seed``: the simulated market's seed. ``--start``: its first session (default: the most recent
  session's open, whatever the wall-clock time - or, with ``--days N``, N sessions ending with it).
* ``--days N``: stop after N sessions. Without it the loop goes on for ever, and once it has caught
  up with the wall clock it follows it in real time (it never trades a minute that has not passed).
* Notifications (``trading.notifications``) are sent by a thread beside the loop (``--no-notify``: none).
* Restart: with the same seed and start it resumes after the last bar it processed, on the open
  positions and orders in the database (``--fresh`` starts over).
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError
from django.db import InterfaceError, OperationalError

from journal.services import drain_spool
from trading import formats, metrics
from trading.core import calendar as market_calendar
from trading.core.live import SimSource
from trading.execution.config import setting
from trading.execution.desk import Desk, set_desk
from trading.execution.models import Position, PositionStatus, TradingState
from trading.execution.reconciliation import reconcile
from trading.livedesk.maintenance import outbox_prune
from trading.notifications.dispatch import start_thread

log = logging.getLogger(__name__)
BAR = timedelta(minutes=1)
RECONCILE_EVERY = 30
DB_ERRORS = (OperationalError, InterfaceError)


# A wait longer than this is the loop waiting for a session, not for the next bar: say so.
WAIT_NOTICE_SECONDS = 120.0


def _span(seconds: float) -> str:
    minutes = int(seconds // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    return (f"{days}d " if days else "") + (f"{hours}h " if days or hours else "") + f"{mins:02d}m"


def resume_notice(at: datetime, now: datetime) -> str:
    """What the loop prints while it waits for the next session: when it resumes (IST) and in how long."""
    local = at.astimezone(market_calendar.IST)
    return (
        f"runtrader: market closed - waiting for the next session; resumes {local:%a %Y-%m-%d %H:%M} IST "
        f"(in {_span((at - now).total_seconds())}). Ctrl-C stops."
    )


def most_recent_session(now: datetime) -> date:
    """The latest trading day whose session has opened at ``now``."""
    d = market_calendar.ist_date(now)
    if market_calendar.is_trading_day(d) and now >= market_calendar.session_open(d):
        return d
    return market_calendar.previous_trading_day(d)


def sessions_back(last: date, n: int) -> date:
    """The trading day ``n - 1`` sessions before ``last`` (so ``n`` sessions end with ``last``)."""
    d = last
    for _ in range(max(n, 1) - 1):
        d = market_calendar.previous_trading_day(d)
    return d


class Command(BaseCommand):
    help = "Paper trading on the simulated market in this process (the embedded loop)."

    def add_arguments(self, parser):
        parser.add_argument("--speed", default="60", help="market minutes per second, or 'max'")
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument(
            "--days", type=int, default=0, help="stop after N sessions (default: run for ever)"
        )
        parser.add_argument(
            "--start", type=date.fromisoformat, default=None, help="first session (YYYY-MM-DD)"
        )
        parser.add_argument("--index", default=None)
        parser.add_argument("--fresh", action="store_true", help="do not resume an earlier run")
        parser.add_argument("--quiet", action="store_true", help="no progress line")
        parser.add_argument("--no-notify", action="store_true", help="no notifier thread beside the loop")

    def handle(self, *args, **opts):
        speed = None if str(opts["speed"]).lower() == "max" else float(opts["speed"])
        if speed is not None and speed <= 0:
            raise CommandError("--speed must be positive or 'max'")
        seed = opts["seed"]
        days_limit = opts["days"]
        index = (opts["index"] or setting("TRADING_INDEX", "NIFTY")).upper()
        now = datetime.now(UTC)
        recent = most_recent_session(now)
        planned = opts["start"] or (sessions_back(recent, days_limit) if days_limit else recent)
        if not market_calendar.is_trading_day(planned):
            planned = market_calendar.next_trading_day(planned)

        ts, _ = TradingState.objects.get_or_create(index=index)
        resume_after = None
        if (
            not opts["fresh"]
            and ts.feed_seed == seed
            and ts.feed_start is not None
            and ts.last_bar_time is not None
            and (opts["start"] is None or ts.feed_start == planned)
        ):
            planned, resume_after = ts.feed_start, ts.last_bar_time
        else:
            later = Position.objects.filter(
                index=index, status=PositionStatus.OPEN, entry_time__gte=market_calendar.session_open(planned)
            )
            if later.exists():
                raise CommandError(
                    f"{later.count()} open position(s) were entered after {planned}: start a later session "
                    "(--start) or resume the run that opened them (same --seed)."
                )
            ts.feed_seed, ts.feed_start, ts.last_bar_time = seed, planned, None
            ts.save()

        source = SimSource(index=index, seed=seed, start=planned)
        if str(setting("TRADING_MODE", "PAPER")).upper() != "PAPER" or setting("TRADING_BROKER", ""):
            self.stdout.write(
                "runtrader: trades the simulated market on the paper broker (TRADING_MODE and "
                "TRADING_BROKER do not apply here; LIVE runs on the Celery workers)"
            )
        desk = Desk(index, mode="PAPER", source=source)
        set_desk(desk)
        drained = drain_spool()
        report = reconcile(desk=desk)
        what = (
            f"resuming after {resume_after.astimezone(market_calendar.IST):%Y-%m-%d %H:%M} IST"
            if resume_after
            else "starting"
        )
        self.stdout.write(
            f"runtrader: {index} simulated market seed {seed} from {planned} ({what}); speed "
            f"{'max' if speed is None else speed}; spool replayed {drained.written}; "
            f"{report.open_positions} open position(s); {len(report.mismatches)} reconcile note(s)"
        )
        self._stop = False
        signal.signal(signal.SIGTERM, self._on_term)
        metrics.process_started("trader")  # a live trading loop, until this process exits
        outbox_prune()
        # Notifications beside the loop, never inside a cycle (Celery tasks run eagerly here).
        notifier_stop = threading.Event()
        notifier = None if opts["no_notify"] else start_thread(notifier_stop)
        try:
            self._loop(desk, source, planned, resume_after, speed, days_limit, quiet=opts["quiet"])
        except KeyboardInterrupt:
            pass
        finally:
            notifier_stop.set()
            if notifier is not None:
                notifier.join(timeout=10)
        if not opts["quiet"] and self._tty:
            self.stdout.write("")
        self.stdout.write("runtrader: stopped")

    def _on_term(self, signum, frame):
        self._stop = True

    @property
    def _tty(self) -> bool:
        return hasattr(self.stdout, "isatty") and self.stdout.isatty()

    def _loop(
        self, desk, source: SimSource, first: date, resume_after, speed, days_limit: int, *, quiet: bool
    ):
        d = first
        sessions = 0
        totals = {"bars": 0, "orders": 0, "trades": 0}
        started = time.perf_counter()
        next_tick = time.perf_counter()
        while not self._stop:
            sessions += 1
            if days_limit and sessions > days_limit:
                break
            day = source.day(d)
            n = len(day)
            for i in range(n):
                if self._stop:
                    return
                bar_time = day.bar_time(i)
                if resume_after is not None and bar_time <= resume_after:
                    continue
                at = bar_time + BAR
                if not days_limit:
                    self._wait_for_wall_clock(at)
                if speed is not None:
                    next_tick += 1.0 / speed
                    delay = next_tick - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                    else:
                        next_tick = time.perf_counter()
                try:
                    report = desk.cycle(at=at, bar=day.bar(i))
                except Exception:  # noqa: BLE001 - one bad cycle is logged; the loop (and its exits) go on
                    log.exception("cycle at %s failed", at)
                    metrics.system_error("engine")
                    continue
                totals["bars"] += 1
                totals["orders"] += report.orders
                totals["trades"] += report.closed
                if (totals["bars"] % RECONCILE_EVERY) == 0:
                    self._reconcile(desk, at)
                if not quiet and (self._tty or i == n - 1 or totals["bars"] % 25 == 0):
                    self._progress(desk.index, at, i + 1, n, report, totals, started)
            d = market_calendar.next_trading_day(d)

    def _reconcile(self, desk, at: datetime) -> None:
        """The periodic reconcile, inside the loop's error handling like a cycle: while the database
        is away it is skipped (the desk already said so once), and nothing it raises stops the loop."""
        if not desk.db_ok:
            return
        try:
            reconcile(desk=desk, at=at)
        except DB_ERRORS as exc:
            desk.database_lost(exc)
        except Exception:  # noqa: BLE001 - like a failed cycle: logged, the loop goes on
            log.exception("reconcile at %s failed", at)
            metrics.system_error("engine")

    def _wait_for_wall_clock(self, at: datetime) -> None:
        """Never trade a minute that has not passed: sleep until ``at`` (checking for a stop). A wait
        longer than a bar (the night, a weekend, a holiday) says when the loop resumes."""
        told = False
        while not self._stop:
            now = datetime.now(UTC)
            left = (at - now).total_seconds()
            if left <= 0:
                return
            if not told and left > WAIT_NOTICE_SECONDS:
                if self._tty:
                    self.stdout.write("")  # end the progress line first
                self.stdout.write(resume_notice(at, now))
                told = True
            time.sleep(min(left, 1.0))

    def _progress(self, index, at, i, n, report, totals, started) -> None:
        elapsed = max(time.perf_counter() - started, 1e-9)
        net = report.net_pnl if isinstance(report.net_pnl, Decimal) else Decimal(0)
        line = (
            f"[{index} {at.astimezone(market_calendar.IST):%Y-%m-%d %H:%M} IST] bar {i}/{n} | "
            f"open {report.open_positions} | orders {totals['orders']} | trades {totals['trades']} | "
            f"day net Rs {formats.grouped(net)} | {totals['bars'] / elapsed:.0f} bars/s"
            + (f" | {report.skipped}" if report.skipped else "")
            + ("" if report.db_available else " | DATABASE DOWN: exits only")
        )
        if self._tty:
            sys.stdout.write("\r" + line.ljust(120))
            sys.stdout.flush()
        else:
            self.stdout.write(line)
