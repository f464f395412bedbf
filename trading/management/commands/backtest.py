"""`manage.py backtest`: the strategies over simulated or stored sessions, stored as a BacktestRun with
its trades; or, with ``--bars``, one strategy over a plain OHLCV CSV in the research mode."""

from __future__ import annotations

import gc
from datetime import date

from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from trading.core import calendar as market_calendar
from trading.core import jit
from trading.core.research import INSTRUMENTS, run_research
from trading.core.strategies.examples import example, example_names
from trading.execution.backtests import DATA_SOURCES, backtest_execute, parse_overrides
from trading.execution.models import RunStatus
from trading.execution.persistence import DB_ERRORS
from trading.management.interrupts import stopped, terminate_as_interrupt
from trading.marketdata.base import FeedError
from trading.marketdata.plain_bars import PlainBarsError, check_writable, read_plain_bars, write_round_trips

# The backtest service's field -> this command's option, where the two differ (errors name the option).
_OPTIONS = {"overrides": "param", "strategies": "strategy", "data_source": "data"}


class Command(BaseCommand):
    help = (
        "Backtest the strategies on the simulated market (--data sim) or the market-data store "
        "(--data store); trades go to the journal as BACKTEST. With --bars FILE.csv: one example "
        "strategy over plain OHLCV bars in the plain-bars mode (docs/plain-bars.md), trades to --trades-csv."
    )
    # No system checks: they import every URLconf, view and serializer (about 0.5 s and 35 MB) for a
    # command that serves no request; `manage.py check` (and every server start) still runs them.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser):
        parser.add_argument("--start", type=date.fromisoformat, default=None)
        parser.add_argument("--end", type=date.fromisoformat, default=None, help="default: --start")
        parser.add_argument(
            "--data", choices=list(DATA_SOURCES), default="sim", help="sim (default) or store"
        )
        parser.add_argument("--seed", type=int, default=7, help="the simulated market's seed (--data sim)")
        parser.add_argument("--index", default="NIFTY")
        parser.add_argument(
            "--strategy", action="append", default=[], help="repeat; default: the enabled ones"
        )
        parser.add_argument("--name", default="")
        parser.add_argument(
            "--param",
            action="append",
            default=[],
            metavar="STRATEGY.NAME=VALUE",
            help="repeat; a parameter on top of the strategy's configuration",
        )
        parser.add_argument(
            "--features-inline",
            action="store_true",
            help="--data store: compute the features and signals in this process (default: in a forked "
            "process of their own while this one trades, on a second core)",
        )
        parser.add_argument(
            "--checks-inline",
            action="store_true",
            help="check each closed trade for the journal in this process, after the run (default: in a "
            "forked process of their own while this one trades)",
        )
        parser.add_argument(
            "--report",
            default=None,
            metavar="FILE.html",
            help="write the run's tearsheet (as manage.py report)",
        )
        research = parser.add_argument_group("research mode (plain bars)")
        research.add_argument("--bars", default=None, help="CSV: datetime,open,high,low,close,volume")
        research.add_argument("--instrument", choices=INSTRUMENTS, default="FUT")
        research.add_argument("--quantity", type=int, default=1, help="units (no lot check)")
        research.add_argument("--trades-csv", default=None, help="write the round trips here")

    def handle(self, *args, **opts):
        # A one-shot process: its kernel calls are small, and numba's import and cached code (~0.8 s,
        # 110-160 MB) would cost more than it saves - the same numbers either way (core.jit).
        preferred = jit.python_preferred()
        jit.prefer_python()
        # What is loaded so far (Django, the apps, numpy, pandas: ~1M objects) lives as long as the
        # process: kept out of the garbage collector's full passes during the run (~0.1 s a year).
        gc.freeze()
        try:
            self._handle(opts)
        finally:
            gc.unfreeze()  # as it was (tests call the command in their process)
            jit.prefer_python(preferred)

    def _handle(self, opts) -> None:
        if opts["bars"]:
            return self._research(opts)
        if opts["start"] is None:
            raise CommandError("--start is required (or --bars FILE.csv for the research mode)")
        start, end = opts["start"], opts["end"] or opts["start"]
        if end < start:
            raise CommandError("--end is before --start")
        sessions = market_calendar.trading_days(start, end)
        if not sessions:
            raise CommandError(f"no trading day between {start} and {end}")
        source = f"seed {opts['seed']}" if opts["data"] == "sim" else "the market-data store"
        self.stdout.write(f"backtest: {len(sessions)} session(s) {start}..{end} on {source}")
        seen = {"sessions": 0}

        def progress(session: date, bars: int) -> None:
            seen["sessions"] += 1
            done = min(1.0, seen["sessions"] / len(sessions))
            bar = "#" * int(done * 30)
            self.stdout.write(f"\r[{bar:<30}] {done:6.1%}  session {session}", ending="")
            self.stdout.flush()

        try:
            with terminate_as_interrupt():
                run = backtest_execute(
                    start=start,
                    end=end,
                    seed=opts["seed"],
                    index=opts["index"],
                    strategies=opts["strategy"] or None,
                    name=opts["name"],
                    overrides=parse_overrides(opts["param"]),
                    data_source=DATA_SOURCES[opts["data"]],
                    on_session=progress,
                    # this process runs no other thread: it may fork
                    features_apart=not opts["features_inline"],
                    checks_apart=not opts["checks_inline"],
                )
        except ValidationError as exc:  # the service names its fields; the user typed options
            raise CommandError(
                "; ".join(f"--{_OPTIONS.get(k, k)}: {' '.join(v)}" for k, v in exc.message_dict.items())
            ) from None
        except FeedError as exc:
            raise CommandError(str(exc)) from None
        except DB_ERRORS as exc:
            self.stdout.write("")
            raise CommandError(
                f"the database is unreachable ({str(exc).strip()}): none of the run's trades is stored; "
                "a run it could not mark FAILED is marked by the reaper once the database is back"
            ) from None
        except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (``terminate_as_interrupt``)
            self.stdout.write("")
            raise stopped(
                exc, ": the run is marked FAILED and none of its trades is in the journal"
            ) from None
        self.stdout.write("")
        if run.status != RunStatus.DONE:  # stopped from the web page while it ran (backtest_stop)
            raise CommandError(
                f"BacktestRun {run.pk} {run.status}: {run.error}; none of its trades is stored"
            )
        s = run.summary
        for line in s.get("gaps", [])[:20]:
            self.stdout.write(f"gap: {line}")
        self.stdout.write(
            self.style.SUCCESS(
                f"BacktestRun {run.pk}: {s.get('trades')} trades, win rate {s.get('win_rate')}%, "
                f"net Rs {s.get('net_pnl')} (charges {s.get('charges')}), max drawdown {s.get('max_drawdown')}"
            )
        )
        if opts["report"]:
            # The one tearsheet generator, filtered to this run (manage.py report --backtest-run).
            call_command("report", out=opts["report"], filter_backtest_run=str(run.pk), stdout=self.stdout)

    def _research(self, opts) -> None:
        names = opts["strategy"] or ["ema_cross"]
        if len(names) != 1:
            raise CommandError("--bars runs one --strategy")
        try:
            strategy = example(names[0])
        except KeyError:
            raise CommandError(
                f"--strategy {names[0]}: the research mode runs an example strategy "
                f"({', '.join(example_names())}); the desk's strategies need option chains"
            ) from None
        if opts["quantity"] < 1:
            raise CommandError("--quantity must be at least 1")
        try:
            if opts["trades_csv"]:
                check_writable(opts["trades_csv"])  # refused now, not after the run
            bars = read_plain_bars(opts["bars"])
        except (OSError, PlainBarsError) as exc:
            raise CommandError(_os_message(exc)) from None
        result = run_research(bars, strategy, quantity=opts["quantity"], instrument=opts["instrument"])
        if opts["trades_csv"]:
            try:
                write_round_trips(opts["trades_csv"], result.trips)
            except OSError as exc:
                raise CommandError(f"--trades-csv: {_os_message(exc)} (nothing written)") from None
        points = sum(t.points for t in result.trips)
        self.stdout.write(
            self.style.SUCCESS(
                f"{strategy.name} on {opts['instrument']} x{opts['quantity']}: {result.bars} bars, "
                f"{result.signals} signals, {len(result.trips)} round trips, {points:+.2f} points gross"
                + (f" -> {opts['trades_csv']}" if opts["trades_csv"] else "")
            )
        )


def _os_message(exc: Exception) -> str:
    """An ``OSError`` as "path: reason" (not "[Errno 2] ..."); anything else as its text."""
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        return f"{exc.filename}: {exc.strerror.lower()}"
    return str(exc)
