"""Chain recorder: minute snapshots of what a feed sees, kept in the CSV replay format.

The broker keeps no history of expired options, so the trader's own recordings are tomorrow's
backtest data: a directory written by ``ChainRecorder`` is a ``ReplayFeed`` as it stands. One file
per index and IST session, ``{INDEX}_{YYYY-MM-DD}.csv``; each minute is appended with one write
and flushed, so a crash loses at most the minute being written (and ``read_replay(...,
partial_tail=True)`` skips an unterminated last line).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path

from trading.core import calendar as market_calendar
from trading.core.bars import MarketBar
from trading.marketdata.base import Feed
from trading.marketdata.replay import COLUMNS, bar_to_rows, format_rows

__all__ = ["ChainRecorder"]


class ChainRecorder:
    """Append ``MarketBar``s to per-session replay files under ``directory``.

    Recording is idempotent: a bar at or before the last one recorded in its file is skipped (a
    restarted recorder, or a retried minute, never writes a minute twice). ``fsync=True`` makes
    each minute durable before ``record`` returns.
    """

    def __init__(self, directory: str | Path, *, fsync: bool = False) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.fsync = fsync
        self._last: dict[Path, str] = {}

    def path_for(self, index: str, session: date) -> Path:
        """The file of ``index``'s session ``session``."""
        return self.directory / f"{index.upper()}_{session.isoformat()}.csv"

    def record(self, bar: MarketBar) -> bool:
        """Append one bar; False when it was already recorded (or is older than the last one)."""
        path = self.path_for(bar.index, market_calendar.ist_date(bar.time))
        rows = bar_to_rows(bar)
        stamp = rows[0][0]
        last = self._last.get(path)
        if last is None and path.exists():
            last = _last_time(path)
        if last is not None and _as_time(stamp) <= _as_time(last):
            return False
        text = format_rows(rows, header=not path.exists() or path.stat().st_size == 0)
        with path.open("a", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            if self.fsync:
                os.fsync(fh.fileno())
        self._last[path] = stamp
        return True

    def record_all(self, bars: Iterable[MarketBar]) -> int:
        """Record every bar; returns how many were written."""
        return sum(1 for bar in bars if self.record(bar))

    def record_feed(self, feed: Feed, start: datetime, end: datetime) -> int:
        """Record the bars of ``feed`` starting in ``[start, end)``; returns how many were written."""
        return self.record_all(feed.bars(start, end))


def _as_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _last_time(path: Path) -> str | None:
    """The time of the last complete row of an existing file (reads only its tail)."""
    with path.open("rb+") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        start = max(size - 65536, 0)
        fh.seek(start)
        raw = fh.read()
        if raw and not raw.endswith(b"\n"):
            # The writer died mid-line: cut the unterminated line so that the file stays readable.
            fh.truncate(start + raw.rfind(b"\n") + 1)
            raw = raw[: raw.rfind(b"\n") + 1]
    tail = raw.decode("utf-8", errors="replace")
    lines = [line for line in tail.split("\n") if line and not line.startswith(COLUMNS[0] + ",")]
    for line in reversed(lines):
        first = line.split(",", 1)[0]
        try:
            _as_time(first)
        except ValueError:
            continue
        return first
    return None
