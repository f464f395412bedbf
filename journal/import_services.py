"""Importing files into the journal: preview (validate everything, save nothing) and commit (all the
file's new trades in one transaction, or none).

The flow of the import page:

1. ``stash_upload`` keeps the uploaded bytes under ``VAR_DIR/imports/<sha256>.csv`` (the preview
   and the confirmation are two requests; the session only carries the hash);
2. ``import_preview`` parses the file (``journal.importers``) and derives every trade exactly as
   ``record_trade`` would (``derive_trade``), so the preview shows the net P&L that will be stored;
3. ``import_commit`` re-validates the stashed file and writes it: an ``ImportBatch`` row with the
   file's SHA-256 and every trade through ``record_trade``, in one transaction. A file with any bad
   row imports nothing; a file imported before (same SHA-256) adds nothing; a trade whose trade_id is
   already in the journal is left as it is.

A tradebook's legs opened together on one index are grouped into combos
(``combo_grouping.group_combos``, window ``JOURNAL_COMBO_WINDOW_SECONDS`` or the user's), or as the user
regrouped them on the preview (``check_combos``); the commit stores each combo
(``journal.combos.combo_record``: id ``ZC-`` + a hash of its legs' trade ids, maximum profit/loss
and breakevens on the entry prices) in the same transaction, its legs linked by ``combo_id`` and its
totals summed from them.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from journal import combo_grouping, importers
from journal.combos import combo_record, combo_refresh_totals
from journal.derive import RAW_FIELDS, derive_trade
from journal.importers import ImportFileError, OpenQuantity, RowError
from journal.models import ImportBatch, Trade, TradeOrigin
from journal.services import record_trade
from trading import outbox
from trading.core import contracts
from trading.core.combos import CE, PE, PricedLeg
from trading.core.combos import breakevens as combo_breakevens
from trading.core.combos import extremes as combo_extremes

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
STASH_MAX_AGE_SECONDS = 24 * 3600
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
# Derived columns of the journal CSV compared with their re-derived values (a notice when they differ).
_COMPARED = ("net_pnl", "gross_pnl", "total_charges")


class ImportRejected(Exception):
    """The file cannot be imported; ``errors`` say where and why (nothing was saved)."""

    def __init__(self, errors: list[RowError]):
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


@dataclass
class PreviewTrade:
    """One trade of the file as it will be stored (every Trade field), its source lines, and the
    combo (1-based, None: a single leg) it is grouped into."""

    values: dict
    lines: tuple[int, ...]
    exists: bool = False
    combo: int | None = None

    @property
    def lines_text(self) -> str:
        return ", ".join(str(n) for n in self.lines)


@dataclass
class ImportPreview:
    """What importing a file would do. ``ok`` when it has no error (it may still add nothing)."""

    sha256: str
    filename: str
    kind: str = ""
    rows: int = 0
    trades: list[PreviewTrade] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    open_positions: list[OpenQuantity] = field(default_factory=list)
    already_imported: ImportBatch | None = None
    combo_window: int = 0  # seconds
    combos: list[list[str]] = field(default_factory=list)  # trade ids of each combo's legs

    @property
    def combo_numbers(self) -> list[int]:
        return list(range(1, len(self.combos) + 1))

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def new_trades(self) -> list[PreviewTrade]:
        return [t for t in self.trades if not t.exists]

    @property
    def net_pnl(self) -> Decimal:
        return sum((t.values["net_pnl"] for t in self.new_trades), Decimal("0.00"))

    @property
    def total_charges(self) -> Decimal:
        return sum((t.values["total_charges"] for t in self.new_trades), Decimal("0.00"))


@dataclass(frozen=True)
class ImportResult:
    """What an import did: the batch row and the number of trades it added."""

    batch: ImportBatch
    added: int
    already_imported: bool


# --- The uploaded file between preview and confirmation --------------------------------------------


def _stash_dir() -> Path:
    return Path(settings.VAR_DIR) / "imports"


def stash_upload(content: bytes) -> str:
    """Keep an uploaded file until it is confirmed; return its SHA-256 (the key to load it).

    Uploads previewed but never confirmed are removed after STASH_MAX_AGE_SECONDS."""
    sha = importers.sha256_of(content)
    folder = _stash_dir()
    folder.mkdir(parents=True, exist_ok=True)
    _prune(folder)
    path = folder / f"{sha}.csv"
    if not path.exists():
        tmp = folder / f".{sha}.tmp"
        tmp.write_bytes(content)
        tmp.replace(path)
    return sha


def _prune(folder: Path) -> None:
    cutoff = time.time() - STASH_MAX_AGE_SECONDS
    for path in folder.glob("*.csv"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
        except OSError:
            continue  # another request removed it first


def load_stash(sha256: str) -> bytes | None:
    """The stashed file of this hash, or None when it is not there (or was altered)."""
    if not _SHA_RE.match(sha256 or ""):
        return None
    path = _stash_dir() / f"{sha256}.csv"
    try:
        content = path.read_bytes()
    except OSError:
        return None
    return content if importers.sha256_of(content) == sha256 else None


def discard_stash(sha256: str) -> None:
    """Forget a stashed file (after its import)."""
    if _SHA_RE.match(sha256 or ""):
        (_stash_dir() / f"{sha256}.csv").unlink(missing_ok=True)


# --- Preview and commit ------------------------------------------------------------------------------


def _field_errors(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in exc.message_dict.items())
    return "; ".join(exc.messages)


def _line_of(lines: tuple[int, ...]) -> int:
    return lines[0] if lines else 0


def _reason_prefix(trade: importers.ParsedTrade, kind: str) -> str:
    if kind == importers.ZERODHA and len(trade.lines) > 1:
        return f"trade of lines {', '.join(map(str, trade.lines))}: "
    return ""


def combo_window_default() -> int:
    """Seconds within which legs opened on one underlying are one combo (``JOURNAL_COMBO_WINDOW_SECONDS``)."""
    return int(settings.JOURNAL_COMBO_WINDOW_SECONDS)


def import_preview(
    *,
    content: bytes,
    filename: str,
    now: datetime | None = None,
    combo_window: int | None = None,
    combos: list[list[str]] | None = None,
) -> ImportPreview:
    """Parse and validate a whole file without saving anything; see the module docstring. Times are
    checked against the calendar and ``now`` (default: the wall clock).

    A tradebook's legs are grouped into combos (``combo_grouping.group_combos``) with ``combo_window``
    seconds (default ``JOURNAL_COMBO_WINDOW_SECONDS``), or as ``combos`` says (trade ids of each
    combo's legs: the user's own grouping, checked by ``check_combos``)."""
    now = now or timezone.now()
    window = combo_window_default() if combo_window is None else combo_window
    preview = ImportPreview(sha256=importers.sha256_of(content), filename=filename, combo_window=window)
    if len(content) > MAX_UPLOAD_BYTES:
        preview.errors.append(RowError(0, f"the file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB"))
        return preview
    try:
        parsed = importers.parse_file(content, raw_fields=RAW_FIELDS)
    except ImportFileError as exc:
        preview.errors.append(RowError(1, str(exc).removeprefix("line 1: ")))
        return preview
    preview.kind = parsed.kind
    preview.rows = parsed.rows
    preview.errors.extend(parsed.errors)
    preview.notices.extend(parsed.notices)
    preview.open_positions = parsed.open_positions
    preview.already_imported = ImportBatch.objects.filter(sha256=preview.sha256).first()
    derived: list[PreviewTrade] = []
    for trade in parsed.trades:
        try:
            values = derive_trade(trade.raw, now=now)
        except ValidationError as exc:
            preview.errors.append(
                RowError(_line_of(trade.lines), _reason_prefix(trade, parsed.kind) + _field_errors(exc))
            )
            continue
        for name in _COMPARED:
            stated = trade.file_values.get(name)
            if stated not in (None, "") and _differs(stated, values[name]):
                preview.notices.append(
                    f"line {_line_of(trade.lines)}: {name} {stated} in the file, {values[name]} re-derived"
                )
        derived.append(PreviewTrade(values=values, lines=trade.lines))
    preview.errors.sort(key=lambda e: e.line)
    existing = set(
        Trade.objects.filter(trade_id__in=[t.values["trade_id"] for t in derived]).values_list(
            "trade_id", flat=True
        )
    )
    for t in derived:
        t.exists = t.values["trade_id"] in existing
    preview.trades = derived
    if parsed.kind == importers.ZERODHA and not preview.errors:
        _group(preview, parsed, window, combos)
    return preview


def _group(
    preview: ImportPreview, parsed: importers.ParseResult, window: int, combos: list[list[str]] | None
) -> None:
    """Fill ``preview.combos`` and each trade's ``combo``: the automatic grouping, or the user's."""
    if combos is None:
        # Only trades new to the journal can be grouped (a stored trade keeps its own links).
        new = [
            t
            for t in parsed.trades
            if t.raw["trade_id"] not in {p.values["trade_id"] for p in preview.trades if p.exists}
        ]
        groups = combo_grouping.group_combos(new, timedelta(seconds=window))
        combos = [[new[i].raw["trade_id"] for i in group] for group in groups]
    else:
        problem = check_combos(preview.trades, combos)
        if problem:
            preview.errors.append(RowError(0, problem))
            return
    preview.combos = [list(c) for c in combos]
    number = {tid: n for n, combo in enumerate(preview.combos, start=1) for tid in combo}
    for t in preview.trades:
        t.combo = number.get(t.values["trade_id"])


def check_combos(trades: list[PreviewTrade], combos: list[list[str]]) -> str | None:
    """Why the grouping ``combos`` (trade ids) cannot be stored for ``trades`` (None when it can):
    every id a trade of the file, none in two combos, each combo two or more legs of one index."""
    by_id = {t.values["trade_id"]: t for t in trades}
    seen: set[str] = set()
    for n, combo in enumerate(combos, start=1):
        if len(combo) < 2:
            return f"combo {n} needs at least two legs"
        for tid in combo:
            if tid not in by_id:
                return f"combo {n}: {tid} is not a trade of this file"
            if by_id[tid].exists:
                return f"combo {n}: {tid} is already in the journal"
            if tid in seen:
                return f"{tid} is in two combos"
            seen.add(tid)
        if len({by_id[tid].values["symbol"] for tid in combo}) > 1:
            return f"combo {n} mixes underlyings: a combo's legs are of one index"
    return None


def _differs(stated: str, derived) -> bool:
    try:
        return Decimal(stated) != Decimal(str(derived))
    except ArithmeticError:
        return True


def import_commit(
    *, content: bytes, filename: str, user=None, combos: list[list[str]] | None = None
) -> ImportResult:
    """Import a whole file, or nothing of it: raises ``ImportRejected`` when any row is bad.

    A file already imported (same SHA-256) adds nothing and returns its first batch. Trades go
    through ``record_trade`` (performance tables refresh with them) inside one transaction with the
    ``ImportBatch`` row, so a failure part-way leaves the journal as it was.
    """
    now = timezone.now()
    preview = import_preview(content=content, filename=filename, now=now, combos=combos)
    if not preview.ok:
        raise ImportRejected(preview.errors)
    if preview.already_imported is not None:
        return ImportResult(batch=preview.already_imported, added=0, already_imported=True)
    user = user if getattr(user, "pk", None) else None
    try:
        # An import is history, not news: no events for the live desk or the notifications.
        with transaction.atomic(), outbox.suppressed():
            batch = ImportBatch.objects.create(
                sha256=preview.sha256, filename=filename[:255], kind=preview.kind, user=user
            )
            added = 0
            combo_of = _record_combos(preview, now=now)
            for trade in preview.trades:
                if trade.exists:
                    continue
                raw = _raw_of_values(trade.values)
                if trade.values["trade_id"] in combo_of:
                    raw["combo_id"] = combo_of[trade.values["trade_id"]]
                try:
                    stored = record_trade(now=now, origin=TradeOrigin.IMPORT, **raw)
                except ValidationError as exc:  # e.g. the id of one of the engine's positions
                    raise ImportRejected([RowError(_line_of(trade.lines), _field_errors(exc))]) from None
                if getattr(stored, "spooled", False):
                    # The database went away mid-import: undo the whole file rather than half of it.
                    raise ImportRejected([RowError(_line_of(trade.lines), "the database became unreachable")])
                added += 1
            combo_refresh_totals(set(combo_of.values()))
            batch.trades = added
            batch.save(update_fields=["trades"])
    except IntegrityError:
        # The same file confirmed twice at once: the other request's batch is the import.
        batch = ImportBatch.objects.filter(sha256=preview.sha256).first()
        if batch is None:
            raise
        return ImportResult(batch=batch, added=0, already_imported=True)
    log.info("imported %s (%s): %d new trade(s)", filename, preview.kind, added)
    return ImportResult(batch=batch, added=added, already_imported=False)


def import_combo_id(trade_ids: list[str]) -> str:
    """``ZC-`` + 20 hex digits of the SHA-256 of a combo's leg trade ids: the same legs, the same id."""
    return "ZC-" + hashlib.sha256("|".join(sorted(trade_ids)).encode()).hexdigest()[:20]


def _priced(values: dict) -> PricedLeg:
    lot = contracts.lot_size(values["symbol"], values["expiry_date"])
    return PricedLeg(
        instrument=CE if values["instrument_type"] == "CALL" else PE,
        side="BUY" if values["side"] == "LONG" else "SELL",
        strike=float(values["strike_price"]),
        expiry=values["expiry_date"],
        lots=max(int(values["quantity"]) // lot, 1),
        premium=float(values["entry_price"]),
        lot_size=lot,
    )


def _money(x: float | None) -> Decimal | None:
    return None if x is None else Decimal(str(round(x, 2)))


def import_combo_facts(legs: list[dict]) -> dict:
    """The facts ``journal.combos.combo_record`` takes for a combo of imported round trips (their
    derived values): closed, LIVE on KITE, strategy MANUAL; MIS when every leg opened and closed on
    one IST day, else NRML. Maximum profit and loss (rupees) and breakevens (index points) at
    expiry on the entry prices when the legs share one expiry (``combos.extremes``); legs of
    several expiries need IVs a tradebook does not hold: ``payoff_known`` False."""
    ids = [v["trade_id"] for v in legs]
    priced = [_priced(v) for v in legs]
    days = {t.astimezone(importers.IST).date() for v in legs for t in (v["entry_time"], v["exit_time"])}
    facts = {
        "combo_id": import_combo_id(ids),
        "strategy_name": importers.ZERODHA_STRATEGY,
        "symbol": legs[0]["symbol"],
        "product": "MIS" if len(days) == 1 else "NRML",
        "entry_mode": "LIVE",
        "data_source": "KITE",
        "status": "CLOSED",
        "entry_time": min(v["entry_time"] for v in legs),
        "exit_time": max(v["exit_time"] for v in legs),
        "exit_type": "MANUAL",
        "exit_reason": "Imported from a Zerodha Console tradebook: legs opened together",
        "legs": [
            {
                **leg.facts(i + 1, iv=None),  # a tradebook has no IV
                "trade_id": tid,
            }
            for i, (leg, tid) in enumerate(zip(priced, ids))
        ],
    }
    if len({leg.expiry for leg in priced}) == 1:
        ext = combo_extremes(priced)
        facts.update(
            payoff_known=True,
            max_profit=_money(ext.max_profit),
            max_loss=_money(ext.max_loss),
            breakevens=[round(x, 2) for x in combo_breakevens(priced)],
        )
    return facts


def _record_combos(preview: ImportPreview, *, now: datetime) -> dict[str, str]:
    """Store the preview's combos (``combo_record``); return trade id -> combo id of their legs."""
    by_id = {t.values["trade_id"]: t.values for t in preview.trades}
    combo_of: dict[str, str] = {}
    for combo in preview.combos:
        facts = import_combo_facts([by_id[tid] for tid in combo])
        combo_record(now=now, **facts)
        combo_of.update(dict.fromkeys(combo, facts["combo_id"]))
    return combo_of


def _raw_of_values(values: dict) -> dict:
    """The raw facts of derived values (what record_trade takes back)."""
    raw = {k: v for k, v in values.items() if k in RAW_FIELDS and k not in ("lots",)}
    raw["tags"] = [t for t in values.get("tags", "").split(",") if t]
    return raw
