"""`manage.py research`: is it real? The drift report, a walk-forward study, Monte Carlo of a run and
the deflated Sharpe ratio of the best of several runs - the services of the research page and API.

    manage.py research drift --start 2026-05-04 [--end ...] [--mode PAPER] [--csv drift.csv]
    manage.py research walkforward --strategy PCRStrategy --grid '{"pcr_high": [1.3, 1.5]}' \\
        --start 2025-01-01 --end 2025-03-31 --in-sample 20 --out-of-sample 5
    manage.py research montecarlo --run 12 [--method shuffle|resample|bootstrap] [--runs 1000] [--seed 0]
    manage.py research dsr --runs 12,13,14
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from trading.execution import research
from trading.execution.models import BacktestRun
from trading.execution.research_api import drift_csv_lines, drift_from
from trading.execution.research_forms import (
    MonteCarloForm,
    RunsForm,
    WalkForwardForm,
    form_errors,
)
from trading.management.interrupts import stopped, terminate_as_interrupt
from trading.management.progress import ProgressBar


def _checked(form) -> dict:
    if not form.is_valid():
        raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in form_errors(form).items()))
    return form.cleaned_data


class Command(BaseCommand):
    help = "Drift report, walk-forward study, Monte Carlo of a run, deflated Sharpe ratio of runs."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="what", required=True)
        d = sub.add_parser("drift", help="traded (PAPER/LIVE) vs backtested on the recorded data")
        d.add_argument("--start", required=True)
        d.add_argument("--end", default="")
        d.add_argument("--index", default="")
        d.add_argument("--mode", default="", help="PAPER or LIVE (default both)")
        d.add_argument("--tolerance", default="", help="minutes between entries to match (15)")
        d.add_argument("--csv", default="", help="write the rows to this CSV file")
        d.add_argument("--summary-csv", default="", help="write the summary per session and strategy here")
        w = sub.add_parser("walkforward", help="rolling in-sample choice, out-of-sample test")
        w.add_argument("--strategy", required=True)
        w.add_argument("--grid", required=True, help='JSON: {"param": [v1, v2]}')
        w.add_argument("--start", required=True)
        w.add_argument("--end", required=True)
        w.add_argument("--in-sample", required=True)
        w.add_argument("--out-of-sample", required=True)
        w.add_argument("--step", default="")
        w.add_argument("--anchored", action="store_true")
        w.add_argument("--score", default="")
        w.add_argument("--seed", default="")
        w.add_argument("--index", default="")
        w.add_argument("--source", default="", help="sim (default) or store")
        w.add_argument(
            "--progress", action="store_true", help="a progress bar on stderr (default: on a terminal)"
        )
        m = sub.add_parser("montecarlo", help="resample a backtest run's trades")
        m.add_argument("--run", type=int, required=True)
        m.add_argument("--method", default="")
        m.add_argument("--runs", default="")
        m.add_argument("--seed", default="")
        m.add_argument("--floor", default="")
        s = sub.add_parser("dsr", help="deflated Sharpe ratio of the best of several runs")
        s.add_argument("--runs", required=True, help="run ids, comma separated")

    def handle(self, *args, **opts):
        with terminate_as_interrupt():
            try:
                getattr(self, f"_{opts['what']}")(opts)
            except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: one line (a study stores nothing)
                self.stderr.write("")
                raise stopped(exc) from None

    def _json(self, data) -> None:
        self.stdout.write(json.dumps(data, indent=2, default=str))

    def _drift(self, opts) -> None:
        result = drift_from({k: opts[k] for k in ("start", "end", "index", "mode", "tolerance")}, None)
        if isinstance(result, dict):
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in result.items()))
        t = result.report.totals
        self.stdout.write(
            f"drift {result.index} {result.start}..{result.end}: {len(result.sessions)} session(s) compared, "
            f"matched {t['matched']}, missed {t['missed']}, extra {t['extra']}, match rate {t['match_rate']}%, "
            f"slippage Rs {t['slippage']}, net traded {t['traded_net_pnl']} vs backtest {t['backtest_net_pnl']}"
        )
        for s in result.report.summary:
            self.stdout.write(
                f"  {s['session']} {s['strategy']}: matched {s['matched']}, missed {s['missed']}, "
                f"extra {s['extra']}, slippage {s['slippage']}, net difference {s['net_pnl_difference']}"
            )
        for session, why in sorted(result.skipped.items()):
            self.stdout.write(f"  {session} not compared: {why}")
        if opts["csv"]:
            with open(opts["csv"], "w", encoding="utf-8", newline="") as fh:
                fh.writelines(drift_csv_lines(result))
            self.stdout.write(f"rows written to {opts['csv']}")
        if opts["summary_csv"]:
            with open(opts["summary_csv"], "w", encoding="utf-8", newline="") as fh:
                fh.writelines(drift_csv_lines(result, "summary"))
            self.stdout.write(f"summary written to {opts['summary_csv']}")

    def _walkforward(self, opts) -> None:
        fields = (
            "strategy",
            "grid",
            "start",
            "end",
            "in_sample",
            "out_of_sample",
            "step",
            "score",
            "seed",
            "index",
            "source",
        )
        query = {k: opts[k] for k in fields}
        query["anchored"] = opts["anchored"]
        data = _checked(WalkForwardForm(query))
        # The bar on stderr: stdout carries only the study's JSON.
        bar = ProgressBar(self.stderr, 1, enabled=self.stderr.isatty() or opts["progress"])

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done, f"candidate {done}/{total}")

        try:
            study = research.walk_forward_study(user=None, progress=progress, **data)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        finally:
            bar.finish()
        self._json(study.as_dict())

    def _montecarlo(self, opts) -> None:
        data = _checked(MonteCarloForm({k: opts[k] for k in ("method", "runs", "seed", "floor")}))
        run = BacktestRun.objects.filter(pk=opts["run"]).first()
        if run is None:
            raise CommandError(f"no backtest run {opts['run']}")
        try:
            result = research.run_monte_carlo(user=None, run=run, **data)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        out = result.as_dict()
        out.pop("bands")
        self._json({"run": run.pk, **out})

    def _dsr(self, opts) -> None:
        ids = _checked(RunsForm({"runs": opts["runs"]}))["runs"]
        runs = list(BacktestRun.objects.filter(pk__in=ids).order_by("pk"))
        if len(runs) != len(ids):
            raise CommandError(f"no backtest run {sorted(set(ids) - {r.pk for r in runs})}")
        self._json(research.runs_deflated_sharpe(user=None, runs=runs))
