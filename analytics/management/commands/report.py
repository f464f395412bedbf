"""``manage.py report --out FILE.html [filters]``: the analytics tearsheet as one self-contained HTML
file, with the journal's filters (the ``TradeFilterSet`` parameters as options: ``--date-from``,
``--strategy``, ``--mode`` (``ALL`` mixes modes), ``--backtest-run`` ...). The same generator as the
page's download (``analytics.tearsheet``)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from analytics import tearsheet
from analytics.report import build_report
from analytics.report_filters import report_filters
from journal.filters import TRADE_FILTER_NAMES, TradeFilterSet


class Command(BaseCommand):
    help = "Write the analytics tearsheet of the filtered trades as one self-contained HTML file."

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, help="the HTML file to write")
        parser.add_argument("--capital", type=float, default=None, help="starting capital, rupees")
        for name in TRADE_FILTER_NAMES:
            label = TradeFilterSet.base_filters[name].label or name
            parser.add_argument(
                f"--{name.replace('_', '-')}", dest=f"filter_{name}", default=None, help=str(label)
            )

    def handle(self, *args, **opts):
        params = {
            name: opts[f"filter_{name}"] for name in TRADE_FILTER_NAMES if opts[f"filter_{name}"] is not None
        }
        filters = report_filters(params)
        if not filters.is_valid():
            bad = "; ".join(f"--{k.replace('_', '-')}: {' '.join(v)}" for k, v in filters.errors.items())
            raise CommandError(f"bad filter: {bad}")
        if opts["capital"] is not None and not opts["capital"] > 0:
            raise CommandError("--capital must be a positive number of rupees")
        report = build_report(filters, capital=opts["capital"])
        html = tearsheet.render_tearsheet(report)
        out = Path(opts["out"])
        if out.parent and not out.parent.exists():
            raise CommandError(f"no directory {out.parent}")
        # Written beside the target and renamed: a reader never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=out.parent or ".", prefix=f".{out.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(html)
            os.replace(tmp, out)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.stdout.write(
            f"Wrote {out} ({len(html.encode()) // 1024} KiB): {report.trades} trade(s); "
            + ", ".join(f"{k} {v}" for k, v in report.filters)
        )
