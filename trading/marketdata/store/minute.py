"""Minute data into the store: the replay CSV as it stands, and any vendor layout through a mapping.

``read_replay_file(path)`` reads a file of ``docs/replay-format.md`` with the replay feed's own
validation (``read_replay``) and turns each session into ``spot_minute`` and ``chain_minute`` rows.

``read_mapped(path, mapping)`` reads a long-format CSV or Parquet file whose columns a
``mapping.Mapping`` (a TOML file) names: one row per minute and contract (``kind = "chain"``), per
minute of the index (``"spot"``), of an index future (``"future"``) or of India VIX (``"vix"``). Times
are converted from the mapping's zone, bars stamped by their end are moved to their start, prices
scaled (paise -> rupees), lots turned into units, per-minute volume accumulated over the session, and
every row checked like a replay row. The first problem raises ``ImportFileError`` naming the file, the
line (``row`` for Parquet) and the reason; nothing of the file is stored.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from trading.core import calendar as market_calendar
from trading.core import contracts
from trading.core.bars import DayBars
from trading.marketdata.replay import QUOTE_COLUMNS, ReplayFormatError, read_replay
from trading.marketdata.store import coverage
from trading.marketdata.store.errors import CoverageError, ImportFileError, Problems
from trading.marketdata.store.files import csv_members, split_lines
from trading.marketdata.store.mapping import Mapping
from trading.marketdata.store.schema import KINDS, VIX_INDEX

__all__ = ["MinuteSession", "day_frames", "read_mapped", "read_replay_file"]

_NS_PER_MINUTE = 60_000_000_000


@dataclass
class MinuteSession:
    """The rows of one index and session, per store kind (``spot_minute``, ``chain_minute``, ...)."""

    index: str
    session: date
    frames: dict[str, pd.DataFrame]


def _utc_times(ns: np.ndarray) -> pd.Series:
    return pd.Series(pd.to_datetime(ns.astype("datetime64[ns]")).tz_localize(UTC))


def day_frames(day: DayBars) -> dict[str, pd.DataFrame]:
    """``spot_minute`` and ``chain_minute`` rows of a session of arrays (one row per listed contract side).

    A slot is written when the strike is listed and any of its quote fields is known, as
    ``replay.bar_to_rows`` does: what a replay file of the day would hold.
    """
    ns = day.times.astype("datetime64[ns]").astype(np.int64)
    spot = pd.DataFrame(
        {
            "time": _utc_times(ns),
            "open": day.open,
            "high": day.high,
            "low": day.low,
            "close": day.close,
            "volume": day.volume,
            "vix": day.vix,
        }
    )
    parts = []
    for side, option_type in (("call", "CE"), ("put", "PE")):
        quotes = {name: getattr(day, f"{side}_{name}") for name in QUOTE_COLUMNS}
        known = np.isfinite(day.strikes) & ~np.all([np.isnan(q) for q in quotes.values()], axis=0)
        t, e, s = np.nonzero(known)
        parts.append(
            pd.DataFrame(
                {
                    "time": _utc_times(ns[t]),
                    "expiry": [day.expiries[i] for i in e],
                    "strike": day.strikes[t, e, s],
                    "option_type": option_type,
                    **{name: quotes[name][t, e, s] for name in QUOTE_COLUMNS},
                }
            )
        )
    chain = pd.concat(parts, ignore_index=True)[list(KINDS["chain_minute"].columns)]
    return {"spot_minute": spot, "chain_minute": chain}


def read_replay_file(path: str | Path) -> list[MinuteSession]:
    """Every session of a replay CSV, validated by the replay feed's reader (errors name the line)."""
    out: list[MinuteSession] = []
    for name, text in csv_members(path):
        try:
            by_index = read_replay(io.StringIO(text))
        except ReplayFormatError as exc:
            raise ImportFileError(name, exc.line, exc.reason) from None
        for index, days in by_index.items():
            for day in days:
                why = coverage.session_problem(index, day.session)
                if why:
                    raise CoverageError(name, None, f"{index}: {why}")
                for exp in day.expiries:
                    why = coverage.expiry_problem(index, exp)
                    if why:
                        raise CoverageError(name, None, why)
                out.append(MinuteSession(index, day.session, day_frames(day)))
    return out


# --- vendor files through a mapping ------------------------------------------------------------------


def _load_table(path: Path, mapping: Mapping) -> tuple[pd.DataFrame, np.ndarray, str]:
    """The file as a frame of its columns, the line (or row) number of each row, and ``line``/``row``."""
    fmt = mapping.format or ("parquet" if path.suffix.lower() in (".parquet", ".pq") else "csv")
    if fmt == "parquet":
        try:
            df = pq.read_table(path).to_pandas()
        except Exception as exc:  # noqa: BLE001 - any reader failure is a bad file, said as such
            raise ImportFileError(path, None, f"not a readable Parquet file ({exc})") from None
        return df.reset_index(drop=True), np.arange(1, len(df) + 1), "row"
    members = list(csv_members(path))
    if len(members) != 1:
        raise ImportFileError(path, None, "a zip for a mapped import must hold exactly one CSV")
    name, text = members[0]
    lines = split_lines(text, name)
    delimiter = mapping.delimiter
    n = lines[0].count(delimiter)
    for i, line in enumerate(lines[1:], start=2):
        if '"' not in line and line.count(delimiter) != n:
            raise ImportFileError(name, i, f"expected {n + 1} fields, found {line.count(delimiter) + 1}")
    df = pd.read_csv(
        io.StringIO("\n".join(lines)), sep=delimiter, dtype=str, keep_default_na=False, na_filter=False
    )
    df.columns = [str(c).strip() for c in df.columns]
    return df, np.arange(2, len(df) + 2), "line"


def _text(col: pd.Series) -> np.ndarray:
    return col.astype(str).str.strip().to_numpy(dtype=object)


def _parse_times(col: pd.Series, mapping: Mapping, problems: Problems, field: str) -> np.ndarray:
    """UTC ns of each row's bar start (NaT-free: 0 where flagged)."""
    zone = mapping.zone
    fmt = mapping.formats.get("time")
    if pd.api.types.is_datetime64_any_dtype(col.dtype):
        ts = pd.DatetimeIndex(col)
        ts = ts.tz_convert(UTC) if ts.tz is not None else ts.tz_localize(zone).tz_convert(UTC)
        ns = ts.as_unit("ns").asi8.copy()
        bad = ts.isna()
        problems.flag(bad, f"{field}: missing time")
        ns[bad] = 0
    elif fmt in ("epoch_s", "epoch_ms"):
        number = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(number)
        problems.flag(bad, lambda r: f"{field}: {col.iat[r]!r} is not an epoch time")
        scale = 1_000_000_000 if fmt == "epoch_s" else 1_000_000
        ns = np.where(bad, 0, np.round(np.nan_to_num(number) * scale)).astype(np.int64)
    else:
        text = _text(col)
        uniq, inverse = np.unique(text.astype(str), return_inverse=True)
        out = np.zeros(uniq.size, dtype=np.int64)
        why = np.full(uniq.size, "", dtype=object)
        for i, value in enumerate(uniq):
            try:
                dt = datetime.strptime(value, fmt) if fmt else datetime.fromisoformat(value)
            except ValueError:
                expected = f"the format {fmt!r}" if fmt else "an ISO 8601 date-time"
                why[i] = f"{field}: {str(value)!r} is not {expected}"
                continue
            if dt.tzinfo is None or dt.utcoffset() is None:
                dt = dt.replace(tzinfo=zone)
            out[i] = int(np.datetime64(dt.astimezone(UTC).replace(tzinfo=None), "ns").astype(np.int64))
        row_why = why[inverse]
        problems.flag(row_why != "", lambda r: row_why[r])
        ns = out[inverse]
    if mapping.bar_time == "end":
        ns = ns - _NS_PER_MINUTE
    return ns


def _parse_dates(col: pd.Series, fmt: str | None, problems: Problems, field: str) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(col.dtype):
        values = pd.DatetimeIndex(col)
        bad = values.isna()
        problems.flag(bad, f"{field}: missing date")
        return np.array([None if b else v.date() for v, b in zip(values, bad, strict=True)], dtype=object)
    text = _text(col).astype(str)
    uniq, inverse = np.unique(text, return_inverse=True)
    parsed = np.empty(uniq.size, dtype=object)
    for i, value in enumerate(uniq):
        try:
            parsed[i] = datetime.strptime(value, fmt).date() if fmt else date.fromisoformat(value)
        except ValueError:
            parsed[i] = None
    out = parsed[inverse]
    bad = np.array([d is None for d in out])
    expected = f"the format {fmt!r}" if fmt else "a date YYYY-MM-DD"
    problems.flag(bad, lambda r: f"{field}: {str(text[r])!r} is not {expected}")
    return out


def _scale(values: np.ndarray, factor: float) -> np.ndarray:
    """``values * factor``, as an exact division when the factor is 1/n (0.01: paise -> rupees)."""
    if factor == 1.0:
        return values
    inverse = 1.0 / factor
    if abs(inverse - round(inverse)) < 1e-9:
        return values / round(inverse)
    return values * factor


def read_mapped(path: str | Path, mapping: Mapping) -> list[MinuteSession]:
    """Rows of a vendor file as store sessions of the mapping's kind (see the module docstring)."""
    path = Path(path)
    if not path.exists():
        raise ImportFileError(path, None, "no such file")
    table = _MappedTable(path, mapping)
    table.check_vendor_key()
    ns = _parse_times(table.raw("time"), mapping, table.problems, "time")
    table.check_session_minutes(ns)
    session_days = (ns + 19_800_000_000_000) // 86_400_000_000_000
    index = table.indices()
    values = table.contract_columns(session_days)
    for field in mapping.number_fields:
        values[field] = table.numbers(field, index, values.get("expiry"))
    table.check_prices(values)
    table.check_store_key(ns, index, values)
    table.problems.raise_first()
    table.check_coverage(index, session_days, values.get("expiry"))
    return table.sessions(ns, index, session_days, values)


class _MappedTable:
    """A vendor file read through its mapping: the cells, the problems found, the checks in turn."""

    def __init__(self, path: Path, mapping: Mapping) -> None:
        self.mapping = mapping
        self.df, self.lines, self.where = _load_table(path, mapping)
        self.name = str(path)
        wanted = set(mapping.columns.values()) | set(mapping.key)
        missing = sorted(c for c in wanted if c not in set(self.df.columns))
        if missing:
            raise ImportFileError(
                self.name,
                1 if self.where == "line" else None,
                f"bad header: no column(s) {', '.join(missing)} named by {mapping.path}",
            )
        if not len(self.df):
            raise ImportFileError(self.name, 2 if self.where == "line" else None, "no data rows")
        self.problems = Problems(self.name, self.lines, where=self.where)
        self.n = len(self.df)
        self.kind = KINDS[mapping.store_kind]

    def raw(self, field: str) -> pd.Series:
        """The vendor's column of ``field`` (a constant when the mapping fixes it), values translated."""
        if field in self.mapping.constants:
            return pd.Series([self.mapping.constants[field]] * self.n)
        column = self.df[self.mapping.columns[field]]
        table = self.mapping.values.get(field)
        if table:
            column = column.map(lambda value, table=table: table.get(str(value).strip(), value))
        return column

    def check_vendor_key(self) -> None:
        """The vendor's key columns: no two rows alike."""
        key = list(self.mapping.key)
        if not key or not self.df.duplicated(key, keep=False).any():
            return
        first = self.df.duplicated(key, keep="first").to_numpy()
        row = int(np.flatnonzero(first)[0])
        same = self.df[key].eq(self.df[key].iloc[row]).all(axis=1).to_numpy()
        earlier = int(np.flatnonzero(same)[0])
        self.problems.flag(
            first & (np.arange(self.n) == row),
            f"repeats {self.where} {self.lines[earlier]} on the key ({', '.join(key)})",
        )

    def check_session_minutes(self, ns: np.ndarray) -> None:
        """Every bar starts on a whole minute inside the 09:15-15:29 session (IST)."""
        unique, inverse = np.unique(ns, return_inverse=True)
        why = np.full(unique.size, "", dtype=object)
        for i, stamp in enumerate(unique):
            moment = datetime.fromtimestamp(int(stamp) / 1e9, tz=UTC).astimezone(market_calendar.IST)
            if stamp % _NS_PER_MINUTE:
                why[i] = f"time {moment.isoformat()} is not on a whole minute"
            elif not (market_calendar.SESSION_OPEN <= moment.time() < market_calendar.SESSION_CLOSE):
                why[i] = (
                    f"bar start {moment.isoformat(timespec='minutes')} IST is outside the 09:15-15:29 session "
                    f"(check timezone {self.mapping.timezone!r} and bar_time {self.mapping.bar_time!r} in "
                    f"{self.mapping.path})"
                )
        row_why = why[inverse]
        self.problems.flag(row_why != "", lambda r: row_why[r])

    def indices(self) -> np.ndarray:
        """The index of every row (India VIX rows carry the VIX's own name)."""
        if self.mapping.kind == "vix":
            return np.full(self.n, VIX_INDEX, dtype=object)
        index = np.char.upper(_text(self.raw("index")).astype(str)).astype(object)
        self.problems.flag(
            ~np.isin(index, list(contracts.INDICES)),
            lambda r: f"index {self.raw('index').iat[r]!r} is not one of {', '.join(contracts.INDICES)}",
        )
        return index

    def contract_columns(self, session_days: np.ndarray) -> dict[str, np.ndarray]:
        """Expiry (not before the session) and option type (CE/PE) where the kind has them."""
        out: dict[str, np.ndarray] = {}
        if "expiry" in self.kind.columns:
            expiry = _parse_dates(
                self.raw("expiry"), self.mapping.formats.get("expiry"), self.problems, "expiry"
            )
            expiry_days = np.array([(e - date(1970, 1, 1)).days if e is not None else 0 for e in expiry])
            self.problems.flag(
                (expiry_days < session_days) & np.array([e is not None for e in expiry]),
                lambda r: f"expiry {expiry[r]} is before the session",
            )
            out["expiry"] = expiry
        if self.mapping.kind == "chain":
            option_type = np.char.upper(_text(self.raw("option_type")).astype(str))
            self.problems.flag(
                ~np.isin(option_type, ["CE", "PE"]),
                lambda r: f"option_type {self.raw('option_type').iat[r]!r} is not CE or PE",
            )
            out["option_type"] = option_type.astype(object)
        return out

    def _parsed_numbers(self, field: str) -> np.ndarray:
        """A number column as floats (NaN where empty), each bad or missing value flagged."""
        column = self.raw(field)
        if pd.api.types.is_numeric_dtype(column.dtype):
            values = column.to_numpy(dtype=float)
            empty = np.isnan(values)
        else:
            text = pd.Series(_text(column).astype(str))
            values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
            empty = (text == "").to_numpy()
        bad = ~np.isfinite(values) & (~empty | (field not in self.mapping.optional_fields))
        source = self.mapping.source(field)
        self.problems.flag(
            bad,
            lambda r: (
                f"{field} ({source}): {column.iat[r]!r} is not a number"
                if str(column.iat[r]).strip()
                else f"{field} ({source}): missing value"
            ),
        )
        return np.where(np.isfinite(values), values, np.nan)

    def numbers(self, field: str, index: np.ndarray, expiry: np.ndarray | None) -> np.ndarray:
        """A number column in the store's units (the mapping's scale; ``lot``: lots -> units), its
        sign checked; the mapping's default where the vendor has no such column."""
        if field in self.mapping.columns or field in self.mapping.constants:
            values = self._parsed_numbers(field)
            factor = self.mapping.scale.get(field, 1.0)
            if factor == "lot":
                lots = [
                    contracts.lot_size(i, e) if i in contracts.INDICES and e is not None else np.nan
                    for i, e in zip(index, expiry, strict=True)
                ]
                values = values * np.array(lots, dtype=float)
            else:
                values = _scale(values, float(factor))
        else:
            values = np.full(self.n, self.mapping.defaults.get(field, np.nan), dtype=float)
        positive = field in self.mapping.positive_fields
        sign_bad = np.isfinite(values) & ((values <= 0) if positive else (values < 0))
        bound = "positive" if positive else ">= 0"
        self.problems.flag(sign_bad, lambda r: f"{field}: {values[r]:g} must be {bound}")
        return values

    def check_prices(self, values: dict[str, np.ndarray]) -> None:
        """High and low around open and close; a chain's bid not above its ask."""
        if {"open", "high", "low", "close"} <= set(values):
            open_, high, low, close = values["open"], values["high"], values["low"], values["close"]
            self.problems.flag(
                np.isfinite(high) & (high < np.fmax(open_, close)),
                lambda r: f"high {high[r]:g} is below the open or the close",
            )
            self.problems.flag(
                np.isfinite(low) & (low > np.fmin(open_, close)),
                lambda r: f"low {low[r]:g} is above the open or the close",
            )
        if self.mapping.kind == "chain":
            bid, ask = values["bid"], values["ask"]
            self.problems.flag(
                (bid > 0) & (ask > 0) & (bid > ask), lambda r: f"bid {bid[r]:g} is above ask {ask[r]:g}"
            )

    def check_store_key(self, ns: np.ndarray, index: np.ndarray, values: dict[str, np.ndarray]) -> None:
        """The store's own key after mapping: one row per minute and contract."""
        store_key = pd.DataFrame({"ns": ns, "index": index})
        for column in self.kind.key:
            if column != "time":
                store_key[column] = values[column]
        duplicated = store_key.duplicated(keep="first").to_numpy()
        if not duplicated.any():
            return
        row = int(np.flatnonzero(duplicated)[0])
        earlier = int(np.flatnonzero(store_key.eq(store_key.iloc[row]).all(axis=1).to_numpy())[0])
        self.problems.flag(
            np.arange(self.n) == row,
            f"the same minute and contract as {self.where} {self.lines[earlier]} (after mapping: "
            + ", ".join(store_key.columns)
            + ")",
        )

    def check_coverage(self, index: np.ndarray, session_days: np.ndarray, expiry: np.ndarray | None) -> None:
        """Sessions and expiries inside the dated lot, charge and holiday tables."""
        for name, day in sorted({(i, int(d)) for i, d in zip(index, session_days, strict=True)}):
            session = date(1970, 1, 1) + timedelta(days=day)
            why = coverage.session_problem("NIFTY" if name == VIX_INDEX else name, session)
            if why:
                raise CoverageError(self.name, None, f"{name}: {why}")
        if expiry is not None:
            for name, day in sorted({(i, e) for i, e in zip(index, expiry, strict=True)}):
                why = coverage.expiry_problem(name, day)
                if why:
                    raise CoverageError(self.name, None, why)

    def sessions(
        self, ns: np.ndarray, index: np.ndarray, session_days: np.ndarray, values: dict[str, np.ndarray]
    ) -> list[MinuteSession]:
        """The rows as store sessions, one per index and day (per-minute volume accumulated)."""
        frame = pd.DataFrame({"ns": ns, "index": index, "session": session_days, **values})
        frame = frame.sort_values(["index", "session", "ns"], kind="stable").reset_index(drop=True)
        if self.mapping.volume == "per_minute" and "volume" in frame and self.mapping.kind == "chain":
            group = ["index", "session", "expiry", "strike", "option_type"]
            frame["volume"] = frame.groupby(group, sort=False)["volume"].cumsum()
        sessions: list[MinuteSession] = []
        for (name, day), part in frame.groupby(["index", "session"], sort=True):
            rows = {"time": _utc_times(part["ns"].to_numpy())}
            for column in self.kind.columns:
                if column != "time":
                    rows[column] = part[column].to_numpy()
            session = date(1970, 1, 1) + timedelta(days=int(day))
            sessions.append(
                MinuteSession(
                    str(name), session, {self.kind.name: pd.DataFrame(rows)[list(self.kind.columns)]}
                )
            )
        return sessions
