"""Parsing of files imported into the journal: pure functions, no database.

Two kinds of file are understood, told apart by their header:

``zerodha``
    Zerodha Console's F&O tradebook (DOMAIN.md section 6), one row per exchange fill::

        symbol,isin,trade_date,exchange,segment,series,trade_type,auction,quantity,price,
        trade_id,order_id,order_execution_time,expiry_date

    Fills are paired into round trips **FIFO per tradingsymbol**: the fills are taken in execution
    order; a fill in the direction of the open position adds to its queue, a fill against it closes
    the oldest open quantity first, splitting fills as needed (a partial fill closes part of a lot of
    the queue, the rest stays open; a closing fill larger than the position closes it and opens the
    opposite side with the remainder). A position opened by a sell is SHORT. Each matched piece
    (open fill, close fill, quantity) belongs to a *cycle* (flat -> flat). Pieces of one cycle with
    the same entry price and the same exit price are one trade: the Trade model holds one entry and
    one exit price, and an average of different fill prices would fall off the 0.05 tick and change
    the gross P&L. So the common case - one order filled in several exchange trades at one price -
    is one trade; fills at different prices make one trade per price pair.

    Brokerage is charged per executed order: a trade's ``entry_orders``/``exit_orders`` are the
    distinct order ids among its entry/exit fills. An order whose fills end up in two trades (two
    price pairs) is charged in both, which overstates brokerage by one order's worth for that trade;
    the contract note charges it once.

    Every trade is LIVE on KITE data, strategy ``MANUAL``, tagged ``zerodha``, and its ``trade_id``
    is ``ZT-`` + the first 20 hex digits of the SHA-256 of its tradingsymbol, prices and the fills it
    used (``fill id:quantity``), so the same fills always make the same trade id and importing them
    twice adds nothing. Quantity still open at the end of the file is reported, never imported
    (an option that expired worthless has no closing fill in the tradebook: enter it by hand with exit
    type EXPIRY). Rows of futures (``...FUT``) are skipped with a notice; any other row that does not
    parse is an error.

``journal``
    The journal's own CSV, as the export writes it (the API's column names). Only the raw facts are
    read (``journal.derive.RAW_FIELDS``); every derived column (charges, P&L, R-multiple...) is
    recomputed by ``derive_trade`` when the trade is imported, and a file value that disagrees with
    the recomputed one is reported as a notice. The quote the export put before a cell a spreadsheet
    would run as a formula is removed (``journal.spreadsheet``); free text is kept as written. Links to rows of another installation (``signal_id``,
    ``backtest_run_id``) are dropped. A naive date-time is read as IST. A row without a trade_id gets
    ``JC-`` + a hash of its raw values.

Line numbers are those of the file as a text editor shows them (the header is line 1).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from journal import spreadsheet
from trading.core import contracts

IST = ZoneInfo("Asia/Kolkata")
TICK = Decimal("0.05")

ZERODHA = "zerodha"
JOURNAL = "journal"

ZERODHA_HEADER = (
    "symbol",
    "isin",
    "trade_date",
    "exchange",
    "segment",
    "series",
    "trade_type",
    "auction",
    "quantity",
    "price",
    "trade_id",
    "order_id",
    "order_execution_time",
    "expiry_date",
)
ZERODHA_REQUIRED = (
    "symbol",
    "trade_type",
    "quantity",
    "price",
    "trade_id",
    "order_id",
    "order_execution_time",
)
ZERODHA_STRATEGY = "MANUAL"
ZERODHA_TAG = "zerodha"

# Raw facts the journal CSV may carry (derive_trade's RAW_FIELDS less links to other rows).
_JOURNAL_DROP = frozenset({"signal", "signal_id", "backtest_run", "backtest_run_id"})
_DATETIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%d-%m-%Y %H:%M:%S",
    "%d/%m/%Y %H:%M:%S",
    "%d-%m-%Y %H:%M",
    "%d/%m/%Y %H:%M",
)
_DATE_FORMATS = ("%Y-%m-%d", "%d-%m-%Y", "%d/%m/%Y")


class ImportFileError(ValueError):
    """The file as a whole cannot be read (encoding, header)."""


@dataclass(frozen=True)
class RowError:
    """A line of the file that cannot be imported, and why."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass(frozen=True)
class Fill:
    """One executed fill of the tradebook (quantity in units, price in rupees)."""

    line: int
    fill_id: str
    order_id: str
    tradingsymbol: str
    index: str
    exchange: str
    instrument_type: str  # CALL or PUT
    strike: Decimal
    expiry: date
    buy: bool
    quantity: int
    price: Decimal
    time: datetime


@dataclass
class ParsedTrade:
    """The raw facts of one trade for ``record_trade``, and the lines of the file it came from."""

    raw: dict
    lines: tuple[int, ...]
    fills: tuple[str, ...] = ()
    file_values: dict = field(default_factory=dict)


@dataclass(frozen=True)
class OpenQuantity:
    """Quantity of a tradingsymbol still open at the end of the file (reported, not imported)."""

    tradingsymbol: str
    side: str  # LONG or SHORT
    quantity: int
    expiry: date
    lines: tuple[int, ...]


@dataclass
class ParseResult:
    """What a file holds: its kind, its trades, what is wrong with it, and what is left open."""

    kind: str
    trades: list[ParsedTrade] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    open_positions: list[OpenQuantity] = field(default_factory=list)
    rows: int = 0


def sha256_of(content: bytes) -> str:
    """Hex SHA-256 of the file's bytes: the file's identity in ``ImportBatch``."""
    return hashlib.sha256(content).hexdigest()


def decode(content: bytes) -> str:
    """The file's text (UTF-8, with or without a byte-order mark). Raises ImportFileError."""
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"the file is not UTF-8 text (byte {exc.start}): save it as CSV UTF-8") from exc


def _header(text: str) -> list[str]:
    first = next(csv.reader(io.StringIO(text)), None)
    if not first:
        raise ImportFileError("the file is empty")
    return [h.strip().lower() for h in first]


def _data_rows(reader: csv.DictReader, result: ParseResult, header: list[str]):
    """(line number, row) of each non-blank data row; a row with more fields than the header is an
    error of ``result`` and skipped. Counts the rows in ``result.rows``."""
    start = 2
    for row in reader:
        line = start
        start = reader.line_num + 1
        if not any((v or "").strip() for k, v in row.items() if k is not None):
            continue
        result.rows += 1
        if None in row:
            fields = len(header) + len(row[None])
            result.errors.append(RowError(line, f"{fields} fields, the header has {len(header)}"))
            continue
        yield line, row


def detect_kind(text: str) -> str:
    """``zerodha`` or ``journal`` from the header line; ImportFileError for anything else."""
    header = set(_header(text))
    if {"symbol", "trade_type"} <= header:
        return ZERODHA
    if {"entry_price", "exit_price", "entry_time", "exit_time"} <= header:
        return JOURNAL
    raise ImportFileError(
        "line 1: unrecognised header: expected Zerodha Console's tradebook "
        f"({','.join(ZERODHA_HEADER)}) or the journal's own CSV export"
    )


def parse_file(content: bytes, *, raw_fields: tuple[str, ...] = ()) -> ParseResult:
    """Parse an uploaded file of either kind. Raises ImportFileError when it cannot be read at all;
    row-level problems are collected in ``errors`` with their line numbers."""
    text = decode(content)
    kind = detect_kind(text)
    if kind == ZERODHA:
        return parse_zerodha_tradebook(text)
    return parse_journal_csv(text, raw_fields=raw_fields)


# --- Zerodha Console tradebook ----------------------------------------------------------------------


def _parse_time(value: str) -> datetime:
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = None
        for fmt in _DATETIME_FORMATS:
            try:
                parsed = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
        if parsed is None:
            raise ValueError(
                f"order_execution_time {value!r} is not a date-time (YYYY-MM-DD HH:MM:SS)"
            ) from None
    # Console writes exchange time in IST without an offset.
    return parsed.replace(tzinfo=IST) if parsed.tzinfo is None else parsed


def _parse_date(name: str, value: str) -> date:
    text = value.strip()
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"{name} {value!r} is not a date (YYYY-MM-DD)")


def _parse_quantity(value: str) -> int:
    try:
        q = Decimal(value.strip())
    except InvalidOperation:
        raise ValueError(f"quantity {value!r} is not a number") from None
    if not q.is_finite() or q != q.to_integral_value():
        raise ValueError(f"quantity {value!r} is not a whole number")
    if q <= 0:
        raise ValueError(f"quantity {value!r} must be positive")
    return int(q)


def _parse_price(value: str) -> Decimal:
    try:
        p = Decimal(value.strip())
    except InvalidOperation:
        raise ValueError(f"price {value!r} is not a number") from None
    if not p.is_finite() or p <= 0:
        raise ValueError(f"price {value!r} must be a positive number")
    if p % TICK:
        raise ValueError(f"price {value!r} is off the 0.05 tick")
    return p


def _zerodha_fill(row: dict, line: int) -> Fill | None:
    """One tradebook row as a Fill; None for a futures row (skipped). Raises ValueError with the reason."""
    for name in ZERODHA_REQUIRED:
        if not (row.get(name) or "").strip():
            raise ValueError(f"{name} is empty")
    symbol = row["symbol"].strip().upper()
    if symbol.endswith("FUT") or (row.get("series") or "").strip().upper().startswith("FUT"):
        return None
    try:
        parsed = contracts.parse_tradingsymbol(symbol)
    except ValueError as exc:
        raise ValueError(str(exc)) from None
    expiry = parsed.expiry
    if (row.get("expiry_date") or "").strip():
        stated = _parse_date("expiry_date", row["expiry_date"])
        if (stated.year, stated.month) != (expiry.year, expiry.month):
            raise ValueError(f"expiry_date {stated} disagrees with the symbol {symbol} (expiry {expiry})")
        # The tradebook's date is the exchange's (holiday shifts included): it wins over the computed one.
        expiry = stated
    trade_type = row["trade_type"].strip().lower()
    if trade_type not in ("buy", "sell"):
        raise ValueError(f"trade_type {row['trade_type']!r}: expected buy or sell")
    quantity = _parse_quantity(row["quantity"])
    lot = contracts.lot_size(parsed.index, expiry)
    if quantity % lot:
        raise ValueError(f"quantity {quantity} is not a whole number of {parsed.index} lots of {lot}")
    price = _parse_price(row["price"])
    time = _parse_time(row["order_execution_time"])
    if (row.get("trade_date") or "").strip():
        day = _parse_date("trade_date", row["trade_date"])
        if day != time.astimezone(IST).date():
            raise ValueError(
                f"trade_date {day} disagrees with order_execution_time {row['order_execution_time'].strip()}"
            )
    exchange = (row.get("exchange") or "").strip().upper() or contracts.INDICES[parsed.index].fo_exchange
    return Fill(
        line=line,
        fill_id=row["trade_id"].strip(),
        order_id=row["order_id"].strip(),
        tradingsymbol=symbol,
        index=parsed.index,
        exchange=exchange,
        instrument_type="CALL" if parsed.option_type == contracts.CALL else "PUT",
        strike=parsed.strike,
        expiry=expiry,
        buy=trade_type == "buy",
        quantity=quantity,
        price=price,
        time=time,
    )


@dataclass
class _Piece:
    """A matched quantity: part of an opening fill closed by part of a closing fill."""

    cycle: int
    side: str
    opening: Fill
    closing: Fill
    quantity: int


def pair_fills(fills: list[Fill]) -> tuple[list[_Piece], list[OpenQuantity]]:
    """FIFO-match the fills of one tradingsymbol (already in execution order): the matched pieces
    and the quantity left open at the end."""
    pieces: list[_Piece] = []
    queue: deque[list] = deque()  # [fill, remaining quantity] of the open side
    side = ""
    cycle = 0
    for fill in fills:
        remaining = fill.quantity
        opening_buy = side == "LONG"
        if queue and fill.buy != opening_buy:
            while remaining and queue:
                head = queue[0]
                matched = min(head[1], remaining)
                pieces.append(_Piece(cycle, side, head[0], fill, matched))
                head[1] -= matched
                remaining -= matched
                if head[1] == 0:
                    queue.popleft()
        if remaining:
            if not queue:
                cycle += 1
                side = "LONG" if fill.buy else "SHORT"
            queue.append([fill, remaining])
    left: list[OpenQuantity] = []
    if queue:
        qty = sum(q for _, q in queue)
        first = queue[0][0]
        left.append(
            OpenQuantity(first.tradingsymbol, side, qty, first.expiry, tuple(f.line for f, _ in queue))
        )
    return pieces, left


def zerodha_trade_id(
    tradingsymbol: str, entry_price: Decimal, exit_price: Decimal, used: list[tuple[str, int]]
) -> str:
    """``ZT-`` + 20 hex digits of SHA-256 over the symbol, the price pair and the fills used."""
    key = "|".join(
        [tradingsymbol, str(entry_price), str(exit_price)] + [f"{fid}:{qty}" for fid, qty in sorted(used)]
    )
    return "ZT-" + hashlib.sha256(key.encode()).hexdigest()[:20]


def _trades_of_pieces(pieces: list[_Piece]) -> list[ParsedTrade]:
    groups: OrderedDict[tuple, list[_Piece]] = OrderedDict()
    for piece in pieces:
        groups.setdefault((piece.cycle, piece.opening.price, piece.closing.price), []).append(piece)
    trades = []
    for (_cycle, entry_price, exit_price), group in groups.items():
        first = group[0]
        used: dict[str, int] = {}
        for p in group:
            used[p.opening.fill_id] = used.get(p.opening.fill_id, 0) + p.quantity
            used[p.closing.fill_id] = used.get(p.closing.fill_id, 0) + p.quantity
        entry_orders = list(
            OrderedDict.fromkeys(p.opening.order_id for p in sorted(group, key=lambda p: p.opening.time))
        )
        exit_orders = list(
            OrderedDict.fromkeys(p.closing.order_id for p in sorted(group, key=lambda p: p.closing.time))
        )
        lines = sorted({p.opening.line for p in group} | {p.closing.line for p in group})
        quantity = sum(p.quantity for p in group)
        raw = {
            "trade_id": zerodha_trade_id(
                first.opening.tradingsymbol, entry_price, exit_price, list(used.items())
            ),
            "symbol": first.opening.index,
            "tradingsymbol": first.opening.tradingsymbol,
            "exchange": first.opening.exchange,
            "instrument_type": first.opening.instrument_type,
            "strike_price": first.opening.strike,
            "expiry_date": first.opening.expiry,
            "side": first.side,
            "entry_time": min(p.opening.time for p in group),
            "exit_time": max(p.closing.time for p in group),
            "entry_price": entry_price,
            "exit_price": exit_price,
            "quantity": quantity,
            "entry_mode": "LIVE",
            "data_source": "KITE",
            "exit_type": "MANUAL",
            "strategy_name": ZERODHA_STRATEGY,
            "entry_orders": len(entry_orders),
            "exit_orders": len(exit_orders),
            "entry_order_id": entry_orders[0][:64],
            "exit_order_id": exit_orders[0][:64],
            "signal_reason": "Imported from a Zerodha Console tradebook",
            "tags": [ZERODHA_TAG],
        }
        trades.append(ParsedTrade(raw=raw, lines=tuple(lines), fills=tuple(sorted(used))))
    return trades


def parse_zerodha_tradebook(text: str) -> ParseResult:
    """Parse a Console tradebook and pair its fills into trades (see the module docstring)."""
    result = ParseResult(kind=ZERODHA)
    reader = csv.DictReader(io.StringIO(text))
    header = [(h or "").strip().lower() for h in (reader.fieldnames or [])]
    missing = [h for h in ZERODHA_REQUIRED if h not in header]
    if missing:
        result.errors.append(RowError(1, f"missing column(s): {', '.join(missing)}"))
        return result
    reader.fieldnames = header
    fills: list[Fill] = []
    seen: dict[str, int] = {}
    futures = 0
    for line, row in _data_rows(reader, result, header):
        try:
            fill = _zerodha_fill(row, line)
        except ValueError as exc:
            result.errors.append(RowError(line, str(exc)))
            continue
        if fill is None:
            futures += 1
            continue
        if fill.fill_id in seen:
            result.errors.append(
                RowError(line, f"trade_id {fill.fill_id} appears twice (also line {seen[fill.fill_id]})")
            )
            continue
        seen[fill.fill_id] = line
        fills.append(fill)
    if futures:
        result.notices.append(f"{futures} futures row(s) skipped: only index options are journalled")
    if result.errors:
        return result
    by_symbol: OrderedDict[str, list[Fill]] = OrderedDict()
    for fill in sorted(fills, key=lambda f: (f.time, f.line)):
        by_symbol.setdefault(fill.tradingsymbol, []).append(fill)
    for symbol_fills in by_symbol.values():
        pieces, left = pair_fills(symbol_fills)
        result.trades.extend(_trades_of_pieces(pieces))
        result.open_positions.extend(left)
    result.trades.sort(key=lambda t: (t.raw["exit_time"], t.raw["trade_id"]))
    return result


# --- The journal's own CSV --------------------------------------------------------------------------


# Free text kept exactly as written (no stripping), so that an export and its import agree.
_FREE_TEXT = frozenset({"notes", "signal_reason", "exit_reason"})


def _journal_value(name: str, value: str):
    # The export's formula escape, removed exactly (journal.spreadsheet).
    if name in _FREE_TEXT:
        return spreadsheet.unescape(value)
    text = spreadsheet.unescape(value.strip())
    if name == "entry_features":
        try:
            features = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"entry_features is not JSON: {exc.msg}") from None
        if not isinstance(features, dict):
            raise ValueError("entry_features must be a JSON object")
        return features
    if name == "tags":
        if text.startswith("["):
            try:
                return [str(t) for t in json.loads(text)]
            except json.JSONDecodeError as exc:
                raise ValueError(f"tags is not a JSON list: {exc.msg}") from None
        return [t for t in text.replace(";", ",").replace("|", ",").split(",") if t.strip()]
    if name in ("entry_time", "exit_time"):
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            try:
                parsed = _parse_time(text)
            except ValueError:
                raise ValueError(f"{name} {value!r} is not a date-time") from None
        return parsed.replace(tzinfo=IST) if parsed.tzinfo is None else parsed
    return text


def parse_journal_csv(text: str, *, raw_fields: tuple[str, ...] = ()) -> ParseResult:
    """Read the journal's CSV: one trade per row, raw facts only (see the module docstring).

    ``raw_fields`` are the columns taken as raw facts (``journal.derive.RAW_FIELDS``); every other
    column is kept in ``file_values`` so the caller can compare it with the re-derived value.
    """
    result = ParseResult(kind=JOURNAL)
    reader = csv.DictReader(io.StringIO(text))
    header = [(h or "").strip() for h in (reader.fieldnames or [])]
    reader.fieldnames = header
    wanted = [h for h in header if h in raw_fields and h not in _JOURNAL_DROP]
    if "entry_time" not in wanted:
        result.errors.append(RowError(1, "missing column(s): entry_time, exit_time, entry_price, ..."))
        return result
    seen: dict[str, int] = {}
    for line, row in _data_rows(reader, result, header):
        raw: dict = {}
        try:
            for name in wanted:
                value = row.get(name)
                if value is None or not value.strip():
                    continue
                raw[name] = _journal_value(name, value)
        except ValueError as exc:
            result.errors.append(RowError(line, str(exc)))
            continue
        if not raw.get("trade_id"):
            key = json.dumps({k: str(v) for k, v in sorted(raw.items())}, sort_keys=True)
            raw["trade_id"] = "JC-" + hashlib.sha256(key.encode()).hexdigest()[:20]
        if raw["trade_id"] in seen:
            result.errors.append(
                RowError(
                    line, f"trade_id {raw['trade_id']} appears twice (also line {seen[raw['trade_id']]})"
                )
            )
            continue
        seen[raw["trade_id"]] = line
        file_values = {k: v for k, v in row.items() if k not in wanted and v not in (None, "")}
        result.trades.append(ParsedTrade(raw=raw, lines=(line,), file_values=file_values))
    return result
