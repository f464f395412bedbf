"""Daily history CSVs: index closes (the spot of an older-layout bhavcopy day) and India VIX.

The files NSE offers for download (historical index data, India VIX history) have a header with
``Date`` and ``Close`` (``Open``, ``High``, ``Low`` used when present; other columns ignored), header
names matched without case or surrounding spaces, values optionally quoted with thousands separators
(``"21,710.80"``). Dates: ``05-JAN-2024``, ``05-Jan-2024``, ``05 Jan 2024`` or ``2024-01-05``. An
index-close file names its index in an ``Index Name`` column (``NIFTY 50``) or the caller passes it.
Validated whole like every import: the first problem raises ``ImportFileError`` (file, line, reason).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from trading.core import contracts
from trading.marketdata.store import coverage
from trading.marketdata.store.errors import CoverageError, ImportFileError
from trading.marketdata.store.files import csv_members, split_lines
from trading.marketdata.store.schema import VIX_INDEX

__all__ = ["DailySeries", "index_name", "parse_daily", "read_daily"]

_DATE_FORMATS = ("%d-%b-%Y", "%d %b %Y", "%Y-%m-%d")
_PRICE_COLUMNS = ("open", "high", "low", "close")

# Names the exchanges' files use for the indices (the broker's spot keys of contracts.INDICES too).
_ALIASES = {
    "NIFTY 50": "NIFTY",
    "NIFTY BANK": "BANKNIFTY",
    "NIFTY FIN SERVICE": "FINNIFTY",
    "NIFTY FINANCIAL SERVICES": "FINNIFTY",
    "NIFTY MID SELECT": "MIDCPNIFTY",
    "NIFTY MIDCAP SELECT": "MIDCPNIFTY",
    "S&P BSE SENSEX": "SENSEX",
    "BSE SENSEX": "SENSEX",
}


def index_name(text: str) -> str | None:
    """The configured index a file's name for it means (``NIFTY 50`` -> ``NIFTY``), None if none."""
    key = " ".join(str(text).upper().split())
    if key in contracts.INDICES:
        return key
    for name, spec in contracts.INDICES.items():
        if key == spec.spot_symbol.split(":", 1)[-1].upper():
            return name
    return _ALIASES.get(key)


@dataclass
class DailySeries:
    """One daily file read: ``frames`` maps an index (``INDIAVIX`` for VIX) to its rows by date."""

    name: str
    frames: dict[str, pd.DataFrame]
    rows: int


def read_daily(path: str | Path, *, vix: bool = False, index: str | None = None) -> list[DailySeries]:
    """Every daily CSV in ``path`` (a CSV or a zip of them); ``vix`` for India VIX history."""
    return [parse_daily(text, name, vix=vix, index=index) for name, text in csv_members(path)]


def _parse_date(text: str) -> date | None:
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def parse_daily(
    text: str, name: str = "daily.csv", *, vix: bool = False, index: str | None = None
) -> DailySeries:
    """Validate one daily CSV and return its rows (``date, open, high, low, close``) per index."""
    lines = split_lines(text, name)
    rows = list(csv.reader(io.StringIO("\n".join(lines))))
    header = [h.strip().lower() for h in rows[0]]
    position = {h: i for i, h in enumerate(header)}
    missing = [c for c in ("date", "close") if c not in position]
    if missing:
        raise ImportFileError(
            name, 1, f"bad header: no {', '.join(missing)} column (expected Date, Open, High, Low, Close)"
        )
    name_col = position.get("index name")
    fixed = None
    if vix:
        fixed = VIX_INDEX
    elif index is not None:
        fixed = contracts.index_spec(index).name
    elif name_col is None:
        raise ImportFileError(name, 1, "no Index Name column: say which index the file holds (--index)")
    records: list[tuple[str, date, list[float]]] = []
    seen: dict[tuple[str, date], int] = {}
    for line_no, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise ImportFileError(name, line_no, f"expected {len(header)} fields, found {len(row)}")
        if fixed is not None:
            idx = fixed
            if name_col is not None and not vix and index_name(row[name_col]) not in (None, fixed):
                raise ImportFileError(name, line_no, f"index {row[name_col].strip()!r} is not {fixed}")
        else:
            idx = index_name(row[name_col])
            if idx is None:
                raise ImportFileError(
                    name,
                    line_no,
                    f"unknown index {row[name_col].strip()!r}: expected one of {', '.join(contracts.INDICES)}",
                )
        day = _parse_date(row[position["date"]].strip())
        if day is None:
            raise ImportFileError(
                name,
                line_no,
                f"Date {row[position['date']].strip()!r} is not a date like 05-JAN-2024 or 2024-01-05",
            )
        prices = []
        for column in _PRICE_COLUMNS:
            if column not in position:
                prices.append(np.nan)
                continue
            raw = row[position[column]].strip()
            try:
                value = float(raw.replace(",", ""))
            except ValueError:
                raise ImportFileError(name, line_no, f"{column.title()}: {raw!r} is not a number") from None
            if not (np.isfinite(value) and value > 0):
                raise ImportFileError(name, line_no, f"{column.title()}: {raw} must be positive")
            prices.append(value)
        o, h, lo, c = prices
        if np.isfinite(h) and h < max(x for x in (o, c, lo) if np.isfinite(x)):
            raise ImportFileError(name, line_no, f"High {h:g} is below the open, low or close")
        if np.isfinite(lo) and lo > min(x for x in (o, c) if np.isfinite(x)):
            raise ImportFileError(name, line_no, f"Low {lo:g} is above the open or the close")
        if (idx, day) in seen:
            raise ImportFileError(name, line_no, f"repeats {day} of line {seen[(idx, day)]}")
        seen[(idx, day)] = line_no
        why = coverage.session_problem("NIFTY" if idx == VIX_INDEX else idx, day)
        if why:
            raise CoverageError(name, line_no, why)
        records.append((idx, day, prices))
    if not records:
        raise ImportFileError(name, 2, "no data rows")
    frames: dict[str, pd.DataFrame] = {}
    for idx in sorted({r[0] for r in records}):
        mine = [r for r in records if r[0] == idx]
        frames[idx] = pd.DataFrame(
            {
                "date": [r[1] for r in mine],
                **{c: [r[2][i] for r in mine] for i, c in enumerate(_PRICE_COLUMNS)},
            }
        )
    return DailySeries(name=name, frames=frames, rows=len(records))
