"""What a trade is made of, checked and derived without the database: the raw facts a caller gives
(``REQUIRED``, ``OPTIONAL``), the fields derived from them (``DERIVED``: charges, P&L, R-multiple,
attribution...) and ``derive_trade``, which validates the facts against the calendar, the contract and
the caller's clock and derives the rest. ``journal.services`` writes what this returns."""

from __future__ import annotations

import functools
import logging
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models

from journal.fields import (
    FieldErrors,
    choice_of,
    date_of,
    datetime_of,
    decimal_of,
    normalize_tags,
    text_of,
)
from journal.models import Trade
from trading import inputs
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


def derive_trade(raw: dict, *, now: datetime | None = None) -> dict:
    """Validate the raw facts of a trade and return every Trade field (raw + derived).

    With ``now`` - the caller's clock: the wall clock for a person (page, API, import, admin), the
    feed's clock for the engine, whose simulated sessions may run ahead of it - the times are checked
    too: entry and exit inside a session of the exchange's calendar, the exit not after the contract's
    expiry, neither after ``now``. Raises ``ValidationError`` naming every bad field at once (a
    check whose input is already bad is skipped). Touches no database.
    """
    errors = FieldErrors()
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


def _check_names(raw: dict, errors: FieldErrors) -> None:
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
    symbol = text_of("symbol", value, label=True).strip().upper()
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


def _contract_and_times(raw: dict, out: dict, errors: FieldErrors) -> None:
    if _present(raw, "trade_id"):
        with errors.collect():
            out["trade_id"] = _trade_id(raw["trade_id"])
    if _present(raw, "symbol"):
        with errors.collect():
            out["symbol"] = _symbol(raw["symbol"])
    if _present(raw, "instrument_type"):
        with errors.collect():
            out["instrument_type"] = choice_of(
                "instrument_type", _instrument_alias(raw["instrument_type"]), InstrumentType.choices
            )
    for name, default, choices in _CHOICES:
        with errors.collect():
            out[name] = choice_of(name, raw.get(name) or default, choices)
    for name in ("entry_time", "exit_time"):
        if _present(raw, name):
            with errors.collect():
                out[name] = datetime_of(name, raw[name])
    if "entry_time" in out and "exit_time" in out and out["exit_time"] < out["entry_time"]:
        errors.add("exit_time", "exit is before entry")
    if _present(raw, "expiry_date"):
        with errors.collect():
            out["expiry_date"] = date_of("expiry_date", raw["expiry_date"])


def _price_of(name: str, value, *, on_tick: bool) -> Decimal:
    price = decimal_of(name, value)
    if price < 0:
        raise ValidationError({name: "must not be negative"})
    if on_tick and price % TICK != 0:
        raise ValidationError({name: f"{price} is off the 0.05 tick"})
    return price


def _prices(raw: dict, out: dict, errors: FieldErrors) -> None:
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


def _quantity(raw: dict, out: dict, errors: FieldErrors) -> None:
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


def _numbers(raw: dict, out: dict, errors: FieldErrors) -> None:
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
                out[name] = decimal_of(name, value).quantize(PAISA, ROUND_HALF_UP)
    if out.get("mae") is not None and out["mae"] > 0:
        errors.add("mae", f"{out['mae']} is above 0: MAE is the worst unrealised P&L (rupees, <= 0)")
    if out.get("mfe") is not None and out["mfe"] < 0:
        errors.add("mfe", f"{out['mfe']} is below 0: MFE is the best unrealised P&L (rupees, >= 0)")


# Free text (line breaks allowed) and one-line labels of a trade.
_FREE_TEXTS = ("signal_reason", "exit_reason", "notes")
_LABELS = ("entry_order_id", "exit_order_id", "strategy_name")


def _texts_and_links(raw: dict, out: dict, errors: FieldErrors) -> None:
    for name in (*_FREE_TEXTS, *_LABELS):
        with errors.collect():
            out[name] = text_of(name, raw.get(name), label=name in _LABELS)
    out["strategy_name"] = out.get("strategy_name") or "MANUAL"
    with errors.collect():
        out["tags"] = normalize_tags(raw.get("tags"))
    features = raw.get("entry_features") or {}
    problem = None if isinstance(features, dict) else ("entry_features", "expected an object")
    problem = problem or inputs.json_problem(features)
    if problem:
        errors.add("entry_features", problem[1])
    out["entry_features"] = features
    if "symbol" not in out:
        return
    with errors.collect():
        out["exchange"] = text_of(
            "exchange", raw.get("exchange") or _fo_exchange(out["symbol"]), label=True
        ).upper()
        out["tradingsymbol"] = text_of("tradingsymbol", raw.get("tradingsymbol"), label=True) or (
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


def _check_when(out: dict, errors: FieldErrors, now: datetime) -> None:
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
    errors = FieldErrors()
    limits = _storable_limits()
    for name, value in values.items():
        if value is None or isinstance(value, bool):
            continue
        limit = limits.get(name)
        if limit is None:
            continue
        max_length, kind, bound = limit
        if isinstance(value, str) and max_length and len(value) > max_length:
            errors.add(name, f"at most {max_length} characters")
        if kind == "decimal":
            out_of_range = abs(value) >= bound
        else:
            out_of_range = kind is not None and abs(value) > bound
        if out_of_range:
            errors.add(name, f"out of range: {value}")
    errors.raise_any()


@functools.cache
def _storable_limits() -> dict[str, tuple[int | None, str | None, Any]]:
    """Per Trade field: (max length, kind of number, bound) - ``_check_storable``'s table, built once.
    A decimal is out of range at ``>= bound``, an integer or a float above ``bound``."""
    out: dict[str, tuple[int | None, str | None, Any]] = {}
    for field in Trade._meta.concrete_fields:
        kind, bound = None, None
        if isinstance(field, models.DecimalField):
            kind, bound = "decimal", Decimal(10) ** (field.max_digits - field.decimal_places)
        elif isinstance(field, models.IntegerField):
            kind, bound = "integer", 2_147_483_647
        elif isinstance(field, models.FloatField):
            kind, bound = "float", 1e300
        out[field.name] = out[field.attname] = (field.max_length, kind, bound)
    return out


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
