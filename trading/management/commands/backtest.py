"""`manage.py backtest`: the strategies over simulated sessions, stored as a BacktestRun with its trades."""

from __future__ import annotations

from datetime import date

from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from trading.core import calendar as market_calendar
from trading.execution.backtests import backtest_execute, parse_overrides


class Command(BaseCommand):
    help = "Backtest the strategies on the simulated market; trades go to the journal as BACKTEST."

    def add_arguments(self, parser):
        parser.add_argument("--start", type=date.fromisoformat, required=True)
        parser.add_argument("--end", type=date.fromisoformat, default=None, help="default: --start")
        parser.add_argument("--seed", type=int, default=7)
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
            "--report",
            default=None,
            metavar="FILE.html",
            help="write the run's tearsheet (as manage.py report)",
        )

    def handle(self, *args, **opts):
        start, end = opts["start"], opts["end"] or opts["start"]
        if end < start:
            raise CommandError("--end is before --start")
        sessions = market_calendar.trading_days(start, end)
        if not sessions:
            raise CommandError(f"no trading day between {start} and {end}")
        self.stdout.write(f"backtest: {len(sessions)} session(s) {start}..{end}, seed {opts['seed']}")
        total_bars = 375 * len(sessions)
        seen = {"bars": 0}

        def progress(cycle) -> None:
            seen["bars"] += 1
            if seen["bars"] % 375 == 0 or seen["bars"] == total_bars:
                done = seen["bars"] / total_bars
                bar = "#" * int(done * 30)
                self.stdout.write(
                    f"\r[{bar:<30}] {done:6.1%}  session {seen['bars'] // 375}/{len(sessions)}", ending=""
                )
                self.stdout.flush()

        try:
            run = backtest_execute(
                start=start,
                end=end,
                seed=opts["seed"],
                index=opts["index"],
                strategies=opts["strategy"] or None,
                name=opts["name"],
                overrides=parse_overrides(opts["param"]),
                progress=progress,
            )
        except ValidationError as exc:
            raise CommandError(
                "; ".join(f"--{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
            ) from None
        self.stdout.write("")
        s = run.summary
        self.stdout.write(
            self.style.SUCCESS(
                f"BacktestRun {run.pk}: {s.get('trades')} trades, win rate {s.get('win_rate')}%, "
                f"net Rs {s.get('net_pnl')} (charges {s.get('charges')}), max drawdown {s.get('max_drawdown')}"
            )
        )
        if opts["report"]:
            # The one tearsheet generator, filtered to this run (manage.py report --backtest-run).
            call_command("report", out=opts["report"], filter_backtest_run=str(run.pk), stdout=self.stdout)
