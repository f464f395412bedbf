"""Writes of the trade journal. ``record_trade`` is the one way a closed trade enters the journal;
``trade_update`` and ``trade_delete`` are the one way it changes afterwards."""

from __future__ import annotations

import logging
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import IntegrityError, InterfaceError, OperationalError, connection, models, transaction
from django.utils.dateparse import parse_date, parse_datetime

from journal import performance, spool
from journal.models import Trade, TradeAudit
from trading import outbox
from trading.audit import ControlAudit, user_or_none
from trading.choices import DataSource, ExitType, InstrumentType, Mode, Side
from trading.core import charges as charges_mod
from trading.core import contracts
from trading.core.context import CONTEXT_FIELDS

log = logging.getLogger(__name__)

IST = ZoneInfo("Asia/Kolkata")
TICK = Decimal("0.05")
PAISA = Decimal("0.01")

REQUIRED = (
    "trade_id",
    "entry_time",
    "exit_time",
    "symbol",
    "instrument_type",
    "strike_price",
    "expiry_date",
    "entry_price",
    "exit_price",
    "quantity",
)
# Raw facts a caller may give besides the required ones (derived fields are never taken from callers).
OPTIONAL = (
    "tradingsymbol",
    "exchange",
    "side",
    "entry_mode",
    "data_source",
    "exit_type",
    "strategy_name",
    "signal_strength",
    "signal_reason",
    "exit_reason",
    "signal",
    "signal_id",
    "entry_features",
    "entry_order_id",
    "exit_order_id",
    "spot_price_entry",
    "spot_price_exit",
    "target_price",
    "stop_loss_price",
    *CONTEXT_FIELDS,
    "initial_risk",
    "mae",
    "mfe",
    "tags",
    "notes",
    "backtest_run",
    "backtest_run_id",
    "lots",
    "entry_orders",
    "exit_orders",
)
DERIVED = (
    "lots",
    "trade_date",
    "hold_duration_minutes",
    "gross_pnl",
    "net_pnl",
    "pnl_percentage",
    "is_winning_trade",
    *charges_mod.CHARGE_FIELDS,
    "initial_risk",
    "planned_rr",
    "r_multiple",
    "status",
)
RAW_FIELDS = REQUIRED + OPTIONAL
EDITABLE = tuple(f for f in RAW_FIELDS if f not in ("trade_id", "signal", "backtest_run", "lots"))


def _field(name: str):
    """The Trade model field behind a raw fact (None for the ``*_id`` spellings of foreign keys)."""
    try:
        return Trade._meta.get_field(name)
    except FieldDoesNotExist:
        return None


# Kinds of the raw facts, from the model: prices (2-place Decimals) and plain numbers (floats).
_PRICE_FIELDS = tuple(
    name
    for name in RAW_FIELDS
    if isinstance(_field(name), models.DecimalField)
    and _field(name).decimal_places == 2
    and name not in ("initial_risk", "mae", "mfe")
)
_TICK_FIELDS = ("entry_price", "exit_price", "target_price", "stop_loss_price")
_MONEY_FIELDS = ("initial_risk", "mae", "mfe")
_FLOAT_FIELDS = tuple(name for name in RAW_FIELDS if isinstance(_field(name), models.FloatField))


# --- Validation and derivation (no database) ------------------------------------------------------


def _decimal(name: str, value) -> Decimal:
    try:
        d = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise ValidationError({name: f"not a number: {value!r}"}) from exc
    if not d.is_finite():
        raise ValidationError({name: f"not a finite number: {value!r}"})
    if abs(d) >= Decimal("1e12"):
        raise ValidationError({name: f"out of range: {value!r}"})
    return d


def _datetime(name: str, value) -> datetime:
    if isinstance(value, str):
        try:
            parsed = parse_datetime(value.strip())
        except ValueError:  # well-formed but impossible, e.g. 2026-02-30
            parsed = None
        if parsed is None:
            raise ValidationError({name: f"not a date-time: {value!r}"})
        value = parsed
    if not isinstance(value, datetime):
        raise ValidationError({name: f"not a date-time: {value!r}"})
    if value.tzinfo is None:
        raise ValidationError({name: "date-time without a time zone (give UTC or +05:30)"})
    if not 1990 <= value.year <= 2200:
        raise ValidationError({name: f"out of range: {value.isoformat()}"})
    return value


def _date(name: str, value) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        parsed = parse_date(str(value).strip()) if value is not None else None
    except ValueError:  # well-formed but impossible, e.g. 2026-02-30
        parsed = None
    if parsed is None:
        raise ValidationError({name: f"not a date: {value!r}"})
    if not 1990 <= parsed.year <= 2200:
        raise ValidationError({name: f"out of range: {parsed.isoformat()}"})
    return parsed


def _choice(name: str, value, choices) -> str:
    v = str(value).strip().upper()
    allowed = [c for c, _ in choices]
    if v not in allowed:
        raise ValidationError({name: f"unknown {name} {value!r}: expected one of {', '.join(allowed)}"})
    return v


def _normalize_tags(value) -> str:
    if value is None or value == "":
        return ""
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    tags = sorted({str(t).strip().lower() for t in items if str(t).strip()})
    for t in tags:
        if "," in t:
            raise ValidationError({"tags": f"a tag may not contain a comma: {t!r}"})
    return "," + ",".join(tags) + "," if tags else ""


def derive_trade(raw: dict) -> dict:
    """Validate the raw facts of a trade and return every Trade field (raw + derived).

    Raises ``ValidationError`` naming the field on bad input. Touches no database.
    """
    _check_names(raw)
    out: dict = {}
    _contract_and_times(raw, out)
    _prices(raw, out)
    _quantity(raw, out)
    _numbers(raw, out)
    _texts_and_links(raw, out)
    _derive_money(out)
    _derive_risk(out)
    out["status"] = "CLOSED"
    _check_storable(out)
    return out


def _check_names(raw: dict) -> None:
    unknown = sorted(set(raw) - set(RAW_FIELDS))
    if unknown:
        raise ValidationError({unknown[0]: f"unknown field(s): {', '.join(unknown)}"})
    missing = [f for f in REQUIRED if raw.get(f) in (None, "")]
    if missing:
        raise ValidationError({f: "this field is required" for f in missing})


def _contract_and_times(raw: dict, out: dict) -> None:
    out["trade_id"] = str(raw["trade_id"]).strip()
    if len(out["trade_id"]) > 64:
        raise ValidationError({"trade_id": "at most 64 characters"})
    out["symbol"] = str(raw["symbol"]).strip().upper()
    out["instrument_type"] = _choice(
        "instrument_type", _instrument_alias(raw["instrument_type"]), InstrumentType.choices
    )
    out["side"] = _choice("side", raw.get("side") or "LONG", Side.choices)
    out["entry_mode"] = _choice("entry_mode", raw.get("entry_mode") or "PAPER", Mode.choices)
    out["data_source"] = _choice("data_source", raw.get("data_source") or "SIM", DataSource.choices)
    out["exit_type"] = _choice("exit_type", raw.get("exit_type") or "MANUAL", ExitType.choices)
    out["entry_time"] = _datetime("entry_time", raw["entry_time"])
    out["exit_time"] = _datetime("exit_time", raw["exit_time"])
    if out["exit_time"] < out["entry_time"]:
        raise ValidationError({"exit_time": "exit is before entry"})
    out["expiry_date"] = _date("expiry_date", raw["expiry_date"])


def _prices(raw: dict, out: dict) -> None:
    """Prices: finite, not negative, premiums on the 0.05 tick (an EXPIRY exit is a settlement value,
    to the paisa), an exit at 0 only at expiry."""
    for name in _PRICE_FIELDS:
        if raw.get(name) not in (None, ""):
            out[name] = _decimal(name, raw[name])
            if out[name] < 0:
                raise ValidationError({name: "must not be negative"})
        elif name not in REQUIRED:
            out[name] = None
    if out["strike_price"] <= 0:
        raise ValidationError({"strike_price": "must be positive"})
    if out["entry_price"] == 0:
        raise ValidationError({"entry_price": "an entry at 0 is not a trade"})
    if out["exit_price"] == 0 and out["exit_type"] != ExitType.EXPIRY:
        raise ValidationError({"exit_price": "an exit at 0 is allowed only for exit type EXPIRY"})
    for name in _TICK_FIELDS:
        if name == "exit_price" and out["exit_type"] == ExitType.EXPIRY:
            continue  # settled at the final settlement price less the strike: a cash value
        if out.get(name) is not None and out[name] % TICK != 0:
            raise ValidationError({name: f"{out[name]} is off the 0.05 tick"})


def _whole(name: str, value) -> int:
    try:
        number = int(Decimal(str(value)))
        if Decimal(str(value)) != number:
            raise ValueError
    except (InvalidOperation, ValueError) as exc:
        raise ValidationError({name: f"not a whole number: {value!r}"}) from exc
    return number


def _quantity(raw: dict, out: dict) -> None:
    """Quantity: a positive whole number of the contract's lots (``lots`` must agree if given)."""
    quantity = _whole("quantity", raw["quantity"])
    if quantity <= 0:
        raise ValidationError({"quantity": "must be positive"})
    out["quantity"] = quantity
    lot = _lot_size(out["symbol"], out["expiry_date"])
    if quantity % lot:
        raise ValidationError(
            {
                "quantity": f"{quantity} is not a whole number of {out['symbol']} lots of {lot} (expiry {out['expiry_date']})"
            }
        )
    out["lots"] = quantity // lot
    try:
        given_lots = int(raw["lots"]) if raw.get("lots") not in (None, "") else None
    except (TypeError, ValueError) as exc:
        raise ValidationError({"lots": f"not a whole number: {raw.get('lots')!r}"}) from exc
    if given_lots is not None and given_lots != out["lots"]:
        raise ValidationError(
            {"lots": f"{raw['lots']} lots disagree with quantity {quantity} / lot size {lot}"}
        )
    for name in ("entry_orders", "exit_orders"):
        try:
            out[name] = int(raw.get(name) or 1)
        except (TypeError, ValueError) as exc:
            raise ValidationError({name: f"not a whole number: {raw.get(name)!r}"}) from exc
        if out[name] < 1:
            raise ValidationError({name: "at least one executed order"})


def _numbers(raw: dict, out: dict) -> None:
    """Plain numbers (context, strength: NaN/inf stored as unknown) and rupee amounts (to the paisa)."""
    for name in _FLOAT_FIELDS:
        value = raw.get(name)
        if value in (None, ""):
            out[name] = None
            continue
        try:
            number = float(value)
        except (TypeError, ValueError) as exc:
            raise ValidationError({name: f"not a number: {value!r}"}) from exc
        out[name] = number if number == number and abs(number) != float("inf") else None
    for name in _MONEY_FIELDS:
        value = raw.get(name)
        out[name] = _decimal(name, value).quantize(PAISA, ROUND_HALF_UP) if value not in (None, "") else None


def _texts_and_links(raw: dict, out: dict) -> None:
    for name in ("signal_reason", "exit_reason", "notes", "entry_order_id", "exit_order_id", "strategy_name"):
        value = raw.get(name)
        out[name] = "" if value is None else str(value)
    out["strategy_name"] = out["strategy_name"] or "MANUAL"
    out["tags"] = _normalize_tags(raw.get("tags"))
    out["entry_features"] = raw.get("entry_features") or {}
    out["exchange"] = (raw.get("exchange") or _fo_exchange(out["symbol"])).upper()
    out["tradingsymbol"] = raw.get("tradingsymbol") or _tradingsymbol(
        out["symbol"], out["expiry_date"], out["strike_price"], out["instrument_type"]
    )
    for link in ("signal", "backtest_run"):
        if raw.get(link) is not None or raw.get(f"{link}_id") is not None:
            target = raw.get(link)
            out[f"{link}_id"] = getattr(target, "pk", target) if target is not None else raw.get(f"{link}_id")


def _derive_money(out: dict) -> None:
    """Gross P&L, itemised charges, net P&L, P&L %, win flag, trade date, hold time."""
    entry, quantity = out["entry_price"], out["quantity"]
    gross = charges_mod.round_trip_pnl(
        side=out["side"], entry_price=entry, exit_price=out["exit_price"], quantity=quantity
    )
    try:
        charged = _charges(out)
    except ValueError as exc:  # e.g. a date before the charge schedule begins
        raise ValidationError({"entry_time": str(exc)}) from exc
    out.update(charged.as_dict())
    net = gross - charged.total
    out["gross_pnl"] = gross
    out["net_pnl"] = net
    out["pnl_percentage"] = (net / (entry * quantity) * 100).quantize(Decimal("0.0001"), ROUND_HALF_UP)
    out["is_winning_trade"] = net > 0
    out["trade_date"] = out["exit_time"].astimezone(IST).date()
    seconds = Decimal(str((out["exit_time"] - out["entry_time"]).total_seconds()))
    out["hold_duration_minutes"] = (seconds / 60).quantize(PAISA, ROUND_HALF_UP)


def _derive_risk(out: dict) -> None:
    """Initial risk (entry - stop, rupees for the quantity), planned reward:risk, R-multiple."""
    entry, quantity = out["entry_price"], out["quantity"]
    stop, target = out.get("stop_loss_price"), out.get("target_price")
    if stop is not None and stop != entry:
        out["initial_risk"] = (abs(entry - stop) * quantity).quantize(PAISA, ROUND_HALF_UP)
    out["planned_rr"] = (
        (abs(target - entry) / abs(entry - stop)).quantize(PAISA, ROUND_HALF_UP)
        if stop is not None and target is not None and stop != entry
        else None
    )
    risk = out.get("initial_risk")
    out["r_multiple"] = (out["net_pnl"] / risk).quantize(Decimal("0.0001"), ROUND_HALF_UP) if risk else None


def _charges(out: dict) -> charges_mod.Charges:
    return charges_mod.round_trip_charges(
        side=out["side"],
        entry_price=out["entry_price"],
        exit_price=out["exit_price"],
        quantity=out["quantity"],
        entry_date=out["entry_time"].astimezone(IST).date(),
        exit_date=out["exit_time"].astimezone(IST).date(),
        exchange=charges_mod.exchange_of(out["symbol"]),
        entry_orders=out["entry_orders"],
        exit_orders=out["exit_orders"],
        exit_type=out["exit_type"],
        brokerage_per_order=Decimal(str(settings.BROKERAGE_PER_ORDER)),
    )


def _check_storable(values: dict) -> None:
    """Every value fits its column (length, decimal digits, integer range), else a ValidationError
    naming the field - never a database error later."""
    for name, value in values.items():
        if value is None or isinstance(value, bool):
            continue
        try:
            field = Trade._meta.get_field(name)
        except FieldDoesNotExist:
            continue
        if isinstance(value, str) and field.max_length and len(value) > field.max_length:
            raise ValidationError({name: f"at most {field.max_length} characters"})
        if isinstance(field, models.DecimalField):
            if abs(value) >= Decimal(10) ** (field.max_digits - field.decimal_places):
                raise ValidationError({name: f"out of range: {value}"})
        elif isinstance(field, models.IntegerField) and abs(value) > 2_147_483_647:
            raise ValidationError({name: f"out of range: {value}"})
        elif isinstance(field, models.FloatField) and abs(value) > 1e300:
            raise ValidationError({name: f"out of range: {value}"})


def _instrument_alias(value) -> str:
    v = str(value).strip().upper()
    return {"CE": "CALL", "PE": "PUT", "C": "CALL", "P": "PUT"}.get(v, v)


def _lot_size(symbol: str, expiry: date) -> int:
    try:
        return contracts.lot_size(symbol, expiry)
    except (KeyError, ValueError) as exc:
        raise ValidationError({"symbol": f"unknown index {symbol!r}"}) from exc


def _fo_exchange(symbol: str) -> str:
    return "BFO" if charges_mod.exchange_of(symbol) == "BSE" else "NFO"


def _tradingsymbol(symbol: str, expiry: date, strike: Decimal, instrument_type: str) -> str:
    try:
        return contracts.tradingsymbol(
            symbol, expiry, float(strike), "CE" if instrument_type == "CALL" else "PE"
        )
    except Exception:  # noqa: BLE001 - a symbol is a convenience, never a reason to refuse a trade
        return ""


# --- Writes ---------------------------------------------------------------------------------------


def record_trade(**fields) -> Trade:
    """Validate, derive and store one closed trade exactly once; return it.

    A second call with the same ``trade_id`` returns the stored trade and changes nothing. The day's
    DailyPerformance and the strategy's StrategyPerformance refresh in the same transaction. If the
    database is unreachable the trade is spooled durably (fsynced) and an unsaved Trade with
    ``spooled = True`` is returned; ``drain_spool`` writes it later. Bad input raises
    ``ValidationError`` naming the field and writes nothing.
    """
    values = derive_trade(fields)
    try:
        return _write_trade(values)
    except (OperationalError, InterfaceError) as exc:
        _discard_broken_connection()
        spool.append("trade", values["trade_id"], _spoolable(fields))
        log.error("trade %s spooled: database unreachable (%s)", values["trade_id"], exc)
        trade = Trade(**values)
        trade.spooled = True
        return trade


def _spoolable(fields: dict) -> dict:
    out = dict(fields)
    for key in ("signal", "backtest_run"):
        if key in out:
            obj = out.pop(key)
            out[f"{key}_id"] = getattr(obj, "pk", obj)
    return out


def _discard_broken_connection() -> None:
    try:
        connection.close()
    except Exception:  # noqa: BLE001 - the connection is already gone
        pass


def _write_trade(values: dict) -> Trade:
    existing = Trade.objects.filter(trade_id=values["trade_id"]).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            trade = Trade.objects.create(**values)
            performance.refresh_for_new_trade(trade)
            _trade_event(trade)
    except IntegrityError:
        # A concurrent writer stored the same trade_id first: theirs is the trade.
        existing = Trade.objects.filter(trade_id=values["trade_id"]).first()
        if existing is None:
            raise
        return existing
    trade.spooled = False
    _after_commit(trade)
    return trade


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


def _trade_event(trade: Trade) -> None:
    """The trade's event in the outbox, in its transaction (the live desk, notifications). A backtest
    writes history, not news: no event."""
    if trade.entry_mode == Mode.BACKTEST:
        return
    outbox.emit(
        outbox.TRADE_RECORDED,
        key=trade.trade_id,
        index=trade.symbol,
        at=trade.exit_time,
        data=trade_event_data(trade),
    )


def _after_commit(trade: Trade) -> None:
    """Hooks run once the trade is committed (metrics, live dashboard)."""
    for hook in _trade_hooks:
        transaction.on_commit(lambda hook=hook: hook(trade))


_trade_hooks: list = []


def on_trade_recorded(hook) -> None:
    """Register ``hook(trade)`` to run after each newly committed trade."""
    _trade_hooks.append(hook)


def _replay_spooled_trade(payload: dict) -> None:
    values = derive_trade(payload)
    _write_trade(values)


spool.register("trade", _replay_spooled_trade)


def drain_spool() -> spool.DrainResult:
    """Write spooled trades (and other close events) into the database, in order, each once."""
    return spool.drain()


def raw_of(trade: Trade) -> dict:
    """The raw facts of a stored trade, as record_trade takes them."""
    raw = {
        name: getattr(trade, name) for name in RAW_FIELDS if name not in ("signal", "backtest_run", "lots")
    }
    raw["signal_id"] = trade.signal_id
    raw["backtest_run_id"] = trade.backtest_run_id
    raw["tags"] = trade.tag_list
    return raw


def _fmt(value) -> str:
    return "" if value is None else str(value)


@transaction.atomic
def trade_update(*, trade: Trade, user=None, source: str = "admin", **changes) -> Trade:
    """Apply a manual edit: re-validate, re-derive every computed field, save, audit each changed
    field (who, when, old -> new) and refresh the performance rows the trade left and joined."""
    bad = sorted(set(changes) - set(EDITABLE))
    if bad:
        raise ValidationError({bad[0]: "this field cannot be edited"})
    trade = Trade.objects.select_for_update().get(pk=trade.pk)
    raw = raw_of(trade)
    raw.update(changes)
    values = derive_trade(raw)
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
    performance.refresh_keys({old_keys, (trade.trade_date, trade.entry_mode, trade.strategy_name)})
    return trade


@transaction.atomic
def trade_delete(*, trade: Trade, user=None, source: str = "api") -> None:
    """Delete a trade (staff), audit it on the control log, and refresh its performance rows."""
    keys = {(trade.trade_date, trade.entry_mode, trade.strategy_name)}
    ControlAudit.objects.create(
        user=user_or_none(user),
        action="trade_delete",
        old_value=f"{trade.trade_id} net {trade.net_pnl}",
        detail=f"source={source}",
    )
    trade.delete()
    performance.refresh_keys(keys)
