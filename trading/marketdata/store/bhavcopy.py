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
    df = df.apply(lambda c: c.str.strip())
    line_no = np.arange(2, len(df) + 2)
    problems = Problems(name, line_no)
    if layout.name == OLD and n == 16:
        problems.flag(
            (df[""] != "").to_numpy(), lambda r: f"the 16th column must be empty, found {df[''].iat[r]!r}"
        )

    # One trading day per file.
    day_text = df[layout.trade_date].to_numpy(dtype=object)
    days = _parse_dates(day_text, layout.date_format)
    problems.flag(
        np.array([d is None for d in days]),
        lambda r: (
            f"{layout.trade_date} {day_text[r]!r} is not a date like "
            + ("05-JAN-2024" if layout.name == OLD else "2024-07-08")
        ),
    )
    session = days[0]
    problems.flag(
        np.array([d is not None and session is not None and d != session for d in days]),
        lambda r: (
            f"{layout.trade_date} {day_text[r]} differs from {day_text[0]} on line 2: a bhavcopy holds one day"
        ),
    )

    instrument = df[layout.instrument].to_numpy(dtype=str)
    symbol = df[layout.symbol].str.upper().to_numpy(dtype=str)
    keep = np.isin(instrument, [layout.option, layout.future]) & np.isin(symbol, list(contracts.INDICES))
    is_option = keep & (instrument == layout.option)
    is_future = keep & (instrument == layout.future)

    expiry_col = df[layout.expiry]
    if layout.name == UDIFF:  # the actual expiry when the exchange moved it (a holiday)
        actual = df["FininstrmActlXpryDt"]
        expiry_col = actual.where(actual != "", expiry_col)
    expiry_text = expiry_col.to_numpy(dtype=object)
    expiry = _parse_dates(expiry_text, layout.date_format)
    bad_expiry = keep & np.array([e is None for e in expiry])
    problems.flag(bad_expiry, lambda r: f"{layout.expiry} {expiry_text[r]!r} is not a date")
    past = (
        keep & ~bad_expiry & np.array([e is not None and session is not None and e < session for e in expiry])
    )
    problems.flag(past, lambda r: f"expiry {expiry[r]} is before the trade date {session}")

    option_type = df[layout.option_type].str.upper().to_numpy(dtype=str)
    problems.flag(
        is_option & ~np.isin(option_type, ["CE", "PE"]),
        lambda r: f"{layout.option_type} {df[layout.option_type].iat[r]!r} of an option row is not CE or PE",
    )
    problems.flag(
        is_future & (option_type != layout.future_type),
        lambda r: (
            f"{layout.option_type} {df[layout.option_type].iat[r]!r} of a future row should be "
            + (repr(layout.future_type) if layout.future_type else "empty")
        ),
    )
    strike_text = df[layout.strike]
    strike = pd.to_numeric(strike_text, errors="coerce").to_numpy(dtype=float)
    problems.flag(
        is_option & ~(strike > 0),
        lambda r: f"{layout.strike} {strike_text.iat[r]!r} is not a positive number",
    )
    problems.flag(
        is_future & ~((strike_text == "").to_numpy() | (strike == 0)),
        lambda r: f"{layout.strike} {strike_text.iat[r]!r} of a future row should be 0 or empty",
    )

    values: dict[str, np.ndarray] = {}
    for column, source in layout.numbers.items():
        raw = df[source]
        number = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
        empty = (raw == "").to_numpy()
        required = column in layout.required
        bad = keep & ~np.isfinite(number) & (~empty | required)
        problems.flag(
            bad,
            lambda r, raw=raw, source=source: (
                f"{source}: {raw.iat[r]!r} is not a number" if raw.iat[r] else f"{source}: missing value"
            ),
        )
        if column not in layout.signed:
            problems.flag(
                keep & (number < 0), lambda r, raw=raw, source=source: f"{source}: {raw.iat[r]} is negative"
            )
        values[column] = np.where(np.isfinite(number), number, np.nan)
    o, h, lo, c = (values[k] for k in ("open", "high", "low", "close"))
    traded = keep & (o > 0) & (h > 0) & (lo > 0) & (c > 0)
    problems.flag(
        traded & (h < np.maximum(o, c)),
        lambda r: f"high {h[r]:g} is below the open {o[r]:g} or the close {c[r]:g}",
    )
    problems.flag(
        traded & (lo > np.minimum(o, c)),
        lambda r: f"low {lo[r]:g} is above the open {o[r]:g} or the close {c[r]:g}",
    )

    # The same contract twice.
    contract = pd.DataFrame(
        {
            "instrument": instrument,
            "symbol": symbol,
            "expiry": expiry,
            "strike": np.where(is_option, strike, 0.0),
            "type": np.where(is_option, option_type, ""),
        }
    )[keep]
    first_of = contract.groupby(list(contract.columns), sort=False).ngroup()
    dup_rows = contract.index[contract.duplicated(keep="first")].to_numpy()
    if dup_rows.size:
        first_row = contract.index[(first_of == first_of.loc[dup_rows[0]]).to_numpy()][0]
        mask = np.zeros(len(df), dtype=bool)
        mask[dup_rows[0]] = True
        problems.flag(
            mask,
            lambda r: (
                f"repeats line {first_row + 2} ({symbol[r]} {instrument[r]} {expiry[r]}"
                + (f" {strike[r]:g} {option_type[r]}" if is_option[r] else "")
                + ")"
            ),
        )
    problems.raise_first()
    if not keep.any():
        raise ImportFileError(
            name,
            None,
            "no index option or future of "
            + ", ".join(contracts.INDICES)
            + " in the file: nothing to import",
        )

    out = BhavcopyDay(
        name=name, layout=layout.name, session=session, rows=len(df), skipped=int((~keep).sum())
    )
    for index in sorted({str(s) for s in symbol[keep]}):
        why = coverage.session_problem(index, session)
        if why:
            raise CoverageError(name, None, why)
        for exp in sorted({expiry[r] for r in np.flatnonzero(keep & (symbol == index))}):
            why = coverage.expiry_problem(index, exp)
            if why:
                raise CoverageError(name, None, why)

    if layout.name == OLD:
        values["turnover"] = values["turnover"] * 100_000.0  # lakhs -> rupees
        lots = np.array(
            [contracts.lot_size(s, e) if k else np.nan for s, e, k in zip(symbol, expiry, keep, strict=True)],
            dtype=float,
        )
        values["volume"] = values["contracts"] * lots
    else:
        lot = values["lot"]
        values["contracts"] = np.where(lot > 0, values["volume"] / np.where(lot > 0, lot, 1.0), np.nan)
    nan = np.full(len(df), np.nan)
    eod_columns = [c for c in KINDS["chain_eod"].columns if c not in ("expiry", "strike", "option_type")]
    for index in sorted({str(s) for s in symbol[keep]}):
        for mask, target in ((is_option, out.chains), (is_future, out.futures)):
            rows = np.flatnonzero(mask & (symbol == index))
            if not rows.size:
                continue
            frame = {"expiry": expiry[rows]}
            if target is out.chains:
                frame["strike"] = strike[rows]
                frame["option_type"] = option_type[rows]
            for column in eod_columns:
                if column == "layout":
                    frame[column] = np.full(rows.size, layout.name, dtype=object)
                else:
                    frame[column] = values.get(column, nan)[rows]
            target[index] = pd.DataFrame(frame)
    return out
