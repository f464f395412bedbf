"""CSV replay: recorded (or exported) minute bars read back as a feed. Format: docs/replay-format.md.

A file is validated whole before anything is served: the first problem in file order raises
``ReplayFormatError(line, reason)`` and nothing of the file is used. ``write_rows`` and
``day_to_rows`` produce the format (the chain recorder and exports use them), so a recording reads
back as the same bars.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from trading.core import calendar as market_calendar
from trading.core import contracts
from trading.core.bars import CHAIN_FIELDS, DayBars, MarketBar
from trading.marketdata.base import Feed, FeedError, NoData, last_completed, trim_chain
from trading.marketdata.config import FeedConfig

__all__ = [
    "COLUMNS",
    "ReplayFeed",
    "ReplayFormatError",
    "bar_to_rows",
    "day_to_rows",
    "format_rows",
    "read_replay",
]

COLUMNS: tuple[str, ...] = (
    "time",
    "index",
    "spot_open",
    "spot_high",
    "spot_low",
    "spot_close",
    "spot_volume",
    "vix",
    "expiry",
    "strike",
    "option_type",
    "ltp",
    "bid",
    "ask",
    "oi",
    "volume",
    "iv",
)
SPOT_COLUMNS = ("spot_open", "spot_high", "spot_low", "spot_close", "spot_volume", "vix")
OPTIONAL = ("bid", "ask", "iv")  # may be empty: no quote / not known
QUOTE_COLUMNS = ("ltp", "bid", "ask", "oi", "volume", "iv")
_NS_PER_MINUTE = 60_000_000_000
_IST_OFFSET_NS = 19_800_000_000_000


class ReplayFormatError(ValueError):
    """A replay file that does not follow docs/replay-format.md: ``line`` (1 = the header) and ``reason``."""

    def __init__(self, line: int, reason: str, path: str | Path | None = None) -> None:
        self.line = line
        self.reason = reason
        self.path = str(path) if path is not None else None
        where = f"{self.path}: " if self.path else ""
        super().__init__(f"{where}line {line}: {reason}")


# --- reading -----------------------------------------------------------------------------------------------


class _Problems:
    """Collects the first bad row of each check; the earliest line wins (then the earliest check)."""

    def __init__(self) -> None:
        self.best: tuple[int, int, str] | None = None
        self._order = 0

    def flag(self, bad: np.ndarray, reason: object) -> None:
        """``bad``: boolean mask over the data rows; ``reason``: a string or a function of the row."""
        self._order += 1
        hits = np.flatnonzero(bad)
        if hits.size == 0:
            return
        row = int(hits[0])
        if self.best is None or (row, self._order) < self.best[:2]:
            text = reason(row) if callable(reason) else str(reason)
            self.best = (row, self._order, text)

    def raise_first(self, path: str | Path | None) -> None:
        if self.best is not None:
            raise ReplayFormatError(self.best[0] + 2, self.best[2], path)


def _check_fields(text: str, path: str | Path | None) -> list[str]:
    """Header and field counts, line by line (the format never quotes: a comma always separates)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:
        raise ReplayFormatError(1, "empty file: expected the header " + ",".join(COLUMNS), path)
    header = [h.strip() for h in lines[0].rstrip("\r").split(",")]
    unknown = [h for h in header if h not in COLUMNS]
    missing = [c for c in COLUMNS if c not in header]
    dup = sorted({h for h in header if header.count(h) > 1})
    if unknown or missing or dup:
        parts = []
        if missing:
            parts.append("missing column(s) " + ", ".join(missing))
        if unknown:
            parts.append("unknown column(s) " + ", ".join(unknown))
        if dup:
            parts.append("repeated column(s) " + ", ".join(dup))
        raise ReplayFormatError(1, "bad header: " + "; ".join(parts), path)
    if len(lines) == 1:
        raise ReplayFormatError(2, "no data rows", path)
    n = len(COLUMNS) - 1
    for i, line in enumerate(lines[1:], start=2):
        commas = line.count(",")
        if commas != n:
            what = "empty line" if not line.strip() else f"expected {n + 1} fields, found {commas + 1}"
            raise ReplayFormatError(i, what, path)
    return header


def _parse_times(col: pd.Series, problems: _Problems) -> np.ndarray:
    """UTC ns of each row's time; flags naive, unparseable, off-minute and out-of-session times."""
    uniq, inverse = np.unique(col.to_numpy(dtype=str), return_inverse=True)
    ns = np.zeros(uniq.size, dtype=np.int64)
    why = np.full(uniq.size, "", dtype=object)
    for i, text in enumerate(uniq):
        try:
            dt = datetime.fromisoformat(text.strip())
        except ValueError:
            why[i] = f"time {text!r} is not an ISO 8601 date-time"
            continue
        if dt.tzinfo is None or dt.utcoffset() is None:
            why[i] = f"time {text!r} has no UTC offset (write e.g. 2025-10-06T09:15:00+05:30)"
            continue
        if dt.second or dt.microsecond:
            why[i] = f"time {text!r} is not on a whole minute"
            continue
        ist = dt.astimezone(market_calendar.IST)
        if not (market_calendar.SESSION_OPEN <= ist.time() < market_calendar.SESSION_CLOSE):
            why[i] = f"time {text!r} is outside the 09:15-15:29 IST session"
            continue
        ns[i] = int(np.datetime64(dt.astimezone(UTC).replace(tzinfo=None), "ns").astype(np.int64))
    row_why = why[inverse]
    problems.flag(row_why != "", lambda r: row_why[r])
    return ns[inverse]


def _validate(df: pd.DataFrame, problems: _Problems) -> dict[str, np.ndarray]:
    """Every check of the format, in the order their problems rank (``_Problems``); returns the
    parsed columns (garbage where flagged)."""
    out: dict[str, np.ndarray] = {"ns": _parse_times(df["time"], problems)}
    out["index"] = _check_index(df, problems)
    _check_spot(df, problems, out)
    expiry_text = _check_expiry(df, problems, out)
    out["strike"] = _number(df, problems, "strike", positive=True)
    option_type = _check_option_type(df, problems, out)
    for name in QUOTE_COLUMNS:
        out[name] = _number(df, problems, name, optional=name in OPTIONAL)
    bid, ask = out["bid"], out["ask"]
    problems.flag(
        (bid > 0) & (ask > 0) & (bid > ask), lambda r: f"bid {_fmt(bid[r])} is above ask {_fmt(ask[r])}"
    )
    _check_rows(df, problems, out, option_type, expiry_text)
    return out


def _check_index(df: pd.DataFrame, problems: _Problems) -> np.ndarray:
    """The index of each row, upper case; flags an unknown one."""
    index = df["index"].str.strip().str.upper().to_numpy(dtype=str)
    problems.flag(~np.isin(index, list(contracts.INDICES)), lambda r: f"unknown index {df['index'].iat[r]!r}")
    return index


def _number(
    df: pd.DataFrame, problems: _Problems, name: str, *, positive: bool = False, optional: bool = False
) -> np.ndarray:
    """Column ``name`` as floats; flags what is not a number (an empty ``optional`` cell is NaN) and a
    value not positive (``positive``) or negative."""
    col = df[name]
    if col.dtype == np.float64:  # parsed by read_csv: a problem sends the caller to the text path
        values = col.to_numpy()
        bad = np.isinf(values) if optional else ~np.isfinite(values)
        problems.flag(bad, f"{name}: not a number")
    else:
        raw = col.str.strip()
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
        empty = (raw == "").to_numpy()
        if optional:
            bad = ~empty & ~np.isfinite(values)
            values = np.where(empty, np.nan, values)
        else:
            bad = ~np.isfinite(values)
        problems.flag(
            bad,
            lambda r: (
                f"{name}: {col.iat[r]!r} is not a number" if col.iat[r].strip() else f"{name}: missing value"
            ),
        )
    sign_bad = ~bad & ((values <= 0) if positive else (values < 0))
    problems.flag(
        sign_bad & ~np.isnan(values),
        lambda r: f"{name}: {_fmt(values[r])} must be {'positive' if positive else '>= 0'}",
    )
    return values


def _check_spot(df: pd.DataFrame, problems: _Problems, out: dict[str, np.ndarray]) -> None:
    """The index's OHLC and VIX (positive), its volume (>= 0), and a high/low that hold the open and
    the close."""
    for name in ("spot_open", "spot_high", "spot_low", "spot_close", "vix"):
        out[name] = _number(df, problems, name, positive=True)
    out["spot_volume"] = _number(df, problems, "spot_volume")
    first, high, low, last = (out[name] for name in ("spot_open", "spot_high", "spot_low", "spot_close"))
    problems.flag(
        high < np.maximum(first, last), lambda r: f"spot_high {_fmt(high[r])} is below the open or the close"
    )
    problems.flag(
        low > np.minimum(first, last), lambda r: f"spot_low {_fmt(low[r])} is above the open or the close"
    )


def _check_expiry(df: pd.DataFrame, problems: _Problems, out: dict[str, np.ndarray]) -> pd.Series:
    """Expiry dates (``expiry_days``) and sessions (``session_days``), days since 1970; flags an
    expiry that is not a date or lies before the row's session. Returns the expiries as written."""
    expiry_text = df["expiry"].str.strip()
    expiry = pd.to_datetime(expiry_text, format="%Y-%m-%d", errors="coerce")
    problems.flag(
        expiry.isna().to_numpy(), lambda r: f"expiry {df['expiry'].iat[r]!r} is not a date YYYY-MM-DD"
    )
    expiry_days = expiry.to_numpy(dtype="datetime64[D]").astype(np.int64)
    session_days = (out["ns"] + _IST_OFFSET_NS) // (86_400 * 1_000_000_000)
    problems.flag(
        ~expiry.isna().to_numpy() & (expiry_days < session_days),
        lambda r: f"expiry {expiry_text.iat[r]} is in the past",
    )
    out["expiry_days"] = expiry_days
    out["session_days"] = session_days
    return expiry_text


def _check_option_type(df: pd.DataFrame, problems: _Problems, out: dict[str, np.ndarray]) -> np.ndarray:
    """CE or PE (``is_call``); flags anything else. Returns the types, upper case."""
    option_type = df["option_type"].str.strip().str.upper().to_numpy(dtype=str)
    problems.flag(
        ~np.isin(option_type, ["CE", "PE"]),
        lambda r: f"option_type {df['option_type'].iat[r]!r} is not CE or PE",
    )
    out["is_call"] = option_type == "CE"
    return option_type


def _check_rows(
    df: pd.DataFrame,
    problems: _Problems,
    out: dict[str, np.ndarray],
    option_type: np.ndarray,
    expiry_text: pd.Series,
) -> None:
    """Rows in time order, no contract twice in a minute, one index bar per minute."""
    ns = out["ns"]
    back = np.concatenate([[False], ns[1:] < ns[:-1]])
    problems.flag(back, "time goes backwards: rows must be in time order")
    keys = pd.DataFrame(
        {
            "ns": ns,
            "index": out["index"],
            "expiry": out["expiry_days"],
            "strike": out["strike"],
            "call": out["is_call"],
        }
    )
    problems.flag(
        keys.duplicated().to_numpy(),
        lambda r: (
            f"repeats the {option_type[r]} {_fmt(out['strike'][r])} {expiry_text.iat[r]} row of this minute"
        ),
    )
    minute = keys.groupby(["ns", "index"], sort=False).ngroup().to_numpy()
    first_row = pd.Series(np.arange(len(df))).groupby(minute).transform("first").to_numpy()
    for name in SPOT_COLUMNS:
        values = out[name]
        differs = (values != values[first_row]) & ~(np.isnan(values) & np.isnan(values[first_row]))
        problems.flag(
            differs,
            lambda r, name=name, values=values: (
                f"{name} {_fmt(values[r])} differs from {_fmt(values[first_row[r]])} on line "
                f"{first_row[r] + 2} (the same minute)"
            ),
        )


def _strike_ranks(time_index: np.ndarray, expiry_index: np.ndarray, strike: np.ndarray) -> np.ndarray:
    """The rank of each row's strike among the distinct strikes of its (minute, expiry), vectorised."""
    order = np.lexsort((strike, expiry_index, time_index))
    sorted_time, sorted_expiry, sorted_strike = time_index[order], expiry_index[order], strike[order]
    new_group = np.concatenate(
        [[True], (sorted_time[1:] != sorted_time[:-1]) | (sorted_expiry[1:] != sorted_expiry[:-1])]
    )
    new_strike = new_group | np.concatenate([[True], sorted_strike[1:] != sorted_strike[:-1]])
    group_id = np.cumsum(new_group) - 1
    strike_number = np.cumsum(new_strike) - 1
    first_of_group = np.flatnonzero(new_group)
    ranks_sorted = strike_number - strike_number[first_of_group][group_id]
    ranks = np.empty_like(ranks_sorted)
    ranks[order] = ranks_sorted
    return ranks


def _build_days(cols: dict[str, np.ndarray], rows: np.ndarray) -> list[DayBars]:
    """DayBars of the rows ``rows`` (one index), one per session, vectorised."""
    out: list[DayBars] = []
    session_days = cols["session_days"][rows]
    for sd in np.unique(session_days):
        r = rows[session_days == sd]
        ns = cols["ns"][r]
        times, t_idx = np.unique(ns, return_inverse=True)
        expiries_days, e_idx = np.unique(cols["expiry_days"][r], return_inverse=True)
        strike = cols["strike"][r]
        s_idx = _strike_ranks(t_idx, e_idx, strike)
        T, E, S = times.size, expiries_days.size, int(s_idx.max()) + 1
        strikes = np.full((T, E, S), np.nan)
        strikes[t_idx, e_idx, s_idx] = strike
        fields = {name: np.full((T, E, S), np.nan) for name in CHAIN_FIELDS}
        is_call = cols["is_call"][r]
        for side, mask in (("call", is_call), ("put", ~is_call)):
            for name in QUOTE_COLUMNS:
                fields[f"{side}_{name}"][t_idx[mask], e_idx[mask], s_idx[mask]] = cols[name][r][mask]
        first = np.zeros(T, dtype=np.int64)
        first[t_idx[::-1]] = np.arange(r.size)[::-1]  # the first row of each minute
        spot = {name: cols[name][r][first] for name in SPOT_COLUMNS}
        epoch = date(1970, 1, 1)
        out.append(
            DayBars(
                index=str(cols["index"][r[0]]),
                session=epoch + timedelta(days=int(sd)),
                times=times.astype("datetime64[ns]"),
                open=spot["spot_open"],
                high=spot["spot_high"],
                low=spot["spot_low"],
                close=spot["spot_close"],
                volume=spot["spot_volume"],
                vix=spot["vix"],
                expiries=tuple(epoch + timedelta(days=int(d)) for d in expiries_days),
                strikes=strikes,
                **fields,
            )
        )
    return out


def _read_text(source: str | Path | io.TextIOBase, *, partial_tail: bool) -> tuple[str | Path | None, str]:
    """The file's name (None when unknown) and text; with ``partial_tail`` the text stops after its
    last newline."""
    if isinstance(source, str | Path):
        path: str | Path | None = source
        text = Path(source).read_text(encoding="utf-8")
    else:
        path = getattr(source, "name", None)
        text = source.read()
    if partial_tail and text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    return path, text


def _frame(
    text: str, header: list[str], *, parse_numbers: bool, until: datetime | None, path: str | Path | None
) -> pd.DataFrame:
    """The rows as a frame: every column text, or the numeric ones parsed by ``read_csv``; rows at or
    after ``until`` dropped (their times must parse: ``ReplayFormatError`` otherwise)."""
    numeric = [c for c in COLUMNS if c not in ("time", "index", "expiry", "option_type")]
    kwargs: dict = {"dtype": str, "keep_default_na": False, "na_filter": False}
    if parse_numbers:
        kwargs = {
            "dtype": {c: (np.float64 if c in numeric else str) for c in COLUMNS},
            "keep_default_na": False,
            "na_values": {c: [""] for c in numeric},
        }
    df = pd.read_csv(io.StringIO(text), header=0, names=header, skip_blank_lines=False, **kwargs)
    if until is not None:
        cut = _Problems()
        ns = _parse_times(df["time"], cut)
        cut.raise_first(path)
        until_ns = int(np.datetime64(until.astimezone(UTC).replace(tzinfo=None), "ns").astype(np.int64))
        keep = ns < until_ns
        if not keep.all():
            df = df[keep].reset_index(drop=True)
    return df


def read_replay(
    source: str | Path | io.TextIOBase, *, until: datetime | None = None, partial_tail: bool = False
) -> dict[str, list[DayBars]]:
    """Read and validate one replay file; returns ``{index: [DayBars per session, in order]}``.

    Raises ``ReplayFormatError`` on the first problem (file order) - nothing is returned from a bad
    file. ``until``: ignore rows at or after this time (a file still being written: only minutes
    the writer has announced complete). ``partial_tail``: drop a last line without its newline
    (the writer was interrupted mid-line) instead of rejecting it.
    """
    path, text = _read_text(source, partial_tail=partial_tail)
    header = _check_fields(text, path)

    def frame(parse_numbers: bool) -> pd.DataFrame:
        return _frame(text, header, parse_numbers=parse_numbers, until=until, path=path)

    # Fast path: read_csv parses the numbers. Any problem at all -> validate the text, which names
    # the value and the reason exactly.
    problems = _Problems()
    try:
        df = frame(parse_numbers=True)
        cols = _validate(df, problems) if len(df) else {}
    except ValueError:
        problems.best = (0, 0, "")
    if problems.best is not None:
        problems = _Problems()
        df = frame(parse_numbers=False)
        cols = _validate(df, problems) if len(df) else {}
        problems.raise_first(path)
    if not len(df):
        return {}
    result: dict[str, list[DayBars]] = {}
    for name in np.unique(cols["index"]):
        result[str(name)] = _build_days(cols, np.flatnonzero(cols["index"] == name))
    return result


# --- writing -----------------------------------------------------------------------------------------------


def _fmt(x: float) -> str:
    """Shortest text that reads back as the same float; integers without '.0'; NaN as empty."""
    if x != x:  # NaN
        return ""
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    return repr(float(x))


def _fmt_time(t: datetime) -> str:
    return t.astimezone(market_calendar.IST).isoformat(timespec="seconds")


def bar_to_rows(bar: MarketBar) -> list[list[str]]:
    """The rows of one bar (one per expiry, strike and side with a finite strike), as text fields."""
    head = [
        _fmt_time(bar.time),
        bar.index.upper(),
        _fmt(bar.open),
        _fmt(bar.high),
        _fmt(bar.low),
        _fmt(bar.close),
        _fmt(bar.volume),
        _fmt(bar.vix),
    ]
    rows: list[list[str]] = []
    for chain in sorted(bar.chains, key=lambda c: c.expiry):
        exp = chain.expiry.isoformat()
        values = {name: np.asarray(getattr(chain, name), dtype=float).tolist() for name in CHAIN_FIELDS}
        for j, k in enumerate(np.asarray(chain.strikes, dtype=float).tolist()):
            if not math.isfinite(k):
                continue
            for side, ot in (("call", "CE"), ("put", "PE")):
                quote = [values[f"{side}_{name}"][j] for name in QUOTE_COLUMNS]
                if all(q != q for q in quote):  # a padded slot: nothing known
                    continue
                rows.append([*head, exp, _fmt(k), ot, *(_fmt(q) for q in quote)])
    if not rows:
        raise ValueError(f"the {bar.index} bar at {bar.time} has no chain rows to write")
    return rows


def day_to_rows(day: DayBars) -> Iterator[list[str]]:
    """Every row of a session, bar by bar."""
    for i in range(len(day)):
        yield from bar_to_rows(day.bar(i))


def format_rows(rows: Iterable[list[str]], header: bool = True) -> str:
    """CSV text of ``rows`` (with the header line first when ``header``)."""
    lines = [",".join(COLUMNS)] if header else []
    lines.extend(",".join(r) for r in rows)
    return "\n".join(lines) + "\n" if lines else ""


# --- the feed ------------------------------------------------------------------------------------------------


def _trimmed(bar: MarketBar) -> MarketBar:
    chains = [trim_chain(c) for c in bar.chains]
    bar.chains = [c for c in chains if c.strikes.size]
    return bar


class ReplayFeed(Feed):
    """Bars of one index from a replay file, or every ``*.csv`` of a directory (the recorder's).

    Every file is validated before the feed serves anything (``ReplayFormatError`` otherwise). The
    chains of served bars hold only the strikes listed in the file at that minute.
    """

    source = "REPLAY"

    def __init__(self, path: str | Path, index: str = "NIFTY", *, until: datetime | None = None) -> None:
        self.path = Path(path)
        self.index = index.upper()
        files = sorted(self.path.glob("*.csv")) if self.path.is_dir() else [self.path]
        days: dict[date, DayBars] = {}
        for f in files:
            for day in read_replay(f, until=until, partial_tail=until is not None).get(self.index, []):
                if day.session in days:
                    raise ReplayFormatError(
                        2, f"session {day.session} of {self.index} is also in another file", f
                    )
                days[day.session] = day
        self._days = [days[d] for d in sorted(days)]

    @classmethod
    def from_config(cls, config: FeedConfig) -> ReplayFeed:
        """The replay of ``config.replay_path`` for ``config.index``. Raises ``FeedError`` when no
        path is set, ``ReplayFormatError`` for a bad file."""
        if not config.replay_path:
            raise FeedError(
                "MARKET_FEED=replay needs MARKET_REPLAY_PATH (a replay CSV or a directory of them)"
            )
        return cls(config.replay_path, config.index)

    @property
    def sessions(self) -> list[date]:
        return [d.session for d in self._days]

    def snapshot(self, at: datetime) -> MarketBar:
        for day in reversed(self._days):
            n = last_completed(day.times.astype("datetime64[ns]").astype(np.int64), at)
            if n:
                return _trimmed(day.bar(n - 1))
        raise NoData(f"no {self.index} bar in {self.path} has completed at {at}")

    def bars(self, start: datetime, end: datetime) -> Iterator[MarketBar]:
        lo = int(np.datetime64(start.astimezone(UTC).replace(tzinfo=None), "ns").astype(np.int64))
        hi = int(np.datetime64(end.astimezone(UTC).replace(tzinfo=None), "ns").astype(np.int64))
        for day in self._days:
            ns = day.times.astype("datetime64[ns]").astype(np.int64)
            for i in np.flatnonzero((ns >= lo) & (ns < hi)):
                yield _trimmed(day.bar(int(i)))

    def days(self, start: date, end: date) -> Iterator[DayBars]:
        for day in self._days:
            if start <= day.session <= end:
                yield day
