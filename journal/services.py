"""Writes of the trade journal. ``record_trade`` is the one way a closed trade enters the journal;
``trade_update`` and ``trade_delete`` are the one way it changes afterwards."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from journal import bulk, cells, performance, spool
from journal.derive import EDITABLE, RAW_FIELDS, derive_trade
from journal.fields import choice_of, message_dict
from journal.models import Combo, Trade, TradeAudit, TradeOrigin
from trading import access, outbox
from trading.audit import ControlAudit, user_or_none
from trading.choices import DataSource, Mode

log = logging.getLogger(__name__)

# --- Writes ---------------------------------------------------------------------------------------


def record_trade(*, now: datetime, origin: str = TradeOrigin.MANUAL, **fields) -> Trade:
    """Validate, derive and store one closed trade exactly once; return it.

    ``now`` is the caller's clock (aware): the wall clock for a person (page, API, import, admin),
    the feed's clock for the engine. Times outside a session of the exchange's calendar, after the
    contract's expiry or after ``now`` are refused (``derive_trade``). ``origin`` says who writes it
    (``TradeOrigin``: the engine's risk figures count only ENGINE trades); a trade that is not the
    engine's may not take the id of one of the engine's positions (``reserve_trade_ids``).

    A second call with the same ``trade_id`` returns the stored trade and changes nothing. The day's
    DailyPerformance, the strategy's StrategyPerformance and the breakdown cells (``journal.cells``)
    refresh in the same transaction. If the
    database is unreachable the trade is spooled durably (fsynced) and an unsaved Trade with
    ``spooled = True`` is returned; ``drain_spool`` writes it later. Bad input raises
    ``ValidationError`` naming every bad field and writes nothing.
    """
    # The wall moment the engine handed the closed trade over (``now`` is the market clock, which a
    # simulated session runs far from the wall): the journal's delay is measured from it.
    handed_at = time.time() if origin == TradeOrigin.ENGINE else None
    values = _checked(fields, now=now, origin=origin)
    origin = values["origin"]
    try:
        _check_reserved(values["trade_id"], origin)
        return _write_trade(values, handed_at)
    except (OperationalError, InterfaceError) as exc:
        discard_broken_connection()
        payload = {**_spoolable(fields), _SPOOL_ORIGIN: origin, _SPOOL_NOW: now, _SPOOL_HANDED: handed_at}
        spool.append("trade", values["trade_id"], payload)
        log.error("trade %s spooled: database unreachable (%s)", values["trade_id"], exc)
        trade = Trade(**values)
        trade.spooled = True
        return trade


def _checked(fields: dict, *, now: datetime, origin: str) -> dict:
    """The one definition of a new trade's checks (``record_trade``, ``record_trades``): the caller's
    clock is aware, ``origin`` a ``TradeOrigin``, the facts derive (``derive_trade``: bad fields
    raise ``ValidationError``). Returns the values to store. (The writers then check that a trade
    that is not the engine's does not take an engine id, ``_check_reserved``: that one reads the
    database, so ``record_trade`` spools when it cannot.)"""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("record_trade needs the caller's clock as an aware datetime (now=...)")
    origin = choice_of("origin", origin, TradeOrigin.choices)
    values = derive_trade(fields, now=now)
    values["origin"] = origin
    return values


@dataclass(frozen=True)
class Checked:
    """A trade's values to store, as ``TradeWriter.check`` returned them for the same writer's clock,
    origin and common fields - elsewhere (``trade_checks``, in a process beside a backtest's run):
    ``record_trades`` and ``TradeWriter.add`` store them without checking them again."""

    values: dict
    row: tuple | None = None  # its INSERT parameters (``bulk.row_of``), worked out there too
    vendor: str | None = None  # the database they are for


def record_trades(
    *,
    now: datetime,
    origin: str = TradeOrigin.MANUAL,
    trades: Iterable[dict | Checked],
    keep: bool = True,
    **common,
) -> list[Trade]:
    """Validate, derive and store many closed trades at once: ``record_trade``'s bulk sibling.
    Returns the trades it stored (``keep=False``: none - see ``trade_writer``). ``trade_writer`` is
    the same, streamed. A trade may come ``Checked`` already (a backtest's journal)."""
    with trade_writer(now=now, origin=origin, keep=keep, **common) as writer:
        for fields in trades:
            writer.add(fields)
    return writer.created


class TradeWriter:
    """Trades into the journal in bulk, inside ``trade_writer``'s transaction (see there)."""

    BATCH = 500

    def __init__(self, *, now: datetime, origin: str, common: dict, keep: bool = True) -> None:
        self.now, self.origin, self.common, self.keep = now, origin, common, keep
        self.created: list[Trade] = []
        self.stored_ids: list[str] = []  # keep=False: the ids of the trades stored, in order
        self._pending: list[dict] = []
        self._seen: set[str] = set()
        self._keys: set[tuple[date, str, str]] = set()
        self._ids: list[int] = []  # the primary keys of the trades stored (their breakdown cells)
        self._position = 0

    def check(self, fields: dict) -> dict:
        """``add``'s checks of one trade's ``fields`` (``record_trade``'s, ``_checked``): the values
        to store. They read no database, so another process may run them and hand the values back
        as ``Checked`` (a backtest's trades are checked beside its run: ``trade_checks``)."""
        return _checked({**self.common, **fields}, now=self.now, origin=self.origin)

    def check_row(self, fields: dict) -> Checked:
        """``check``, and the checked values' INSERT parameters (``bulk.row_of``: no query either):
        a process beside a backtest's run works both out while the run trades on."""
        values = self.check(fields)
        return Checked(values, bulk.row_of(Trade, values), connection.vendor)

    def add(self, fields: dict | Checked) -> None:
        """Check one trade (``check``) and queue it; a bad one raises ``ValidationError`` naming its
        position among the trades added and its fields. A ``Checked`` trade is not checked again."""
        position, self._position = self._position, self._position + 1
        row = None
        if isinstance(fields, Checked):
            checked = fields.values
            row = fields.row if fields.vendor == connection.vendor else None
        else:
            try:
                checked = self.check(fields)
            except ValidationError as exc:
                raise ValidationError(
                    {f"trades[{position}].{name}": msgs for name, msgs in message_dict(exc).items()}
                ) from exc
        _check_reserved(checked["trade_id"], checked["origin"])
        if checked["trade_id"] in self._seen:
            return
        self._seen.add(checked["trade_id"])
        self._pending.append((checked, row))
        if len(self._pending) >= self.BATCH:
            self.flush()

    def flush(self) -> None:
        """Insert the queued trades whose id is not stored yet (``journal.bulk``: one INSERT
        executed for every row, each value converted by its field as ``bulk_create`` would; a row
        worked out already, ``Checked.row``, is taken as it is)."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        stored = set(
            Trade.objects.filter(trade_id__in=[v["trade_id"] for v, _ in pending]).values_list(
                "trade_id", flat=True
            )
        )
        fresh = [(v, row) for v, row in pending if v["trade_id"] not in stored]
        pks, stamps = bulk.insert_rows(
            Trade,
            [row if row is not None else bulk.row_of(Trade, v) for v, row in fresh],
            key="trade_id",
            keys=[v["trade_id"] for v, _ in fresh],
        )
        for (values, _), pk in zip(fresh, pks, strict=True):
            self._keys.add((values["trade_date"], values["entry_mode"], values["strategy_name"]))
            self._ids.append(pk)
            # The instance only where it is needed: kept, or for the outbox (a backtest's is not).
            if self.keep or _has_event(values["entry_mode"]):
                trade = bulk.stored(Trade, values, pk, stamps)
                _trade_event(trade)
                if self.keep:
                    self.created.append(trade)
            if not self.keep:
                self.stored_ids.append(values["trade_id"])

    def stored(self) -> Iterable[Trade]:
        """The trades stored, in order: those kept, or (``keep=False``) read back by id, 500 at a time
        - only the fields the hooks read, when each says which (``on_trade_recorded(reads=...)``)."""
        yield from self.created
        reads = _hooks_read()
        for start in range(0, len(self.stored_ids), self.BATCH):
            ids = self.stored_ids[start : start + self.BATCH]
            rows = Trade.objects.filter(trade_id__in=ids)
            by_id = {t.trade_id: t for t in (rows.only("trade_id", *reads) if reads is not None else rows)}
            yield from (by_id[i] for i in ids)

    def close(self) -> None:
        """The last queued trades, then one rebuild of the performance rows they touched, then their
        breakdown cells (one statement per batch). The cells come last, as in ``record_trade``: every
        writer locks the performance rows of a day before its cells, so two writers cannot deadlock."""
        self.flush()
        performance.refresh_keys(self._keys)
        for start in range(0, len(self._ids), self.BATCH):
            cells.add_trades(self._ids[start : start + self.BATCH])


@contextmanager
def trade_writer(*, now: datetime, origin: str = TradeOrigin.MANUAL, keep: bool = True, **common):
    """A ``TradeWriter`` whose trades are stored in one transaction, with one performance rebuild.

    Each trade added is ``common`` updated with its dict (e.g. ``backtest_run=run`` in ``common``),
    checked exactly as ``record_trade`` checks one, against ``now``; they are inserted in batches as
    they come (so a caller can stream them: memory does not grow with their number) and the
    performance rows they touch are rebuilt once at the end (``performance.refresh_keys``). All or
    nothing: a bad trade or any error in the block rolls the transaction back and stores none. A
    ``trade_id`` already stored (or added twice) is stored once, as ``record_trade`` does. No spool:
    a database error raises (a backtest is run again, not replayed). The ``on_trade_recorded`` hooks
    run for each stored trade after the commit. ``keep=False`` (a backtest's thousands of trades):
    ``writer.created`` stays empty and memory flat - the hooks see each trade read back by its id
    after the commit, 500 at a time.
    """
    writer = _writer(now=now, origin=origin, common=common, keep=keep)
    with transaction.atomic():
        yield writer
        writer.close()
    for trade in writer.stored() if _trade_hooks else writer.created:
        trade.spooled = False
        _after_commit(trade, None)  # a bulk write is never the live engine's close


def _writer(*, now: datetime, origin: str, common: dict, keep: bool = True) -> TradeWriter:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("trade_writer needs the caller's clock as an aware datetime (now=...)")
    return TradeWriter(
        now=now, origin=choice_of("origin", origin, TradeOrigin.choices), common=common, keep=keep
    )


def trade_checks(*, now: datetime, origin: str = TradeOrigin.MANUAL, **common) -> Callable[[dict], Checked]:
    """The checks ``trade_writer(now=..., origin=..., **common)`` (and ``record_trades``) run on each
    trade added, as a function of the trade's fields (``TradeWriter.check_row``, no database): run
    them anywhere - in a process beside a backtest's run - and hand each ``Checked`` back."""
    return _writer(now=now, origin=origin, common=common).check_row


# Who wrote a spooled trade and the clock it was checked against (beside its raw facts).
_SPOOL_ORIGIN = "_origin"
_SPOOL_NOW = "_now"
_SPOOL_HANDED = "_handed_at"  # wall-clock Unix seconds of the engine's close (None: not the engine's)
_reserved_checks: list[Callable[[str], bool]] = []


def reserve_trade_ids(check: Callable[[str], bool]) -> None:
    """Register ``check(trade_id) -> bool``: True when the id belongs to the engine (the execution
    layer registers its positions' ids), so that no manual or imported trade can take it first and
    the engine's own close of that position would be lost."""
    _reserved_checks.append(check)


def _check_reserved(trade_id: str, origin: str) -> None:
    if origin == TradeOrigin.ENGINE:
        return
    if any(check(trade_id) for check in _reserved_checks):
        raise ValidationError({"trade_id": f"{trade_id} is the id of one of the engine's positions"})


def _spoolable(fields: dict) -> dict:
    out = dict(fields)
    for key in ("signal", "backtest_run"):
        if key in out:
            obj = out.pop(key)
            out[f"{key}_id"] = getattr(obj, "pk", obj)
    return out


def discard_broken_connection() -> None:
    try:
        connection.close()
    except Exception:  # noqa: BLE001 - the connection is already gone
        pass


def _write_trade(values: dict, handed_at: float | None = None) -> Trade:
    existing = Trade.objects.filter(trade_id=values["trade_id"]).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            if values.get("combo_id"):
                _combo_stub(values)
            trade = Trade.objects.create(**values)
            performance.refresh_for_new_trade(trade)
            cells.add_trades([trade.pk])
            _trade_event(trade)
    except IntegrityError:
        # A concurrent writer stored the same trade_id first: theirs is the trade.
        existing = Trade.objects.filter(trade_id=values["trade_id"]).first()
        if existing is None:
            raise
        return existing
    trade.spooled = False
    _after_commit(trade, handed_at)
    return trade


def _combo_stub(values: dict) -> None:
    """The combo a leg names, made from the leg when it is not stored yet (a close replayed from
    the spool before its combo's row): ``journal.combos.combo_record`` fills it in later."""
    Combo.objects.get_or_create(
        combo_id=values["combo_id"],
        defaults={
            "strategy_name": values.get("strategy_name", "MANUAL"),
            "symbol": values["symbol"],
            "entry_mode": values.get("entry_mode", Mode.PAPER),
            "data_source": values.get("data_source", DataSource.SIM),
            "entry_time": values["entry_time"],
            "backtest_run_id": values.get("backtest_run_id"),
        },
    )


def trade_event_data(trade: Trade) -> dict:
    """A trade as the live desk and the notifications show it (the ``trade.recorded`` event's data)."""
    return {
        "trade_id": trade.trade_id,
        "strategy": trade.strategy_name,
        "mode": trade.entry_mode,
        "tradingsymbol": trade.tradingsymbol,
        "instrument_type": trade.instrument_type,
        "strike": trade.strike_price,
        "quantity": trade.quantity,
        "entry_time": trade.entry_time,
        "exit_time": trade.exit_time,
        "entry_price": trade.entry_price,
        "exit_price": trade.exit_price,
        "exit_type": trade.exit_type,
        "gross_pnl": trade.gross_pnl,
        "charges": trade.total_charges,
        "net_pnl": trade.net_pnl,
        "r_multiple": trade.r_multiple,
        "trade_date": trade.trade_date,
    }


def _has_event(mode: str) -> bool:
    """Whether a trade of this entry mode has an outbox event: a backtest writes history, not news."""
    return mode != Mode.BACKTEST


def _trade_event(trade: Trade) -> None:
    """The trade's event in the outbox, in its transaction (the live desk, notifications), where its
    mode has one (``_has_event``)."""
    if not _has_event(trade.entry_mode):
        return
    outbox.emit(
        outbox.TRADE_RECORDED,
        key=trade.trade_id,
        index=trade.symbol,
        at=trade.exit_time,
        data=trade_event_data(trade),
    )


def _after_commit(trade: Trade, handed_at: float | None) -> None:
    """Hooks run once the trade is committed (metrics, live dashboard)."""
    for hook in _trade_hooks:
        transaction.on_commit(lambda hook=hook: hook(trade, handed_at))


_trade_hooks: list = []
_hook_reads: dict = {}  # hook -> the Trade fields it reads (absent: all of them)


def on_trade_recorded(hook, *, reads: Iterable[str] | None = None) -> None:
    """Register ``hook(trade, handed_at)`` to run after each newly committed trade; ``handed_at`` is
    the wall-clock Unix time the engine closed it (also for a trade replayed from the spool), None
    for a trade that is not the engine's. ``reads``: the Trade fields the hook reads - a backtest's
    thousands of trades are then read back with those only (any other field a hook touches is still
    there, loaded on access, one query each)."""
    if reads is not None:
        _hook_reads[hook] = frozenset(reads)
    _trade_hooks.append(hook)


def _hooks_read() -> frozenset | None:
    """The fields the registered hooks read, or None when one of them did not say."""
    fields: frozenset = frozenset()
    for hook in _trade_hooks:
        if hook not in _hook_reads:
            return None
        fields |= _hook_reads[hook]
    return fields


def _replay_spooled_trade(payload: dict) -> None:
    facts = dict(payload)
    origin = facts.pop(_SPOOL_ORIGIN, TradeOrigin.MANUAL)
    # Checked against the caller's clock when it was spooled; the wall clock now may be behind the
    # simulated feed's (a spool written before these keys existed: no time check).
    now = facts.pop(_SPOOL_NOW, None)
    handed_at = facts.pop(_SPOOL_HANDED, None)
    values = derive_trade(facts, now=parse_datetime(now) if isinstance(now, str) else None)
    values["origin"] = origin
    _write_trade(values, handed_at if origin == TradeOrigin.ENGINE else None)


spool.register("trade", _replay_spooled_trade)


def drain_spool() -> spool.DrainResult:
    """Write spooled trades (and other close events) into the database, in order, each once."""
    return spool.drain()


def raw_of(trade: Trade) -> dict:
    """The raw facts of a stored trade, as record_trade takes them."""
    raw = {
        name: getattr(trade, name)
        for name in RAW_FIELDS
        if name not in ("signal", "backtest_run", "combo_id", "lots")
    }
    raw["signal_id"] = trade.signal_id
    raw["backtest_run_id"] = trade.backtest_run_id
    raw["combo_id"] = trade.combo_id
    raw["tags"] = trade.tag_list
    return raw


def _fmt(value) -> str:
    return "" if value is None else str(value)


def _locked(trade: Trade) -> Trade:
    """``trade``'s row as it is now, locked until the transaction ends (``Trade.DoesNotExist``:
    deleted since ``trade`` was read)."""
    locked = Trade.objects.select_for_update().filter(pk=trade.pk).first()
    if locked is None:
        raise Trade.DoesNotExist(f"trade {trade.trade_id} was deleted meanwhile")
    return locked


# An edit of these re-checks the trade's times against the calendar and the wall clock.
WHEN_FIELDS = frozenset({"entry_time", "exit_time", "expiry_date", "symbol"})


@transaction.atomic
def trade_update(*, trade: Trade, user=None, source: str = "admin", **changes) -> Trade:
    """Apply a manual edit: re-validate, re-derive every computed field, save, audit each changed
    field (who, when, old -> new) and refresh the performance rows the trade left and joined.

    With a ``user``: notes and tags need ``access.ANNOTATE_TRADE``, any other field
    ``access.CORRECT_TRADE`` (``PermissionDenied`` otherwise). A change of a time, the expiry or the
    index is checked against the calendar and the wall clock as a new trade is. A trade deleted since
    ``trade`` was read (another request's delete, committed first) raises ``Trade.DoesNotExist``."""
    bad = sorted(set(changes) - set(EDITABLE))
    if bad:
        raise ValidationError({bad[0]: "this field cannot be edited"})
    if user is not None:
        access.require(
            user, access.ANNOTATE_TRADE if set(changes) <= access.ANNOTATION_FIELDS else access.CORRECT_TRADE
        )
    trade = _locked(trade)
    raw = raw_of(trade)
    when_changed = any(name in changes and changes[name] != raw.get(name) for name in WHEN_FIELDS)
    raw.update(changes)
    values = derive_trade(raw, now=timezone.now() if when_changed else None)
    before = {name: getattr(trade, name) for name in values}
    old_keys = (trade.trade_date, trade.entry_mode, trade.strategy_name)
    changed = []
    for name, new in values.items():
        old = before.get(name)
        if name == "entry_features" or _fmt(old) != _fmt(new):
            if name != "entry_features" or old != new:
                changed.append((name, old, new))
        setattr(trade, name, new)
    if not changed:
        return trade
    trade.save()
    TradeAudit.objects.bulk_create(
        [
            TradeAudit(
                trade=trade,
                user=user_or_none(user),
                source=source,
                field=name,
                old_value=_fmt(old),
                new_value=_fmt(new),
            )
            for name, old, new in changed
        ]
    )
    keys = {old_keys, (trade.trade_date, trade.entry_mode, trade.strategy_name)}
    performance.refresh_keys(keys)
    cells.refresh_keys(keys)
    return trade


@transaction.atomic
def trade_delete(*, trade: Trade, user=None, source: str = "api") -> None:
    """Delete a trade, audit it on the control log, and refresh its performance rows. With a
    ``user``: needs ``access.DELETE_TRADE``. A trade already deleted (two deletes at once: the second
    waits for the first's lock) raises ``Trade.DoesNotExist`` and audits nothing."""
    if user is not None:
        access.require(user, access.DELETE_TRADE)
    trade = _locked(trade)
    keys = {(trade.trade_date, trade.entry_mode, trade.strategy_name)}
    ControlAudit.objects.create(
        user=user_or_none(user),
        action="trade_delete",
        old_value=f"{trade.trade_id} net {trade.net_pnl}",
        detail=f"source={source}",
    )
    trade.delete()
    performance.refresh_keys(keys)
    cells.refresh_keys(keys)
