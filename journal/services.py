"""Writes of the trade journal. ``record_trade`` is the one way a closed trade enters the journal;
``trade_update`` and ``trade_delete`` are the one way it changes afterwards."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, FieldDoesNotExist, ValidationError
from django.db import IntegrityError, InterfaceError, OperationalError, connection, models, transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from journal import performance, spool
from journal.models import Combo, Trade, TradeAudit, TradeOrigin
from trading import access, inputs, outbox
from trading.audit import ControlAudit, user_or_none
from trading.choices import DataSource, ExitType, InstrumentType, Mode, Side
from trading.core import attribution, contracts
from trading.core import calendar as market_calendar
from trading.core import charges as charges_mod
from trading.core.context import CONTEXT_FIELDS

log = logging.getLogger(__name__)

IST = ZoneInfo("Asia/Kolkata")
TICK = Decimal("0.05")
PAISA = Decimal("0.01")
# The Greek parts of the gross P&L stored on a trade (``_derive_attribution``).
ATTRIBUTION_FIELDS = tuple(f"{c}_pnl" for c in attribution.COMPONENTS)

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
    "combo_id",
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
    *ATTRIBUTION_FIELDS,
    "status",
)
RAW_FIELDS = REQUIRED + OPTIONAL
EDITABLE = tuple(f for f in RAW_FIELDS if f not in ("trade_id", "signal", "backtest_run", "combo_id", "lots"))


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


class _Errors:
    """The errors of every field of one trade, collected so that a form or an API answer names them
    all at once; a check whose input already failed is skipped."""

    def __init__(self) -> None:
        self.by_field: dict[str, list[str]] = {}

    def add(self, name: str, message: str) -> None:
        self.by_field.setdefault(name, []).append(message)

    @contextmanager
    def collect(self):
        try:
            yield
        except ValidationError as exc:
            for name, messages in _message_dict(exc).items():
                for message in messages:
                    self.add(name, message)

    def raise_any(self) -> None:
        if self.by_field:
            raise ValidationError(self.by_field)


def _message_dict(exc: ValidationError) -> dict[str, list[str]]:
    return exc.message_dict if hasattr(exc, "error_dict") else {NON_FIELD_ERRORS: exc.messages}


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
        except ValueError:  # well-formed but impossible, e.g. 2026-02-30 or an offset of 24 hours
            parsed = None
        if parsed is None:
            raise ValidationError({name: f"not a date-time: {value!r}"})
        value = parsed
    if not isinstance(value, datetime):
        raise ValidationError({name: f"not a date-time: {value!r}"})
    if value.tzinfo is None:
        raise ValidationError({name: "date-time without a time zone (give UTC or +05:30)"})
    problem = inputs.utc_offset_problem(value)
    if problem:
        raise ValidationError({name: problem})
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


def _text(name: str, value, *, label: bool) -> str:
    """A text fact: refused with control characters (labels: any control or format character)."""
    text = "" if value is None else str(value)
    problem = inputs.text_problem(text, label=label)
    if problem:
        raise ValidationError({name: problem})
    return text


def _normalize_tags(value) -> str:
    if value is None or value == "":
        return ""
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    tags = sorted({str(t).strip().lower() for t in items if str(t).strip()})
    for t in tags:
        if "," in t:
            raise ValidationError({"tags": f"a tag may not contain a comma: {t!r}"})
        problem = inputs.text_problem(t, label=True)
        if problem:
            raise ValidationError({"tags": f"tag {t!r} {problem}"})
    return "," + ",".join(tags) + "," if tags else ""


def derive_trade(raw: dict, *, now: datetime | None = None) -> dict:
    """Validate the raw facts of a trade and return every Trade field (raw + derived).

    With ``now`` - the caller's clock: the wall clock for a person (page, API, import, admin), the
    feed's clock for the engine, whose simulated sessions may run ahead of it - the times are checked
    too: entry and exit inside a session of the exchange's calendar, the exit not after the contract's
    expiry, neither after ``now``. Raises ``ValidationError`` naming every bad field at once (a
    check whose input is already bad is skipped). Touches no database.
    """
    errors = _Errors()
    out: dict = {}
    _check_names(raw, errors)
    _contract_and_times(raw, out, errors)
    _prices(raw, out, errors)
    _quantity(raw, out, errors)
    _numbers(raw, out, errors)
    _texts_and_links(raw, out, errors)
    if now is not None:
        _check_when(out, errors, now)
    errors.raise_any()
    _derive_money(out)
    _derive_risk(out)
    _derive_attribution(out)
    out["status"] = "CLOSED"
    _check_storable(out)
    return out


def _present(raw: dict, name: str) -> bool:
    return raw.get(name) not in (None, "")


def _check_names(raw: dict, errors: _Errors) -> None:
    unknown = sorted(set(raw) - set(RAW_FIELDS))
    if unknown:
        errors.add(unknown[0], f"unknown field(s): {', '.join(unknown)}")
    for name in REQUIRED:
        if not _present(raw, name):
            errors.add(name, "this field is required")


def _trade_id(value) -> str:
    text = str(value).strip()
    problem = inputs.trade_id_problem(text)
    if problem:
        raise ValidationError({"trade_id": problem})
    return text


def _symbol(value) -> str:
    symbol = _text("symbol", value, label=True).strip().upper()
    if symbol not in contracts.INDICES:
        raise ValidationError(
            {"symbol": f"unknown index {symbol!r}: expected one of {', '.join(contracts.INDICES)}"}
        )
    return symbol


_CHOICES = (
    ("side", Side.LONG, Side.choices),
    ("entry_mode", Mode.PAPER, Mode.choices),
    ("data_source", DataSource.SIM, DataSource.choices),
    ("exit_type", ExitType.MANUAL, ExitType.choices),
)


def _contract_and_times(raw: dict, out: dict, errors: _Errors) -> None:
    if _present(raw, "trade_id"):
        with errors.collect():
            out["trade_id"] = _trade_id(raw["trade_id"])
    if _present(raw, "symbol"):
        with errors.collect():
            out["symbol"] = _symbol(raw["symbol"])
    if _present(raw, "instrument_type"):
        with errors.collect():
            out["instrument_type"] = _choice(
                "instrument_type", _instrument_alias(raw["instrument_type"]), InstrumentType.choices
            )
    for name, default, choices in _CHOICES:
        with errors.collect():
            out[name] = _choice(name, raw.get(name) or default, choices)
    for name in ("entry_time", "exit_time"):
        if _present(raw, name):
            with errors.collect():
                out[name] = _datetime(name, raw[name])
    if "entry_time" in out and "exit_time" in out and out["exit_time"] < out["entry_time"]:
        errors.add("exit_time", "exit is before entry")
    if _present(raw, "expiry_date"):
        with errors.collect():
            out["expiry_date"] = _date("expiry_date", raw["expiry_date"])


def _price_of(name: str, value, *, on_tick: bool) -> Decimal:
    price = _decimal(name, value)
    if price < 0:
        raise ValidationError({name: "must not be negative"})
    if on_tick and price % TICK != 0:
        raise ValidationError({name: f"{price} is off the 0.05 tick"})
    return price


def _prices(raw: dict, out: dict, errors: _Errors) -> None:
    """Prices: finite, not negative, premiums on the 0.05 tick (an EXPIRY exit is a settlement value,
    to the paisa), an exit at 0 only at expiry."""
    settled = out.get("exit_type") == ExitType.EXPIRY
    for name in _PRICE_FIELDS:
        if _present(raw, name):
            with errors.collect():
                on_tick = name in _TICK_FIELDS and not (name == "exit_price" and settled)
                out[name] = _price_of(name, raw[name], on_tick=on_tick)
        elif name not in REQUIRED:
            out[name] = None
    if out.get("strike_price") is not None and out["strike_price"] <= 0:
        errors.add("strike_price", "must be positive")
    if out.get("entry_price") == 0:
        errors.add("entry_price", "an entry at 0 is not a trade")
    if out.get("exit_price") == 0 and out.get("exit_type") not in (None, ExitType.EXPIRY):
        errors.add("exit_price", "an exit at 0 is allowed only for exit type EXPIRY")


def _whole(name: str, value) -> int:
    try:
        number = int(Decimal(str(value)))
        if Decimal(str(value)) != number:
            raise ValueError
    except (InvalidOperation, ValueError) as exc:
        raise ValidationError({name: f"not a whole number: {value!r}"}) from exc
    return number


def _quantity(raw: dict, out: dict, errors: _Errors) -> None:
    """Quantity: a positive whole number of the contract's lots (``lots`` must agree if given)."""
    for name in ("entry_orders", "exit_orders"):
        with errors.collect():
            try:
                out[name] = int(raw.get(name) or 1)
            except (TypeError, ValueError) as exc:
                raise ValidationError({name: f"not a whole number: {raw.get(name)!r}"}) from exc
            if out[name] < 1:
                raise ValidationError({name: "at least one executed order"})
    if not _present(raw, "quantity"):
        return
    with errors.collect():
        quantity = _whole("quantity", raw["quantity"])
        if quantity <= 0:
            raise ValidationError({"quantity": "must be positive"})
        out["quantity"] = quantity
    if "quantity" not in out or "symbol" not in out or "expiry_date" not in out:
        return
    quantity = out["quantity"]
    try:
        lot = _lot_size(out["symbol"], out["expiry_date"])
    except ValidationError as exc:
        with errors.collect():
            raise exc
        return
    if quantity % lot:
        errors.add(
            "quantity",
            f"{quantity} is not a whole number of {out['symbol']} lots of {lot} (expiry {out['expiry_date']})",
        )
        return
    out["lots"] = quantity // lot
    with errors.collect():
        try:
            given_lots = int(raw["lots"]) if _present(raw, "lots") else None
        except (TypeError, ValueError) as exc:
            raise ValidationError({"lots": f"not a whole number: {raw.get('lots')!r}"}) from exc
        if given_lots is not None and given_lots != out["lots"]:
            raise ValidationError(
                {"lots": f"{raw['lots']} lots disagree with quantity {quantity} / lot size {lot}"}
            )


def _numbers(raw: dict, out: dict, errors: _Errors) -> None:
    """Plain numbers (context, strength: NaN/inf stored as unknown) and rupee amounts (to the paisa);
    MAE (the worst unrealised P&L) is never above 0, MFE (the best) never below."""
    for name in _FLOAT_FIELDS:
        value = raw.get(name)
        if value in (None, ""):
            out[name] = None
            continue
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            errors.add(name, f"not a number: {value!r}")
            continue
        out[name] = number if number == number and abs(number) != float("inf") else None
    for name in _MONEY_FIELDS:
        value = raw.get(name)
        out[name] = None
        if value not in (None, ""):
            with errors.collect():
                out[name] = _decimal(name, value).quantize(PAISA, ROUND_HALF_UP)
    if out.get("mae") is not None and out["mae"] > 0:
        errors.add("mae", f"{out['mae']} is above 0: MAE is the worst unrealised P&L (rupees, <= 0)")
    if out.get("mfe") is not None and out["mfe"] < 0:
        errors.add("mfe", f"{out['mfe']} is below 0: MFE is the best unrealised P&L (rupees, >= 0)")


# Free text (line breaks allowed) and one-line labels of a trade.
_FREE_TEXTS = ("signal_reason", "exit_reason", "notes")
_LABELS = ("entry_order_id", "exit_order_id", "strategy_name")


def _texts_and_links(raw: dict, out: dict, errors: _Errors) -> None:
    for name in (*_FREE_TEXTS, *_LABELS):
        with errors.collect():
            out[name] = _text(name, raw.get(name), label=name in _LABELS)
    out["strategy_name"] = out.get("strategy_name") or "MANUAL"
    with errors.collect():
        out["tags"] = _normalize_tags(raw.get("tags"))
    features = raw.get("entry_features") or {}
    problem = None if isinstance(features, dict) else ("entry_features", "expected an object")
    problem = problem or inputs.json_problem(features)
    if problem:
        errors.add("entry_features", problem[1])
    out["entry_features"] = features
    if "symbol" not in out:
        return
    with errors.collect():
        out["exchange"] = _text(
            "exchange", raw.get("exchange") or _fo_exchange(out["symbol"]), label=True
        ).upper()
        out["tradingsymbol"] = _text("tradingsymbol", raw.get("tradingsymbol"), label=True) or (
            _tradingsymbol(out["symbol"], out["expiry_date"], out["strike_price"], out["instrument_type"])
            if {"expiry_date", "strike_price", "instrument_type"} <= out.keys()
            else ""
        )
    for link in ("signal", "backtest_run"):
        if raw.get(link) is not None or raw.get(f"{link}_id") is not None:
            target = raw.get(link)
            out[f"{link}_id"] = getattr(target, "pk", target) if target is not None else raw.get(f"{link}_id")
    if _present(raw, "combo_id"):  # a leg of a combo: linked by the combo's own id
        with errors.collect():
            out["combo_id"] = _trade_id(raw["combo_id"])


# The close of a session is part of it for a trade: an option expiring that day settles then.
_INSTANT = timedelta(microseconds=1)


def session_problem(moment: datetime, exchange: str) -> str | None:
    """Why ``moment`` is outside every session of ``exchange``'s calendar (None: inside one, its
    close included)."""
    if market_calendar.is_in_session(moment, exchange) or market_calendar.is_in_session(
        moment - _INSTANT, exchange
    ):
        return None
    local = moment.astimezone(IST)
    day = local.date()
    sessions = market_calendar.session_hours(day, exchange)
    if not sessions.is_open:
        return f"{local:%Y-%m-%d %H:%M} IST: {exchange} has no session on {day:%A}, {day}"
    hours = ", ".join(f"{start:%H:%M}-{end:%H:%M}" for start, end in sessions.windows)
    return f"{local:%Y-%m-%d %H:%M} IST is outside the {exchange} sessions of {day} ({hours} IST)"


def _check_when(out: dict, errors: _Errors, now: datetime) -> None:
    """Times inside a session of the exchange's calendar, not after the contract's expiry (its
    session's close) and not after the caller's ``now``."""
    times = [name for name in ("entry_time", "exit_time") if name in out]
    if "symbol" in out:
        exchange = charges_mod.exchange_of(out["symbol"])
        for name in times:
            problem = session_problem(out[name], exchange)
            if problem:
                errors.add(name, problem)
    if "expiry_date" in out:
        for name in times:
            if market_calendar.ist_date(out[name]) > out["expiry_date"]:
                errors.add(name, f"after the contract's expiry on {out['expiry_date']}")
    for name in times:
        if out[name] > now:
            errors.add(name, f"in the future (it is {now.astimezone(IST):%Y-%m-%d %H:%M:%S} IST)")


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


def _derive_attribution(out: dict) -> None:
    """The gross P&L split into delta, gamma, theta, vega and residual from the entry and exit
    snapshots (``trading.core.attribution``); None parts without them."""
    out.update(attribution.stored_parts(attribution.attribute_trade(out)))


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
    naming each such field - never a database error later."""
    errors = _Errors()
    for name, value in values.items():
        if value is None or isinstance(value, bool):
            continue
        try:
            field = Trade._meta.get_field(name)
        except FieldDoesNotExist:
            continue
        if isinstance(value, str) and field.max_length and len(value) > field.max_length:
            errors.add(name, f"at most {field.max_length} characters")
        if isinstance(field, models.DecimalField):
            if abs(value) >= Decimal(10) ** (field.max_digits - field.decimal_places):
                errors.add(name, f"out of range: {value}")
        elif isinstance(field, models.IntegerField) and abs(value) > 2_147_483_647:
            errors.add(name, f"out of range: {value}")
        elif isinstance(field, models.FloatField) and abs(value) > 1e300:
            errors.add(name, f"out of range: {value}")
    errors.raise_any()


def _instrument_alias(value) -> str:
    v = str(value).strip().upper()
    return {"CE": "CALL", "PE": "PUT", "C": "CALL", "P": "PUT"}.get(v, v)


def _lot_size(symbol: str, expiry: date) -> int:
    try:
        return contracts.lot_size(symbol, expiry)
    except (KeyError, ValueError) as exc:
        raise ValidationError({"symbol": f"no lot size of {symbol} for expiry {expiry}: {exc}"}) from exc


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


def record_trade(*, now: datetime, origin: str = TradeOrigin.MANUAL, **fields) -> Trade:
    """Validate, derive and store one closed trade exactly once; return it.

    ``now`` is the caller's clock (aware): the wall clock for a person (page, API, import, admin),
    the feed's clock for the engine. Times outside a session of the exchange's calendar, after the
    contract's expiry or after ``now`` are refused (``derive_trade``). ``origin`` says who writes it
    (``TradeOrigin``: the engine's risk figures count only ENGINE trades); a trade that is not the
    engine's may not take the id of one of the engine's positions (``reserve_trade_ids``).

    A second call with the same ``trade_id`` returns the stored trade and changes nothing. The day's
    DailyPerformance and the strategy's StrategyPerformance refresh in the same transaction. If the
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
        _discard_broken_connection()
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
    origin = _choice("origin", origin, TradeOrigin.choices)
    values = derive_trade(fields, now=now)
    values["origin"] = origin
    return values


def record_trades(
    *, now: datetime, origin: str = TradeOrigin.MANUAL, trades: Iterable[dict], **common
) -> list[Trade]:
    """Validate, derive and store many closed trades at once: ``record_trade``'s bulk sibling (a
    backtest's journal). Returns the trades it stored.

    Each trade is ``common`` updated with one dict of ``trades`` (e.g. ``backtest_run=run`` in
    ``common``), checked exactly as ``record_trade`` checks one (``_checked``, against ``now``) -
    all of them before anything is written: a bad one raises ``ValidationError`` (its position in
    ``trades`` and its fields) and stores none. Then, in one transaction, the new ones are inserted
    in bulk and the performance rows they touch are rebuilt once (``performance.refresh_keys``).
    A ``trade_id`` already stored (or twice in ``trades``) is stored once, as ``record_trade`` does.
    No spool: a database error raises and nothing is stored (a backtest is run again, not replayed).
    """
    values: list[dict] = []
    seen: set[str] = set()
    for position, fields in enumerate(trades):
        try:
            checked = _checked({**common, **fields}, now=now, origin=origin)
        except ValidationError as exc:
            raise ValidationError(
                {f"trades[{position}].{name}": msgs for name, msgs in _message_dict(exc).items()}
            ) from exc
        _check_reserved(checked["trade_id"], checked["origin"])
        if checked["trade_id"] not in seen:
            seen.add(checked["trade_id"])
            values.append(checked)
    created: list[Trade] = []
    with transaction.atomic():
        stored: set[str] = set()
        ids = [v["trade_id"] for v in values]
        for chunk in range(0, len(ids), 5000):
            stored.update(
                Trade.objects.filter(trade_id__in=ids[chunk : chunk + 5000]).values_list(
                    "trade_id", flat=True
                )
            )
        created = Trade.objects.bulk_create(
            [Trade(**v) for v in values if v["trade_id"] not in stored], batch_size=1000
        )
        performance.refresh_keys({(t.trade_date, t.entry_mode, t.strategy_name) for t in created})
        for trade in created:
            _trade_event(trade)
    for trade in created:
        trade.spooled = False
        _after_commit(trade, None)  # a bulk write is never the live engine's close
    return created


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


def _discard_broken_connection() -> None:
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


def _after_commit(trade: Trade, handed_at: float | None) -> None:
    """Hooks run once the trade is committed (metrics, live dashboard)."""
    for hook in _trade_hooks:
        transaction.on_commit(lambda hook=hook: hook(trade, handed_at))


_trade_hooks: list = []


def on_trade_recorded(hook) -> None:
    """Register ``hook(trade, handed_at)`` to run after each newly committed trade; ``handed_at`` is
    the wall-clock Unix time the engine closed it (also for a trade replayed from the spool), None
    for a trade that is not the engine's."""
    _trade_hooks.append(hook)


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


# An edit of these re-checks the trade's times against the calendar and the wall clock.
WHEN_FIELDS = frozenset({"entry_time", "exit_time", "expiry_date", "symbol"})


@transaction.atomic
def trade_update(*, trade: Trade, user=None, source: str = "admin", **changes) -> Trade:
    """Apply a manual edit: re-validate, re-derive every computed field, save, audit each changed
    field (who, when, old -> new) and refresh the performance rows the trade left and joined.

    With a ``user``: notes and tags need ``access.ANNOTATE_TRADE``, any other field
    ``access.CORRECT_TRADE`` (``PermissionDenied`` otherwise). A change of a time, the expiry or the
    index is checked against the calendar and the wall clock as a new trade is."""
    bad = sorted(set(changes) - set(EDITABLE))
    if bad:
        raise ValidationError({bad[0]: "this field cannot be edited"})
    if user is not None:
        access.require(
            user, access.ANNOTATE_TRADE if set(changes) <= access.ANNOTATION_FIELDS else access.CORRECT_TRADE
        )
    trade = Trade.objects.select_for_update().get(pk=trade.pk)
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
    performance.refresh_keys({old_keys, (trade.trade_date, trade.entry_mode, trade.strategy_name)})
    return trade


@transaction.atomic
def trade_delete(*, trade: Trade, user=None, source: str = "api") -> None:
    """Delete a trade, audit it on the control log, and refresh its performance rows. With a
    ``user``: needs ``access.DELETE_TRADE``."""
    if user is not None:
        access.require(user, access.DELETE_TRADE)
    keys = {(trade.trade_date, trade.entry_mode, trade.strategy_name)}
    ControlAudit.objects.create(
        user=user_or_none(user),
        action="trade_delete",
        old_value=f"{trade.trade_id} net {trade.net_pnl}",
        detail=f"source={source}",
    )
    trade.delete()
    performance.refresh_keys(keys)
