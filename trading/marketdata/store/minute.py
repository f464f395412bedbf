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
    df, lines, where = _load_table(path, mapping)
    name = str(path)
    columns = set(df.columns)
    wanted = {c for c in mapping.columns.values()} | set(mapping.key)
    missing = sorted(c for c in wanted if c not in columns)
    if missing:
        raise ImportFileError(
            name,
            1 if where == "line" else None,
            f"bad header: no column(s) {', '.join(missing)} named by {mapping.path}",
        )
    if not len(df):
        raise ImportFileError(name, 2 if where == "line" else None, "no data rows")
    problems = Problems(name, lines, where=where)
    n = len(df)

    def raw(field: str) -> pd.Series:
        if field in mapping.constants:
            return pd.Series([mapping.constants[field]] * n)
        col = df[mapping.columns[field]]
        table = mapping.values.get(field)
        if table:
            col = col.map(lambda v, table=table: table.get(str(v).strip(), v))
        return col

    # Key columns of the vendor: no two rows alike.
    if mapping.key:
        dup = df.duplicated(list(mapping.key), keep=False).to_numpy()
        if dup.any():
            first = df.duplicated(list(mapping.key), keep="first").to_numpy()
            row = int(np.flatnonzero(first)[0])
            same = df[list(mapping.key)].eq(df[list(mapping.key)].iloc[row]).all(axis=1).to_numpy()
            earlier = int(np.flatnonzero(same)[0])
            problems.flag(
                first & (np.arange(n) == row),
                f"repeats {where} {lines[earlier]} on the key ({', '.join(mapping.key)})",
            )

    ns = _parse_times(raw("time"), mapping, problems, "time")
    # Session rules on the bar start.
    start_ok = np.ones(n, dtype=bool)
    uniq, inverse = np.unique(ns, return_inverse=True)
    why_u = np.full(uniq.size, "", dtype=object)
    for i, t in enumerate(uniq):
        dt = datetime.fromtimestamp(int(t) / 1e9, tz=UTC).astimezone(market_calendar.IST)
        if t % _NS_PER_MINUTE:
            why_u[i] = f"time {dt.isoformat()} is not on a whole minute"
        elif not (market_calendar.SESSION_OPEN <= dt.time() < market_calendar.SESSION_CLOSE):
            shown = dt.isoformat(timespec="minutes")
            why_u[i] = (
                f"bar start {shown} IST is outside the 09:15-15:29 session (check timezone "
                f"{mapping.timezone!r} and bar_time {mapping.bar_time!r} in {mapping.path})"
            )
    row_why = why_u[inverse]
    start_ok = row_why == ""
    problems.flag(~start_ok, lambda r: row_why[r])
    session_days = (ns + 19_800_000_000_000) // 86_400_000_000_000

    if mapping.kind == "vix":
        index = np.full(n, VIX_INDEX, dtype=object)
    else:
        index = _text(raw("index")).astype(str)
        index = np.char.upper(index.astype(str)).astype(object)
        problems.flag(
            ~np.isin(index, list(contracts.INDICES)),
            lambda r: f"index {raw('index').iat[r]!r} is not one of {', '.join(contracts.INDICES)}",
        )

    out: dict[str, np.ndarray] = {}
    k = KINDS[mapping.store_kind]
    needs_expiry = "expiry" in k.columns
    if needs_expiry:
        expiry = _parse_dates(raw("expiry"), mapping.formats.get("expiry"), problems, "expiry")
        exp_days = np.array([(e - date(1970, 1, 1)).days if e is not None else 0 for e in expiry])
        problems.flag(
            (exp_days < session_days) & np.array([e is not None for e in expiry]),
            lambda r: f"expiry {expiry[r]} is before the session",
        )
        out["expiry"] = expiry
    if mapping.kind == "chain":
        ot = np.char.upper(_text(raw("option_type")).astype(str))
        problems.flag(
            ~np.isin(ot, ["CE", "PE"]), lambda r: f"option_type {raw('option_type').iat[r]!r} is not CE or PE"
        )
        out["option_type"] = ot.astype(object)

    for field in mapping.number_fields:
        if field in mapping.columns or field in mapping.constants:
            col = raw(field)
            if pd.api.types.is_numeric_dtype(col.dtype):
                values = col.to_numpy(dtype=float)
                empty = np.isnan(values)
            else:
                text = pd.Series(_text(col).astype(str))
                values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
                empty = (text == "").to_numpy()
            optional = field in mapping.optional_fields
            bad = ~np.isfinite(values) & (~empty | (not optional))
            problems.flag(
                bad,
                lambda r, field=field, col=col: (
                    f"{field} ({mapping.source(field)}): {col.iat[r]!r} is not a number"
                    if str(col.iat[r]).strip()
                    else f"{field} ({mapping.source(field)}): missing value"
                ),
            )
            values = np.where(np.isfinite(values), values, np.nan)
            factor = mapping.scale.get(field, 1.0)
            if factor == "lot":
                lots = np.array(
                    [
                        contracts.lot_size(i, e) if i in contracts.INDICES and e is not None else np.nan
                        for i, e in zip(index, out["expiry"], strict=True)
                    ],
                    dtype=float,
                )
                values = values * lots
            else:
                values = _scale(values, float(factor))
        else:
            values = np.full(n, mapping.defaults.get(field, np.nan), dtype=float)
        positive = field in mapping.positive_fields
        sign_bad = np.isfinite(values) & ((values <= 0) if positive else (values < 0))
        problems.flag(
            sign_bad,
            lambda r, field=field, values=values, positive=positive: (
                f"{field}: {values[r]:g} must be {'positive' if positive else '>= 0'}"
            ),
        )
        out[field] = values

    if {"open", "high", "low", "close"} <= set(out):
        o, h, lo, c = out["open"], out["high"], out["low"], out["close"]
        hi_bad = np.isfinite(h) & (h < np.fmax(o, c))
        lo_bad = np.isfinite(lo) & (lo > np.fmin(o, c))
        problems.flag(hi_bad, lambda r: f"high {h[r]:g} is below the open or the close")
        problems.flag(lo_bad, lambda r: f"low {lo[r]:g} is above the open or the close")
    if mapping.kind == "chain":
        bid, ask = out["bid"], out["ask"]
        problems.flag(
            (bid > 0) & (ask > 0) & (bid > ask), lambda r: f"bid {bid[r]:g} is above ask {ask[r]:g}"
        )

    # The store's own key after mapping: one row per minute and contract.
    store_key = pd.DataFrame({"ns": ns, "index": index})
    for col in k.key:
        if col != "time":
            store_key[col] = out[col]
    dup = store_key.duplicated(keep="first").to_numpy()
    if dup.any():
        row = int(np.flatnonzero(dup)[0])
        earlier = int(np.flatnonzero(store_key.eq(store_key.iloc[row]).all(axis=1).to_numpy())[0])
        problems.flag(
            np.arange(n) == row,
            f"the same minute and contract as {where} {lines[earlier]} (after mapping: "
            + ", ".join(c for c in store_key.columns)
            + ")",
        )
    problems.raise_first()

    # Coverage of the dated tables, once per index and session / expiry.
    for idx, day in sorted({(i, int(d)) for i, d in zip(index, session_days, strict=True)}):
        session = date(1970, 1, 1) + timedelta(days=day)
        why = coverage.session_problem("NIFTY" if idx == VIX_INDEX else idx, session)
        if why:
            raise CoverageError(name, None, f"{idx}: {why}")
    if needs_expiry:
        for idx, exp in sorted({(i, e) for i, e in zip(index, out["expiry"], strict=True)}):
            why = coverage.expiry_problem(idx, exp)
            if why:
                raise CoverageError(name, None, why)

    frame = pd.DataFrame({"ns": ns, "index": index, "session": session_days, **out})
    frame = frame.sort_values(["index", "session", "ns"], kind="stable").reset_index(drop=True)
    if mapping.volume == "per_minute" and "volume" in frame and mapping.kind == "chain":
        group = ["index", "session", "expiry", "strike", "option_type"]
        frame["volume"] = frame.groupby(group, sort=False)["volume"].cumsum()
    sessions: list[MinuteSession] = []
    for (idx, day), part in frame.groupby(["index", "session"], sort=True):
        rows = {"time": _utc_times(part["ns"].to_numpy())}
        for col in k.columns:
            if col != "time":
                rows[col] = part[col].to_numpy()
        sessions.append(
            MinuteSession(
                str(idx),
                date(1970, 1, 1) + timedelta(days=int(day)),
                {k.name: pd.DataFrame(rows)[list(k.columns)]},
            )
        )
    return sessions
