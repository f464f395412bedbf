"""``manage.py sweep``: a parameter sweep of one strategy (docs/backtests.md).

    manage.py sweep --strategy EMACrossoverStrategy --start 2026-03-02 --end 2026-03-06 \\
        --axis gap_em=0.02:0.10:5 --axis memory=30,60,90 [--objective sharpe] [--workers 2]
    manage.py sweep ... --random 50 --sample-seed 1 --axis gap_em --axis memory=20:120
    manage.py sweep ... --celery      # one task per combination on the research queue's workers
    manage.py sweep ... --data store  # on the market-data store (up to a year, like a run)

Embedded by default (a local pool of ``--workers`` processes); ``--celery`` sends the combinations to
the ``research`` queue and follows the sweep's progress until it is done.
"""

from __future__ import annotations

import time
from datetime import date

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from trading.execution import sweeps
from trading.execution.backtests import DATA_SOURCES
from trading.execution.models import RunStatus, Sweep, SweepObjective, SweepSample
from trading.management.interrupts import stopped, terminate_as_interrupt

_OPTIONS = {"data_source": "--data"}  # the service's field -> the option typed


class Command(BaseCommand):
    help = "Sweep a strategy's parameters (grid or random sample) over simulated or stored sessions."

    def add_arguments(self, parser):
        parser.add_argument("--strategy", required=True)
        parser.add_argument("--start", type=date.fromisoformat, required=True)
        parser.add_argument("--end", type=date.fromisoformat, default=None, help="default: --start")
        parser.add_argument(
            "--data", choices=list(DATA_SOURCES), default="sim", help="sim (default) or store"
        )
        parser.add_argument("--seed", type=int, default=7, help="the simulated market's seed (--data sim)")
        parser.add_argument("--index", default="NIFTY")
        parser.add_argument(
            "--axis",
            action="append",
            default=[],
            metavar="NAME=SPEC",
            help="repeat; grid: low:high:steps or v1,v2; random: low:high or NAME alone (its bounds)",
        )
        parser.add_argument("--random", type=int, default=None, metavar="N", help="a random sample of N")
        parser.add_argument("--sample-seed", type=int, default=None)
        parser.add_argument("--objective", default=SweepObjective.SHARPE, choices=list(sweeps.OBJECTIVES))
        parser.add_argument("--workers", type=int, default=None, help="processes of the embedded pool")
        parser.add_argument("--celery", action="store_true", help="on the research queue's workers")
        parser.add_argument("--name", default="")
        parser.add_argument("--top", type=int, default=10, help="rows of the table printed")

    def handle(self, *args, **opts):
        with terminate_as_interrupt():
            try:
                sweep, started = self._run(opts)
            except KeyboardInterrupt as exc:  # Ctrl-C while the sweep ran here (embedded)
                self.stdout.write("")
                raise stopped(
                    exc, ": no worker of the sweep is left, and the sweep, if it was stored, is marked FAILED"
                ) from None
            try:
                sweep = self._follow(sweep)
            except KeyboardInterrupt as exc:  # Ctrl-C while following it on the research workers
                self.stdout.write("")
                raise stopped(
                    exc,
                    f": stopped following sweep {sweep.pk}, which goes on in the research workers "
                    f"(/backtests/sweeps/{sweep.pk}/)",
                ) from None
        self._report(sweep, started, opts)

    def _run(self, opts) -> tuple[Sweep, float]:
        try:
            request = sweeps.sweep_request(
                strategy=opts["strategy"],
                start=opts["start"],
                end=opts["end"],
                axes=opts["axis"],
                seed=opts["seed"],
                index=opts["index"],
                data_source=DATA_SOURCES[opts["data"]],
                sample=SweepSample.RANDOM if opts["random"] else SweepSample.GRID,
                count=opts["random"],
                sample_seed=opts["sample_seed"],
                objective=opts["objective"],
                name=opts["name"],
            )
            started = time.perf_counter()
            sweep = sweeps.sweep_execute(request, embedded=not opts["celery"], workers=opts["workers"])
            if opts["celery"] and sweep.status == RunStatus.FAILED:  # not queued: Redis away
                raise CommandError(f"sweep {sweep.pk} FAILED: {sweep.error}")
        except ValidationError as exc:
            raise CommandError(
                "; ".join(f"{_OPTIONS.get(k, k)}: {' '.join(v)}" for k, v in exc.message_dict.items())
            ) from None
        self.stdout.write(
            f"sweep {sweep.pk}: {sweep.total} combinations, data version {sweep.data_version[:12]}"
        )
        return sweep, started

    def _follow(self, sweep: Sweep) -> Sweep:
        while sweep.status in (RunStatus.PENDING, RunStatus.RUNNING):
            time.sleep(1.0)
            sweep = Sweep.objects.defer("market_data").get(pk=sweep.pk)
            self.stdout.write(
                f"\r{sweep.progress:6.1%}  {sweep.done + sweep.failed}/{sweep.total}", ending=""
            )
            self.stdout.flush()
        return sweep

    def _report(self, sweep: Sweep, started: float, opts) -> None:
        took = time.perf_counter() - started
        self.stdout.write("")
        self.stdout.write(
            f"sweep {sweep.pk} {sweep.status}: {sweep.done} done, {sweep.failed} failed in {took:.1f} s"
            + (f" ({sweep.error})" if sweep.error else "")  # e.g. stopped from its page: who did
        )
        axes = list(sweep.space)
        header = ["#", *axes, "net", "sharpe", "pf", "max_dd", "trades"]
        self.stdout.write("  ".join(f"{h:>10}" for h in header))
        for c in sweeps.sweep_table(sweep)[: opts["top"]]:
            cells = [
                c.number,
                *[c.parameters.get(a) for a in axes],
                c.net_pnl,
                None if c.sharpe is None else round(c.sharpe, 3),
                None if c.profit_factor is None else round(c.profit_factor, 3),
                c.max_drawdown,
                c.trade_count,
            ]
            self.stdout.write("  ".join(f"{'-' if v is None else v!s:>10}" for v in cells))
