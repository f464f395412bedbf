"""Importing files into the store: parse and validate a whole file, then stage and commit its partitions.

``import_file(store, what, path)`` is all or nothing per file: the file is read and validated
completely (``ImportFileError`` otherwise, nothing written), then every partition it touches is
staged under the store's lock and committed together. Re-importing a file changes nothing (its
partitions are not even rewritten). ``what`` is one of ``IMPORTS``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd

from trading.marketdata.store.bhavcopy import read_bhavcopy
from trading.marketdata.store.daily import read_daily
from trading.marketdata.store.errors import ImportFileError
from trading.marketdata.store.mapping import Mapping
from trading.marketdata.store.minute import read_mapped, read_replay_file
from trading.marketdata.store.schema import kind as store_kind
from trading.marketdata.store.store import MarketDataStore, Staged, partition_of

__all__ = ["IMPORTS", "ImportResult", "import_file", "import_files"]

IMPORTS = ("bhavcopy", "index-close", "vix", "minute")

Progress = Callable[[int, int, str], None]  # (files done, files in all, what is being done)


@dataclass
class ImportResult:
    """What one file did to the store (or why it was refused: ``error``)."""

    path: str
    what: str
    sessions: list[tuple[str, str, date]] = field(default_factory=list)  # (kind, index, session or day)
    rows: int = 0  # rows stored from the file
    skipped: int = 0  # rows of the file not kept (other symbols)
    written: int = 0  # partitions rewritten
    added: int = 0
    replaced: int = 0
    error: ImportFileError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _parts(what: str, path: Path, *, mapping: Mapping | None, index: str | None) -> tuple[list, int, int]:
    """``([(kind, index, partition, frame)], rows kept, rows skipped)`` of one file, validated whole."""
    parts: list[tuple[str, str, object, pd.DataFrame]] = []
    kept = skipped = 0
    if what == "bhavcopy":
        for day in read_bhavcopy(path):
            for idx, frame in day.chains.items():
                parts.append(("chain_eod", idx, day.session, frame))
                kept += len(frame)
            for idx, frame in day.futures.items():
                parts.append(("future_eod", idx, day.session, frame))
                kept += len(frame)
            skipped += day.skipped
    elif what in ("index-close", "vix"):
        kind_name = "vix_daily" if what == "vix" else "index_daily"
        k = store_kind(kind_name)
        for series in read_daily(path, vix=what == "vix", index=index):
            for idx, frame in series.frames.items():
                years = frame["date"].map(lambda d: partition_of(k, d))
                for year, rows in frame.groupby(years, sort=True):
                    parts.append((kind_name, idx, int(year), rows.reset_index(drop=True)))
                kept += len(frame)
    elif what == "minute":
        sessions = read_mapped(path, mapping) if mapping is not None else read_replay_file(path)
        for s in sessions:
            for kind_name, frame in s.frames.items():
                parts.append((kind_name, s.index, s.session, frame))
                kept += len(frame)
    else:
        raise ValueError(f"unknown import {what!r}: expected one of {', '.join(IMPORTS)}")
    # Two sessions of one file landing in the same partition (a zip of two copies of a day).
    seen: dict[tuple[str, str, object], int] = {}
    merged: list[tuple[str, str, object, pd.DataFrame]] = []
    for kind_name, idx, part, frame in parts:
        slot = (kind_name, idx, part)
        if slot in seen:
            raise ImportFileError(path, None, f"{idx} {part} appears twice in the file ({kind_name})")
        seen[slot] = len(merged)
        merged.append((kind_name, idx, part, frame))
    return merged, kept, skipped


def import_file(
    store: MarketDataStore,
    what: str,
    path: str | Path,
    *,
    mapping: Mapping | None = None,
    index: str | None = None,
) -> ImportResult:
    """Import one file (all or nothing); the result says what changed, or carries the refusal."""
    path = Path(path)
    result = ImportResult(path=str(path), what=what)
    try:
        parts, result.rows, result.skipped = _parts(what, path, mapping=mapping, index=index)
    except ImportFileError as exc:
        result.error = exc
        return result
    staged: list[Staged] = []
    with store.lock():
        try:
            for kind_name, idx, part, frame in parts:
                s = store.stage(kind_name, idx, part, frame)
                if s is not None:
                    staged.append(s)
            store.commit(staged)
        except BaseException:
            store.discard(staged)
            raise
    for kind_name, idx, part, frame in parts:
        if isinstance(part, date):
            result.sessions.append((kind_name, idx, part))
        else:  # a daily series: the dates it holds
            result.sessions.extend((kind_name, idx, d) for d in frame["date"])
    result.written = len(staged)
    result.added = sum(s.added for s in staged)
    result.replaced = sum(s.replaced for s in staged)
    return result


def import_files(
    store: MarketDataStore,
    what: str,
    paths: Iterable[str | Path],
    *,
    mapping: Mapping | None = None,
    index: str | None = None,
    progress: Progress | None = None,
) -> list[ImportResult]:
    """``import_file`` for each path in turn (a refused file does not stop the others)."""
    paths = list(paths)
    results = []
    for i, p in enumerate(paths):
        if progress is not None:
            progress(i, len(paths), Path(p).name)
        results.append(import_file(store, what, p, mapping=mapping, index=index))
    if progress is not None:
        progress(len(paths), len(paths), "done")
    return results
