"""NSE/BSE F&O bhavcopy files -> end-of-day option chains and futures of the configured indices.

Two layouts, told apart by the header (never by the date):

* the older NSE one (used until 2024-07-05), every line ending with a comma (an empty 16th column)::

    INSTRUMENT,SYMBOL,EXPIRY_DT,STRIKE_PR,OPTION_TYP,OPEN,HIGH,LOW,CLOSE,SETTLE_PR,CONTRACTS,
    VAL_INLAKH,OPEN_INT,CHG_IN_OI,TIMESTAMP,

  dates like ``25-Jan-2024`` (EXPIRY_DT) and ``05-JAN-2024`` (TIMESTAMP), futures with OPTION_TYP
  ``XX`` and strike 0, CONTRACTS a number of contracts, VAL_INLAKH in rupee lakhs, OI in units;
* UDiFF (34 columns, ``TradDt,BizDt,Sgmt,Src,FinInstrmTp,...,Rsvd4``; NSE from 2024-07-08, BSE too),
  ISO dates, rows ending ``,,,,,`` (Rmks and Rsvd1-4 empty), TtlTradgVol in units, TtlTrfVal in
  rupees, the lot (NewBrdLotQty) and the underlying's close (UndrlygPric) on every row.

Kept: index options and index futures (OPTIDX/FUTIDX, IDO/IDF) of ``contracts.INDICES``; every other
row (stocks, other indices) is skipped after the structural checks. The file is validated whole and
the first problem raises ``ImportFileError`` (file, line, reason): nothing of a bad file is stored.
Stored ``volume`` is in units: the older layout's CONTRACTS x ``contracts.lot_size`` of the contract.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from trading.core import contracts
from trading.marketdata.store import coverage
from trading.marketdata.store.errors import CoverageError, ImportFileError, Problems
from trading.marketdata.store.files import csv_members, split_lines
from trading.marketdata.store.schema import KINDS

__all__ = ["OLD_COLUMNS", "UDIFF_COLUMNS", "BhavcopyDay", "parse_bhavcopy", "read_bhavcopy"]

OLD_COLUMNS: tuple[str, ...] = (
    "INSTRUMENT",
    "SYMBOL",
    "EXPIRY_DT",
    "STRIKE_PR",
    "OPTION_TYP",
    "OPEN",
    "HIGH",
    "LOW",
    "CLOSE",
    "SETTLE_PR",
    "CONTRACTS",
    "VAL_INLAKH",
    "OPEN_INT",
    "CHG_IN_OI",
    "TIMESTAMP",
)
UDIFF_COLUMNS: tuple[str, ...] = (
    "TradDt",
    "BizDt",
    "Sgmt",
    "Src",
    "FinInstrmTp",
    "FinInstrmId",
    "ISIN",
    "TckrSymb",
    "SctySrs",
    "XpryDt",
    "FininstrmActlXpryDt",
    "StrkPric",
    "OptnTp",
    "FinInstrmNm",
    "OpnPric",
    "HghPric",
    "LwPric",
    "ClsPric",
    "LastPric",
    "PrvsClsgPric",
    "UndrlygPric",
    "SttlmPric",
    "OpnIntrst",
    "ChngInOpnIntrst",
    "TtlTradgVol",
    "TtlTrfVal",
    "TtlNbOfTxsExctd",
    "SsnId",
    "NewBrdLotQty",
    "Rmks",
    "Rsvd1",
    "Rsvd2",
    "Rsvd3",
    "Rsvd4",
)
OLD = "fo_bhavcopy"
UDIFF = "udiff"
_OLD_DATE = "%d-%b-%Y"  # 25-Jan-2024, 05-JAN-2024 (strptime matches month names in any case)
_ISO_DATE = "%Y-%m-%d"


@dataclass(frozen=True)
class _Layout:
    name: str
    instrument: str
    symbol: str
    expiry: str
    strike: str
    option_type: str
    trade_date: str
    date_format: str
    option: str  # the instrument code of an index option
    future: str
    future_type: str  # option-type value of a future row ("XX" / empty)
    numbers: dict[str, str]  # store column -> file column
    required: tuple[str, ...]  # store columns that must have a value on a kept row
    signed: tuple[str, ...] = ("oi_change",)


_LAYOUTS = {
    OLD: _Layout(
        OLD,
        "INSTRUMENT",
        "SYMBOL",
        "EXPIRY_DT",
        "STRIKE_PR",
        "OPTION_TYP",
        "TIMESTAMP",
        _OLD_DATE,
        "OPTIDX",
        "FUTIDX",
        "XX",
        {
            "open": "OPEN",
            "high": "HIGH",
            "low": "LOW",
            "close": "CLOSE",
            "settle": "SETTLE_PR",
            "contracts": "CONTRACTS",
            "turnover": "VAL_INLAKH",
            "oi": "OPEN_INT",
            "oi_change": "CHG_IN_OI",
        },
        ("open", "high", "low", "close", "settle", "contracts", "turnover", "oi", "oi_change"),
    ),
    UDIFF: _Layout(
        UDIFF,
        "FinInstrmTp",
        "TckrSymb",
        "XpryDt",
        "StrkPric",
        "OptnTp",
        "TradDt",
        _ISO_DATE,
        "IDO",
        "IDF",
        "",
        {
            "open": "OpnPric",
            "high": "HghPric",
            "low": "LwPric",
            "close": "ClsPric",
            "last": "LastPric",
            "prev_close": "PrvsClsgPric",
            "underlying": "UndrlygPric",
            "settle": "SttlmPric",
            "oi": "OpnIntrst",
            "oi_change": "ChngInOpnIntrst",
            "volume": "TtlTradgVol",
            "turnover": "TtlTrfVal",
            "trades": "TtlNbOfTxsExctd",
            "lot": "NewBrdLotQty",
        },
        ("settle", "oi", "volume"),
    ),
}


@dataclass
class BhavcopyDay:
    """One bhavcopy read: its session, layout and the store frames per index."""

    name: str
    layout: str
    session: date
    chains: dict[str, pd.DataFrame] = field(default_factory=dict)  # chain_eod rows per index
    futures: dict[str, pd.DataFrame] = field(default_factory=dict)  # future_eod rows per index
    rows: int = 0
    skipped: int = 0


def read_bhavcopy(path: str | Path) -> list[BhavcopyDay]:
    """Every bhavcopy in ``path`` (a CSV, or a zip of them), each validated whole."""
    return [parse_bhavcopy(text, name) for name, text in csv_members(path)]


def _detect(header: list[str], name: str) -> tuple[_Layout, int]:
    if tuple(header[:15]) == OLD_COLUMNS and (len(header) == 15 or (len(header) == 16 and header[15] == "")):
        return _LAYOUTS[OLD], len(header)
    if tuple(header) == UDIFF_COLUMNS:
        return _LAYOUTS[UDIFF], len(header)
    names = [h for h in header if h]
    best = max((OLD_COLUMNS, UDIFF_COLUMNS), key=lambda cols: len(set(cols) & set(names)))
    if not set(best) & set(names):
        raise ImportFileError(
            name,
            1,
            "not an F&O bhavcopy: the header is neither the older layout (INSTRUMENT,SYMBOL,...,TIMESTAMP, "
            "with a trailing comma) nor the 34-column UDiFF layout (TradDt,BizDt,...,Rsvd4)",
        )
    missing = [c for c in best if c not in names]
    unknown = [c for c in names if c not in best]
    which = "the older layout" if best is OLD_COLUMNS else "the UDiFF layout"
    detail = []
    if missing:
        detail.append("missing " + ", ".join(missing))
    if unknown:
        detail.append("unknown " + ", ".join(unknown))
    if not detail:
        detail.append("the columns are out of order")
    raise ImportFileError(
        name,
        1,
        "not an F&O bhavcopy header: expected the older layout (INSTRUMENT,SYMBOL,...,TIMESTAMP, with a "
        f"trailing comma) or the 34-column UDiFF layout (TradDt,...,Rsvd4); closest is {which}: "
        + "; ".join(detail),
    )


def _parse_dates(text: np.ndarray, fmt: str) -> np.ndarray:
    """Dates of ``text`` (object array; None where it does not parse), parsed once per distinct value."""
    uniq, inverse = np.unique(text, return_inverse=True)
    parsed = np.empty(uniq.size, dtype=object)
    for i, value in enumerate(uniq):
        try:
            parsed[i] = datetime.strptime(value, fmt).date()
        except ValueError:
            parsed[i] = None
    return parsed[inverse]


def parse_bhavcopy(text: str, name: str = "bhavcopy.csv") -> BhavcopyDay:
    """Validate one bhavcopy's text and return its kept rows as store frames (see the module doc)."""
    layout, df = _read_cells(text, name)
    problems = Problems(name, np.arange(2, len(df) + 2))
    if layout.name == OLD and "" in df.columns:
        problems.flag(
            (df[""] != "").to_numpy(), lambda r: f"the 16th column must be empty, found {df[''].iat[r]!r}"
        )
    rows = _Rows(df, layout)
    session = _check_one_day(rows, problems)
    _check_contracts(rows, problems, session)
    values = _check_numbers(rows, problems)
    _check_duplicates(rows, problems)
    problems.raise_first()
    if not rows.keep.any():
        raise ImportFileError(
            name,
            None,
            "no index option or future of "
            + ", ".join(contracts.INDICES)
            + " in the file: nothing to import",
        )
    _check_coverage(rows, session, name)
    out = BhavcopyDay(
        name=name, layout=layout.name, session=session, rows=len(df), skipped=int((~rows.keep).sum())
    )
    _store_frames(rows, _units(rows, values), out)
    return out


def _read_cells(text: str, name: str) -> tuple[_Layout, pd.DataFrame]:
    """The layout (from the header) and every data cell, stripped; a wrong field count is refused."""
    lines = split_lines(text, name)
    header = [h.strip() for h in lines[0].split(",")]
    layout, n = _detect(header, name)
    for i, line in enumerate(lines[1:], start=2):
        found = line.count(",") + 1
        if found != n:
            trailing = " (every line of the older layout ends with a comma)" if layout.name == OLD else ""
            raise ImportFileError(name, i, f"expected {n} fields, found {found}{trailing}")
    if len(lines) == 1:
        raise ImportFileError(name, 2, "no data rows")
    cells = np.array([line.split(",") for line in lines[1:]], dtype=object)
    df = pd.DataFrame(cells, columns=header if layout.name == UDIFF else [*OLD_COLUMNS, ""][:n])
    return layout, df.apply(lambda column: column.str.strip())


class _Rows:
    """The columns every check reads, as arrays aligned with the data rows."""

    def __init__(self, df: pd.DataFrame, layout: _Layout) -> None:
        self.df, self.layout = df, layout
        self.instrument = df[layout.instrument].to_numpy(dtype=str)
        self.symbol = df[layout.symbol].str.upper().to_numpy(dtype=str)
        self.keep = np.isin(self.instrument, [layout.option, layout.future]) & np.isin(
            self.symbol, list(contracts.INDICES)
        )
        self.is_option = self.keep & (self.instrument == layout.option)
        self.is_future = self.keep & (self.instrument == layout.future)
        expiry_column = df[layout.expiry]
        if layout.name == UDIFF:  # the actual expiry when the exchange moved it (a holiday)
            actual = df["FininstrmActlXpryDt"]
            expiry_column = actual.where(actual != "", expiry_column)
        self.expiry_text = expiry_column.to_numpy(dtype=object)
        self.expiry = _parse_dates(self.expiry_text, layout.date_format)
        self.option_type = df[layout.option_type].str.upper().to_numpy(dtype=str)
        self.strike_text = df[layout.strike]
        self.strike = pd.to_numeric(self.strike_text, errors="coerce").to_numpy(dtype=float)


def _check_one_day(rows: _Rows, problems: Problems) -> date | None:
    """Every row's trade date parses and is the first row's: one trading day per file."""
    layout = rows.layout
    day_text = rows.df[layout.trade_date].to_numpy(dtype=object)
    days = _parse_dates(day_text, layout.date_format)
    example = "05-JAN-2024" if layout.name == OLD else "2024-07-08"
    problems.flag(
        np.array([d is None for d in days]),
        lambda r: f"{layout.trade_date} {day_text[r]!r} is not a date like {example}",
    )
    session = days[0]
    problems.flag(
        np.array([d is not None and session is not None and d != session for d in days]),
        lambda r: (
            f"{layout.trade_date} {day_text[r]} differs from {day_text[0]} on line 2: a bhavcopy holds one day"
        ),
    )
    return session


def _check_contracts(rows: _Rows, problems: Problems, session: date | None) -> None:
    """Expiry a date not before the session; option type CE/PE (futures: the layout's marker);
    strike positive for options, 0 or empty for futures."""
    layout, df, keep = rows.layout, rows.df, rows.keep
    bad_expiry = keep & np.array([e is None for e in rows.expiry])
    problems.flag(bad_expiry, lambda r: f"{layout.expiry} {rows.expiry_text[r]!r} is not a date")
    past = (
        keep
        & ~bad_expiry
        & np.array([e is not None and session is not None and e < session for e in rows.expiry])
    )
    problems.flag(past, lambda r: f"expiry {rows.expiry[r]} is before the trade date {session}")
    problems.flag(
        rows.is_option & ~np.isin(rows.option_type, ["CE", "PE"]),
        lambda r: f"{layout.option_type} {df[layout.option_type].iat[r]!r} of an option row is not CE or PE",
    )
    future_type = repr(layout.future_type) if layout.future_type else "empty"
    problems.flag(
        rows.is_future & (rows.option_type != layout.future_type),
        lambda r: (
            f"{layout.option_type} {df[layout.option_type].iat[r]!r} of a future row should be {future_type}"
        ),
    )
    problems.flag(
        rows.is_option & ~(rows.strike > 0),
        lambda r: f"{layout.strike} {rows.strike_text.iat[r]!r} is not a positive number",
    )
    problems.flag(
        rows.is_future & ~((rows.strike_text == "").to_numpy() | (rows.strike == 0)),
        lambda r: f"{layout.strike} {rows.strike_text.iat[r]!r} of a future row should be 0 or empty",
    )


def _check_numbers(rows: _Rows, problems: Problems) -> dict[str, np.ndarray]:
    """The layout's number columns (NaN where empty): finite where given or required, not negative
    unless signed, high and low around open and close on a traded row."""
    values: dict[str, np.ndarray] = {}
    for column, source in rows.layout.numbers.items():
        raw = rows.df[source]
        number = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
        empty = (raw == "").to_numpy()
        bad = rows.keep & ~np.isfinite(number) & (~empty | (column in rows.layout.required))
        problems.flag(
            bad,
            lambda r, raw=raw, source=source: (
                f"{source}: {raw.iat[r]!r} is not a number" if raw.iat[r] else f"{source}: missing value"
            ),
        )
        if column not in rows.layout.signed:
            problems.flag(
                rows.keep & (number < 0),
                lambda r, raw=raw, source=source: f"{source}: {raw.iat[r]} is negative",
            )
        values[column] = np.where(np.isfinite(number), number, np.nan)
    high, low, open_, close = (values[k] for k in ("high", "low", "open", "close"))
    traded = rows.keep & (open_ > 0) & (high > 0) & (low > 0) & (close > 0)
    problems.flag(
        traded & (high < np.maximum(open_, close)),
        lambda r: f"high {high[r]:g} is below the open {open_[r]:g} or the close {close[r]:g}",
    )
    problems.flag(
        traded & (low > np.minimum(open_, close)),
        lambda r: f"low {low[r]:g} is above the open {open_[r]:g} or the close {close[r]:g}",
    )
    return values


def _check_duplicates(rows: _Rows, problems: Problems) -> None:
    """The same contract twice: the second line is refused, naming the first."""
    contract = pd.DataFrame(
        {
            "instrument": rows.instrument,
            "symbol": rows.symbol,
            "expiry": rows.expiry,
            "strike": np.where(rows.is_option, rows.strike, 0.0),
            "type": np.where(rows.is_option, rows.option_type, ""),
        }
    )[rows.keep]
    duplicates = contract.index[contract.duplicated(keep="first")].to_numpy()
    if not duplicates.size:
        return
    group = contract.groupby(list(contract.columns), sort=False).ngroup()
    first_row = contract.index[(group == group.loc[duplicates[0]]).to_numpy()][0]
    mask = np.zeros(len(rows.df), dtype=bool)
    mask[duplicates[0]] = True

    def reason(r: int) -> str:
        what = f"{rows.symbol[r]} {rows.instrument[r]} {rows.expiry[r]}"
        if rows.is_option[r]:
            what += f" {rows.strike[r]:g} {rows.option_type[r]}"
        return f"repeats line {first_row + 2} ({what})"

    problems.flag(mask, reason)


def _check_coverage(rows: _Rows, session: date, name: str) -> None:
    """The session and every expiry kept lie inside the dated lot, charge and holiday tables."""
    for index in sorted({str(s) for s in rows.symbol[rows.keep]}):
        why = coverage.session_problem(index, session)
        if why:
            raise CoverageError(name, None, why)
        for expiry in sorted({rows.expiry[r] for r in np.flatnonzero(rows.keep & (rows.symbol == index))}):
            why = coverage.expiry_problem(index, expiry)
            if why:
                raise CoverageError(name, None, why)


def _units(rows: _Rows, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Turnover in rupees and volume in units (older layout: lakhs and contracts x the lot)."""
    if rows.layout.name == OLD:
        values["turnover"] = values["turnover"] * 100_000.0
        lots = np.array(
            [
                contracts.lot_size(symbol, expiry) if kept else np.nan
                for symbol, expiry, kept in zip(rows.symbol, rows.expiry, rows.keep, strict=True)
            ],
            dtype=float,
        )
        values["volume"] = values["contracts"] * lots
    else:
        lot = values["lot"]
        values["contracts"] = np.where(lot > 0, values["volume"] / np.where(lot > 0, lot, 1.0), np.nan)
    return values


def _store_frames(rows: _Rows, values: dict[str, np.ndarray], out: BhavcopyDay) -> None:
    """The kept rows as chain_eod (options) and future_eod (futures) frames per index."""
    nan = np.full(len(rows.df), np.nan)
    eod_columns = [c for c in KINDS["chain_eod"].columns if c not in ("expiry", "strike", "option_type")]
    for index in sorted({str(s) for s in rows.symbol[rows.keep]}):
        for mask, target in ((rows.is_option, out.chains), (rows.is_future, out.futures)):
            selected = np.flatnonzero(mask & (rows.symbol == index))
            if not selected.size:
                continue
            frame = {"expiry": rows.expiry[selected]}
            if target is out.chains:
                frame["strike"] = rows.strike[selected]
                frame["option_type"] = rows.option_type[selected]
            for column in eod_columns:
                if column == "layout":
                    frame[column] = np.full(selected.size, rows.layout.name, dtype=object)
                else:
                    frame[column] = values.get(column, nan)[selected]
            target[index] = pd.DataFrame(frame)
