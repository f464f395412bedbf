"""The market-data store on disk: Parquet partitions written whole and swapped in atomically.

``MarketDataStore(root)`` reads and writes the tables of ``schema.KINDS``. A write is two steps so
that an importer can stage every partition of a file before any becomes visible:

1. ``stage(kind, index, partition, frame)`` merges ``frame`` into the partition's current rows
   (rows with the same key are replaced), writes the result to a hidden temporary file beside the
   partition and returns a ``Staged`` (``None`` when the partition would not change: re-importing the
   same file is a no-op that rewrites nothing);
2. ``commit(staged)`` renames the temporaries over their partitions (``os.replace``: a reader sees
   the old partition or the new one, never half of one); ``discard(staged)`` deletes them.

A commit is all or nothing across its partitions, through a crash too: before the first rename it
writes the renames it is about to make to ``{root}/.commit`` (the journal: written whole, synced, then
renamed in place), and removes the journal after the last. A commit interrupted between two renames
(Ctrl-C, SIGTERM: any exception) finishes them before the exception goes on; a process killed there
(kill -9, a power cut) leaves the journal, and the next ``MarketDataStore`` over that root, or the
next ``lock()``, finishes them (``recover``: the temporaries were synced before the journal was
written). ``discard`` never deletes a temporary the journal names. What a writer killed before its
commit leaves (its staged temporaries) is deleted by the next ``lock()``.

Imports hold ``lock()`` (an exclusive ``flock`` on ``{root}/.lock``) from stage to commit, so two
imports into the same partition cannot lose each other's rows. Readers take no lock.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from trading.marketdata.store.schema import KINDS, Kind, kind

__all__ = ["MarketDataStore", "Staged", "partition_of"]

log = logging.getLogger(__name__)

Partition = date | int  # an IST session, or a calendar year for the daily kinds


def partition_of(k: Kind, value: date) -> Partition:
    """The partition holding a row dated ``value`` (its session, or its year for a daily kind)."""
    return value.year if k.by_year else value


def _partition_name(part: Partition) -> str:
    return str(part) if isinstance(part, int) else part.isoformat()


def _parse_partition(k: Kind, stem: str) -> Partition | None:
    try:
        return int(stem) if k.by_year else date.fromisoformat(stem)
    except ValueError:
        return None


@dataclass
class Staged:
    """A partition written to a temporary file, waiting for ``commit``."""

    kind: str
    index: str
    partition: Partition
    path: Path
    temp: Path
    rows: int
    added: int
    replaced: int


def _same(a: pd.DataFrame, b: pd.DataFrame) -> np.ndarray:
    """Row-wise equality of two aligned frames, NaN equal to NaN."""
    eq = np.ones(len(a), dtype=bool)
    for col in a.columns:
        x, y = a[col].to_numpy(), b[col].to_numpy()
        if x.dtype.kind == "f" and y.dtype.kind == "f":
            eq &= (x == y) | (np.isnan(x) & np.isnan(y))
        else:
            eq &= pd.Series(x).eq(pd.Series(y)).to_numpy() | (pd.isna(x) & pd.isna(y))
    return eq


class MarketDataStore:
    """Local columnar store of market data under ``root`` (see ``schema`` for the tables)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if self._journal.exists():  # a commit cut short by a crash: finished before anything is read
            try:
                with self.lock():
                    pass
            except PermissionError:  # a store this process may only read: it is read as it is
                log.warning("%s: a commit was cut short and this process cannot finish it", self.root)

    @property
    def _journal(self) -> Path:
        return self.root / ".commit"

    # --- paths and listings ---------------------------------------------------------------------------

    def path(self, kind_name: str, index: str, partition: Partition) -> Path:
        """File of one partition (it may not exist)."""
        kind(kind_name)
        return self.root / kind_name / index.upper() / f"{_partition_name(partition)}.parquet"

    def indices(self, kind_name: str) -> list[str]:
        """Indices that have at least one partition of ``kind_name``."""
        base = self.root / kind(kind_name).name
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if p.is_dir() and any(p.glob("*.parquet")))

    def partitions(self, kind_name: str, index: str) -> list[Partition]:
        """The partitions of ``kind_name`` for ``index``, ascending."""
        k = kind(kind_name)
        base = self.root / k.name / index.upper()
        if not base.is_dir():
            return []
        found = (_parse_partition(k, p.stem) for p in base.glob("*.parquet"))
        return sorted(p for p in found if p is not None)

    def sessions(
        self, kind_name: str, index: str, start: date | None = None, end: date | None = None
    ) -> list[date]:
        """Sessions (IST dates) of a session-partitioned kind for ``index`` within ``start..end``."""
        if kind(kind_name).by_year:
            raise ValueError(f"{kind_name} is partitioned by year, not by session")
        return [
            d
            for d in self.partitions(kind_name, index)
            if isinstance(d, date) and (start is None or d >= start) and (end is None or d <= end)
        ]

    # --- reading --------------------------------------------------------------------------------------

    def read_partition(self, kind_name: str, index: str, partition: Partition) -> pd.DataFrame | None:
        """The rows of one partition as a DataFrame (the kind's columns), None when it does not exist."""
        path = self.path(kind_name, index, partition)
        if not path.exists():
            return None
        return _to_pandas(pq.read_table(path, schema=kind(kind_name).schema))

    def read(
        self, kind_name: str, index: str, start: date | None = None, end: date | None = None
    ) -> pd.DataFrame:
        """Rows of ``kind_name`` for ``index`` dated ``start..end`` (inclusive), in partition order.

        Session kinds get a ``session`` column; daily kinds are filtered on their ``date``.
        """
        k = kind(kind_name)
        frames = []
        for part in self.partitions(kind_name, index):
            if k.by_year:
                if (start is not None and part < start.year) or (end is not None and part > end.year):
                    continue
            elif (start is not None and part < start) or (end is not None and part > end):
                continue
            df = self.read_partition(kind_name, index, part)
            if df is None:
                continue
            if not k.by_year:
                df.insert(0, "session", part)
            frames.append(df)
        if not frames:
            empty = _to_pandas(k.schema.empty_table())
            if not k.by_year:
                empty.insert(0, "session", pd.Series(dtype=object))
            return empty
        out = pd.concat(frames, ignore_index=True)
        if k.by_year:
            days = out["date"]
            keep = np.ones(len(out), dtype=bool)
            if start is not None:
                keep &= (days >= start).to_numpy()
            if end is not None:
                keep &= (days <= end).to_numpy()
            out = out[keep].reset_index(drop=True)
        return out

    # --- writing --------------------------------------------------------------------------------------

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive lock of the whole store (imports hold it from stage to commit)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".lock").open("a+") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                self.recover()
                self._remove_stale()
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def recover(self) -> list[Path]:
        """Finish a commit its journal says was decided (under ``lock()``): the renames not yet made,
        then the journal removed. Returns the partitions renamed now."""
        try:
            pairs = json.loads(self._journal.read_text())
        except FileNotFoundError:
            return []
        except ValueError:  # a journal cut short cannot be: it is renamed in whole; never guess
            raise RuntimeError(f"{self._journal}: not a commit journal; remove it by hand") from None
        done = self._rename([(self.root / temp, self.root / path) for temp, path in pairs])
        self._journal.unlink()
        _sync_directory(self.root)
        return done

    def _remove_stale(self) -> None:
        """Delete what writers killed before their commit left (under ``lock()``, after ``recover``:
        no writer is between its stage and its commit, and no journal names a temporary): their
        partitions' temporaries and a journal's own temporary."""
        for temp in self.root.glob(".commit.*.tmp"):
            temp.unlink(missing_ok=True)
        for k in KINDS:
            base = self.root / k
            if base.is_dir():
                for temp in base.glob("*/.*.tmp"):
                    temp.unlink(missing_ok=True)

    def stage(self, kind_name: str, index: str, partition: Partition, frame: pd.DataFrame) -> Staged | None:
        """Merge ``frame`` (the kind's columns) into a partition, written to a temporary file.

        Rows whose key is already stored replace the stored row. Returns None when nothing would
        change. The caller commits or discards what it staged (and holds ``lock()`` meanwhile).
        """
        k = kind(kind_name)
        if tuple(frame.columns) != k.columns:
            raise ValueError(f"{kind_name}: expected columns {k.columns}, got {tuple(frame.columns)}")
        new = _normalise(frame, k)
        if new.duplicated(list(k.key)).any():
            raise ValueError(f"{kind_name}: the rows to stage repeat a key {k.key}")
        old = self.read_partition(kind_name, index, partition)
        added, replaced = len(new), 0
        if old is not None and len(old):
            old = _normalise(old, k)
            merged = old.merge(new, on=list(k.key), how="inner", suffixes=("_old", ""))
            others = [c for c in k.columns if c not in k.key]
            if len(merged):
                same = _same(merged[[f"{c}_old" for c in others]].set_axis(others, axis=1), merged[others])
                replaced = int((~same).sum())
                added = len(new) - len(merged)
                if added == 0 and replaced == 0:
                    return None
            old_keys = pd.MultiIndex.from_frame(old[list(k.key)])
            new_keys = pd.MultiIndex.from_frame(new[list(k.key)])
            keep_old = ~old_keys.isin(new_keys)
            new = pd.concat([old[keep_old], new], ignore_index=True)
        out = new.sort_values(list(k.key), kind="stable").reset_index(drop=True)
        path = self.path(kind_name, index, partition)
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.stem}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        table = pa.Table.from_pandas(out, schema=k.schema, preserve_index=False)
        try:
            pq.write_table(table, temp, compression="zstd")
            with temp.open("rb") as fh:
                os.fsync(fh.fileno())
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return Staged(kind_name, index.upper(), partition, path, temp, len(out), added, replaced)

    def commit(self, staged: list[Staged]) -> None:
        """Swap the staged partitions in, all or none even through a crash (see the module doc):
        the journal, each atomic rename, the directories synced, the journal removed."""
        if not staged:
            return
        pairs = [(s.temp, s.path) for s in staged]
        relative = [[str(t.relative_to(self.root)), str(p.relative_to(self.root))] for t, p in pairs]
        temp = self._journal.with_name(f".commit.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            with temp.open("w") as fh:
                json.dump(relative, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(temp, self._journal)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        _sync_directory(self.root)  # decided: from here the renames happen, now or at recovery
        try:
            self._rename(pairs)
        except BaseException:
            self._rename(pairs)  # an interruption between two renames: the rest first
            raise
        finally:
            if not any(t.exists() for t, _ in pairs):
                self._journal.unlink(missing_ok=True)
                _sync_directory(self.root)

    def _rename(self, pairs: list[tuple[Path, Path]]) -> list[Path]:
        """Each temporary that still exists over its partition; the directories synced."""
        done = []
        for temp, path in pairs:
            if temp.exists():
                os.replace(temp, path)
                done.append(path)
        for directory in {path.parent for _, path in pairs}:
            _sync_directory(directory)
        return done

    def discard(self, staged: list[Staged]) -> None:
        """Delete staged temporaries (nothing of them becomes visible) - not those a journal names:
        their commit was decided and finishes at recovery."""
        try:
            kept = {self.root / temp for temp, _ in json.loads(self._journal.read_text())}
        except (FileNotFoundError, ValueError):
            kept = set()
        for s in staged:
            if s.temp not in kept:
                s.temp.unlink(missing_ok=True)


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    # date32 -> Python dates (object), timestamps stay datetime64[ns, UTC], strings stay str.
    return table.to_pandas(date_as_object=True, types_mapper=None)


def _normalise(frame: pd.DataFrame, k: Kind) -> pd.DataFrame:
    """The frame with the kind's Python/numpy types (so rows from files and from disk compare equal)."""
    table = pa.Table.from_pandas(frame.reset_index(drop=True), schema=k.schema, preserve_index=False)
    return _to_pandas(table)
