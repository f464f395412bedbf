"""`manage.py marketdata import|list|verify|eod`: the local market-data store (docs/marketdata-store.md).

    marketdata import bhavcopy FILE...            NSE/BSE F&O bhavcopies (csv or zip, either layout)
    marketdata import index-close FILE... [--index NIFTY]   daily index closes (spot of older bhavcopies)
    marketdata import vix FILE...                 India VIX daily history
    marketdata import minute FILE... [--mapping MAP.toml]   replay CSVs, or vendor files via a mapping
    marketdata list                               what the store holds
    marketdata verify [--index N] [--start D] [--end D] [--json]   gaps per session
    marketdata eod --index NIFTY --date YYYY-MM-DD                 chain analytics as JSON

Each file is imported whole or not at all; a refused file is reported with its line and reason and
the command exits non-zero after trying the others. The store lives in ``settings.MARKETDATA_DIR``
(``--dir`` to use another).
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from trading.core import calendar as market_calendar
from trading.management.interrupts import stopped, terminate_as_interrupt
from trading.management.progress import ProgressBar
from trading.marketdata.store import eod as eod_analytics
from trading.marketdata.store.errors import MappingError
from trading.marketdata.store.importer import IMPORTS, import_files
from trading.marketdata.store.mapping import load_mapping
from trading.marketdata.store.schema import KINDS
from trading.marketdata.store.store import MarketDataStore
from trading.marketdata.store.verify import verify

_SUFFIXES = {
    "bhavcopy": (".csv", ".zip"),
    "index-close": (".csv", ".zip"),
    "vix": (".csv", ".zip"),
    "minute": (".csv", ".zip", ".parquet", ".pq"),
}


def _files(what: str, args: list[str]) -> list[Path]:
    """The files named, a directory standing for the importable files in it (sorted)."""
    out: list[Path] = []
    for arg in args:
        p = Path(arg)
        if p.is_dir():
            out.extend(
                sorted(f for f in p.iterdir() if f.is_file() and f.name.lower().endswith(_SUFFIXES[what]))
            )
        else:
            out.append(p)
    return out


def _ranges(days: list[date]) -> str:
    """``2024-01-08..2024-01-12, 2024-01-16``: runs of consecutive trading days as ranges."""
    if not days:
        return ""
    parts, start, prev = [], days[0], days[0]
    for d in [*days[1:], None]:
        if d is not None and d == market_calendar.next_trading_day(prev):
            prev = d
            continue
        parts.append(start.isoformat() if start == prev else f"{start}..{prev}")
        if d is not None:
            start = prev = d
    return ", ".join(parts)


class Command(BaseCommand):
    help = "The local market-data store: import files, list, verify gaps, end-of-day chain analytics."

    def add_arguments(self, parser):
        parser.add_argument("--dir", default=None, help="store directory (default: settings.MARKETDATA_DIR)")
        sub = parser.add_subparsers(dest="action", required=True, metavar="import|list|verify|eod")
        imp = sub.add_parser("import", help="import files into the store")
        imp.add_argument("what", choices=IMPORTS)
        imp.add_argument("files", nargs="+", help="files or directories")
        imp.add_argument("--mapping", default=None, help="column mapping (TOML) for a vendor's minute files")
        imp.add_argument(
            "--index", default=None, help="index of an index-close file without an Index Name column"
        )
        imp.add_argument("--quiet", action="store_true", help="no progress bar")
        lst = sub.add_parser("list", help="what the store holds")
        lst.add_argument("--json", action="store_true")
        ver = sub.add_parser("verify", help="gaps per session: missing minutes, strikes, sides")
        ver.add_argument("--index", default=None)
        ver.add_argument("--start", type=date.fromisoformat, default=None)
        ver.add_argument("--end", type=date.fromisoformat, default=None)
        ver.add_argument("--json", action="store_true")
        e = sub.add_parser("eod", help="end-of-day chain analytics of one day as JSON")
        e.add_argument("--index", default="NIFTY")
        e.add_argument("--date", type=date.fromisoformat, required=True)

    def handle(self, *args, **opts):
        store = MarketDataStore(opts["dir"] or settings.MARKETDATA_DIR)
        return getattr(self, f"_{opts['action']}")(store, opts)

    # --- import --------------------------------------------------------------------------------------

    def _import(self, store: MarketDataStore, opts) -> None:
        what = opts["what"]
        mapping = None
        if opts["mapping"]:
            if what != "minute":
                raise CommandError("--mapping applies to `import minute` only")
            try:
                mapping = load_mapping(opts["mapping"])
            except MappingError as exc:
                raise CommandError(str(exc)) from None
        if opts["index"] and what != "index-close":
            raise CommandError("--index applies to `import index-close` only")
        files = _files(what, opts["files"])
        if not files:
            raise CommandError("no files to import")
        bar = ProgressBar(self.stdout, len(files), enabled=not opts["quiet"])
        read = [0]  # files read to the end (each imported whole or refused)

        def progress(done: int, total: int, label: str) -> None:
            read[0] = done
            bar.update(done, label)

        with terminate_as_interrupt():
            try:
                results = import_files(
                    store, what, files, mapping=mapping, index=opts["index"], progress=progress
                )
            except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: one line, not a traceback
                bar.finish()
                raise stopped(
                    exc,
                    f" after {read[0]} of {len(files)} file(s) were read (each imported whole or refused); "
                    "the file being read was stored whole or not at all. Import again: the files already "
                    "in the store "
                    "come out unchanged.",
                ) from None
        bar.finish()
        refused = 0
        for r in results:
            if not r.ok:
                refused += 1
                self.stderr.write(f"refused {r.error}")
                continue
            days = sorted({d for _, _, d in r.sessions})
            span = f"{days[0]}" if len(days) == 1 else f"{days[0]}..{days[-1]}"
            indices = ", ".join(sorted({i for _, i, _ in r.sessions}))
            change = (
                f"{r.written} partition(s) written (+{r.added} rows, {r.replaced} replaced)"
                if r.written
                else "unchanged (already in the store)"
            )
            skipped = f", {r.skipped} other rows skipped" if r.skipped else ""
            self.stdout.write(f"imported {r.path}: {indices} {span}, {r.rows} rows{skipped}; {change}")
        summary = f"{len(results) - refused} of {len(results)} file(s) imported into {store.root}"
        if refused:
            raise CommandError(f"{summary}; {refused} refused (nothing of them was stored)")
        self.stdout.write(self.style.SUCCESS(summary))

    # --- list ----------------------------------------------------------------------------------------

    def _list(self, store: MarketDataStore, opts) -> None:
        rows = []
        for name, k in KINDS.items():
            for index in store.indices(name):
                parts = store.partitions(name, index)
                files = [store.path(name, index, p) for p in parts]
                rows.append(
                    {
                        "kind": name,
                        "index": index,
                        "partitions": len(parts),
                        "first": str(parts[0]),
                        "last": str(parts[-1]),
                        "rows": sum(pq.ParquetFile(f).metadata.num_rows for f in files),
                        "bytes": sum(f.stat().st_size for f in files),
                        "by": "year" if k.by_year else "session",
                    }
                )
        if opts["json"]:
            self.stdout.write(json.dumps(rows, indent=2))
            return
        if not rows:
            self.stdout.write(f"the store at {store.root} is empty")
            return
        self.stdout.write(
            f"{'kind':<14}{'index':<12}{'partitions':>11}  {'first':<11}{'last':<11}{'rows':>10}{'MB':>8}"
        )
        for r in rows:
            self.stdout.write(
                f"{r['kind']:<14}{r['index']:<12}{r['partitions']:>11}  {r['first']:<11}{r['last']:<11}"
                f"{r['rows']:>10}{r['bytes'] / 1e6:>8.2f}"
            )

    # --- verify --------------------------------------------------------------------------------------

    def _verify(self, store: MarketDataStore, opts) -> None:
        reports, missing = verify(store, opts["index"], opts["start"], opts["end"])
        if opts["json"]:
            out = {
                "sessions": [r.as_json() for r in reports],
                "missing_sessions": {
                    f"{k}/{i}": [d.isoformat() for d in days] for (k, i), days in sorted(missing.items())
                },
            }
            self.stdout.write(json.dumps(out, indent=2))
            return
        for r in reports:
            what = f"{r.minutes}/375 bars" if r.kind == "minute" else "end of day"
            if r.ok:
                self.stdout.write(f"{r.index:<11}{r.session}  {r.kind:<7}{what}: complete")
                continue
            found = "; ".join(
                f"{name} {count}"
                + (f" ({', '.join(r.examples.get(name, []))})" if r.examples.get(name) else "")
                for name, count in r.counts.items()
                if count
            )
            self.stdout.write(f"{r.index:<11}{r.session}  {r.kind:<7}{what}: {found}")
        for (kind_name, index), days in sorted(missing.items()):
            self.stdout.write(f"{index:<11}{kind_name}: {len(days)} trading day(s) missing: {_ranges(days)}")
        if not reports:
            self.stdout.write(
                f"nothing stored{' for ' + opts['index'] if opts['index'] else ''} in {store.root}"
            )

    # --- eod -----------------------------------------------------------------------------------------

    def _eod(self, store: MarketDataStore, opts) -> None:
        try:
            summary = eod_analytics.eod_summary(store, opts["index"], opts["date"])
        except (eod_analytics.NoEodData, ValueError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(json.dumps(summary.as_json(), indent=2))
