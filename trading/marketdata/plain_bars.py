"""Plain OHLCV bars of an index from a CSV, and round trips to a CSV: the research mode's files.

Bars: a header ``datetime,open,high,low,close,volume`` and one row per bar, ``datetime`` as
``YYYY-MM-DD HH:MM:SS`` (kept as written: the trades name the same times), strictly increasing;
prices positive and finite with ``low <= open, close <= high``; volume finite and >= 0. A bad row
is an error naming its line (``PlainBarsError``): nothing is traded on a file with one. A UTF-8
byte-order mark (a spreadsheet's "CSV UTF-8") is ignored.

Round trips: ``entry_time,exit_time,entry_price,exit_price``, one row per round trip, prices with
two decimals (what ``../shared/anchors/bt_backtrader.py`` writes, so the two compare row by row),
written whole or not at all: into a temporary file beside ``path``, renamed over it at the end.
"""

from __future__ import annotations

import csv
import math
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from trading.core.research import PlainBars, RoundTrip

__all__ = [
    "BAR_COLUMNS",
    "TRADE_COLUMNS",
    "PlainBarsError",
    "check_writable",
    "read_plain_bars",
    "write_round_trips",
]

_ENCODING = "utf-8-sig"  # UTF-8, a byte-order mark at the start skipped
BAR_COLUMNS: tuple[str, ...] = ("datetime", "open", "high", "low", "close", "volume")
TRADE_COLUMNS: tuple[str, ...] = ("entry_time", "exit_time", "entry_price", "exit_price")


class PlainBarsError(ValueError):
    """A plain-bars file that cannot be traded: ``line`` (1 = the header) and ``reason``."""

    def __init__(self, path: str, line: int, reason: str) -> None:
        self.path, self.line, self.reason = path, line, reason
        super().__init__(f"{path}: line {line}: {reason}")


def read_plain_bars(path: str | Path) -> PlainBars:
    """The bars of the CSV at ``path``; ``PlainBarsError`` at the first bad line."""
    name = str(path)
    with open(path, encoding=_ENCODING, newline="") as f:
        header = f.readline().rstrip("\r\n").split(",")
    if tuple(h.strip() for h in header) != BAR_COLUMNS:
        raise PlainBarsError(name, 1, f"header must be {','.join(BAR_COLUMNS)}, not {','.join(header)}")
    try:
        # pandas parses each number to the nearest double, as Python's float() (and backtrader) does.
        frame = pd.read_csv(
            path,
            dtype={"datetime": str, **{c: np.float64 for c in BAR_COLUMNS[1:]}},
            na_filter=False,
            engine="c",
            encoding=_ENCODING,
        )
    except (ValueError, pd.errors.ParserError) as exc:
        line, reason = _first_bad_line(path)
        raise PlainBarsError(name, line, reason or f"cannot be read as numbers ({exc})") from None
    times = frame["datetime"].to_numpy(dtype=object)
    o, h, lo, c, v = (frame[col].to_numpy(dtype=float) for col in BAR_COLUMNS[1:])
    _check_rows(name, times, o, h, lo, c, v)
    return PlainBars(times=times.tolist(), open=o, high=h, low=lo, close=c, volume=v)


def _first_bad_line(path: str | Path) -> tuple[int, str]:
    """The first line a fast parse refused, and why (the slow path, only for a bad file)."""
    with open(path, encoding=_ENCODING, newline="") as f:
        for number, row in enumerate(csv.reader(f), start=1):
            if number == 1:
                continue
            if len(row) != len(BAR_COLUMNS):
                return number, f"{len(row)} fields, expected {len(BAR_COLUMNS)}"
            try:
                np.datetime64(row[0], "s")
            except ValueError:
                return number, f"datetime {row[0]!r} is not a date and time (YYYY-MM-DD HH:MM:SS)"
            for col, value in zip(BAR_COLUMNS[1:], row[1:], strict=True):
                try:
                    number_read = float(value)
                except ValueError:
                    return number, f"{col} {value!r} is not a number"
                if not math.isfinite(number_read):  # 'nan' (which the fast parse refuses), 'inf'
                    return number, f"{col} {value!r} is not a finite number"
    return 1, ""


def _check_rows(name: str, times: np.ndarray, o, h, lo, c, v) -> None:
    if len(times) == 0:
        raise PlainBarsError(name, 2, "no bars")
    try:
        parsed = times.astype("datetime64[s]")  # ISO 8601, as YYYY-MM-DD HH:MM:SS
    except ValueError:
        for i, t in enumerate(times):
            try:
                np.datetime64(t, "s")
            except ValueError:
                raise PlainBarsError(
                    name, i + 2, f"datetime {t!r} is not a date and time (YYYY-MM-DD HH:MM:SS)"
                ) from None
        raise
    problems: list[tuple[int, str]] = []
    nat = np.flatnonzero(np.isnat(parsed))
    if nat.size:
        problems.append((int(nat[0]), f"datetime {times[int(nat[0])]!r} is not a date and time"))
    else:
        back = np.flatnonzero(parsed[1:] <= parsed[:-1])
        if back.size:
            i = int(back[0]) + 1
            problems.append((i, f"datetime {times[i]} is not after the bar before it ({times[i - 1]})"))
    prices = np.vstack([o, h, lo, c])
    bad = np.flatnonzero(~np.isfinite(prices).all(axis=0) | (prices <= 0).any(axis=0))
    if bad.size:
        problems.append((int(bad[0]), "prices must be finite and positive"))
    bad = np.flatnonzero((lo > np.minimum(o, c)) | (h < np.maximum(o, c)))
    if bad.size:
        problems.append((int(bad[0]), "low must be <= open, close <= high"))
    bad = np.flatnonzero(~np.isfinite(v) | (v < 0))
    if bad.size:
        problems.append((int(bad[0]), "volume must be a finite number >= 0"))
    if problems:  # the first bad row; on it, the first check it fails
        row, reason = min(problems, key=lambda p: p[0])
        raise PlainBarsError(name, row + 2, reason)


def check_writable(path: str | Path) -> None:
    """``OSError`` now, before a run, if ``write_round_trips`` could not write ``path``: its folder
    missing or not writable, or ``path`` a folder."""
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(f"{path} is a folder, not a file")
    folder = target.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"{path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(f"{path}: the folder {folder} is not writable")


def write_round_trips(path: str | Path, trips: Iterable[RoundTrip]) -> int:
    """Write the round trips (``TRADE_COLUMNS``, prices with two decimals); return how many. The
    file appears whole or not at all: written beside ``path`` under a temporary name, then renamed
    over it (a crash or a full disk leaves any earlier file as it was)."""
    count = 0
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(TRADE_COLUMNS)
            for t in trips:
                w.writerow([t.entry_time, t.exit_time, f"{t.entry_price:.2f}", f"{t.exit_price:.2f}"])
                count += 1
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # as open() would have made it
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return count


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
