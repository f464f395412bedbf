"""The journal's columns, as the API shows them and the exports write them.

``TRADE_COLUMNS`` is the one list: the API's trade objects have exactly these keys, in this order, and
the CSV/Excel exports have exactly these headers. Formats, the same in the API and the exports:

* date-times: ISO 8601 in IST, ``2026-05-05T09:30:00+05:30`` (stored in UTC; the CSV export writes
  them as PostgreSQL prints them, ``2026-05-05 09:30:00+05:30``);
* dates: ``YYYY-MM-DD``; rupees and premiums: decimal strings with their stored places (``"1234.59"``);
* booleans: JSON ``true``/``false`` (CSV ``true``/``false``); missing values: ``null`` (CSV empty);
* ``tags``: a list in the API, ``a,b`` in a CSV cell; ``entry_features``: an object (CSV: JSON text);
* text cells of the exports that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, tab,
  CR first) start with ``'`` (``journal.spreadsheet``); the API shows the text as it is.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from journal import spreadsheet
from journal.combos import COMBO_FIELDS, COMBO_TOTALS
from journal.derive import derive_trade
from journal.models import Combo, Trade

IST = ZoneInfo("Asia/Kolkata")

# Every stored column of a trade, in the model's order (foreign keys by their ``*_id`` column).
TRADE_COLUMNS: tuple[str, ...] = tuple(field.attname for field in Trade._meta.concrete_fields)


def column_kind(name: str) -> str:
    """How a column is formatted: datetime, date, decimal, float, int, bool, tags, json or text."""
    if name == "tags":
        return "tags"
    if name in ("signal_id", "backtest_run_id"):
        return "int"
    field = Trade._meta.get_field(name)
    if isinstance(field, models.AutoField):
        return "int"
    if isinstance(field, models.DateTimeField):
        return "datetime"
    if isinstance(field, models.DateField):
        return "date"
    if isinstance(field, models.DecimalField):
        return "decimal"
    if isinstance(field, models.FloatField):
        return "float"
    if isinstance(field, models.IntegerField):
        return "int"
    if isinstance(field, models.BooleanField):
        return "bool"
    if isinstance(field, models.JSONField):
        return "json"
    return "text"


COLUMN_KINDS: dict[str, str] = {name: column_kind(name) for name in TRADE_COLUMNS}


def format_datetime(value: datetime) -> str:
    """A stored (UTC) date-time as the API shows it: ISO 8601 in IST (``2026-05-05T09:30:00+05:30``)."""
    return value.astimezone(IST).isoformat()


def csv_datetime(value: datetime) -> str:
    """A stored date-time as the CSV export writes it: what PostgreSQL prints for a timestamptz in a
    session in IST (``2026-05-05 09:30:00+05:30``; a fraction of a second only when there is one, its
    trailing zeros trimmed), so that COPY and the Python writer write the same file."""
    local = value.astimezone(IST)
    text = local.strftime("%Y-%m-%d %H:%M:%S")
    if local.microsecond:
        text += f".{local.microsecond:06d}".rstrip("0")
    return text + "+05:30"


def _api_formatter(name: str, kind: str) -> Callable:
    if kind == "datetime":
        return format_datetime
    if kind == "date":
        return date.isoformat
    if kind == "decimal":
        # Both backends hand back Decimals at the field's scale ("120.00"), as PostgreSQL's COPY prints.
        return str
    if kind == "tags":
        return lambda v: [t for t in v.split(",") if t]
    return lambda v: v


API_FORMATTERS: dict[str, Callable] = {
    name: _api_formatter(name, kind) for name, kind in COLUMN_KINDS.items()
}


# Formatter per column, None where the value is shown as it is (skipping an identity call per cell).
_API_CONVERT = tuple(
    None if COLUMN_KINDS[name] in ("text", "int", "float", "bool", "json") else API_FORMATTERS[name]
    for name in TRADE_COLUMNS
)


def trade_values(trade: Trade) -> tuple:
    """The raw column values of a trade instance, in TRADE_COLUMNS order."""
    return tuple(getattr(trade, name) for name in TRADE_COLUMNS)


def trade_representation(values: tuple) -> dict:
    """The API object of one trade from its raw column values (fast: no DRF field machinery, since
    a page of 50 trades x 74 columns through DRF fields costs more than the query)."""
    return {
        name: value if fmt is None or value is None else fmt(value)
        for name, fmt, value in zip(TRADE_COLUMNS, _API_CONVERT, values)
    }


def _float_text(value: float) -> str:
    """A float as PostgreSQL prints it (shortest round-trip digits, ``26`` not ``26.0``)."""
    text = repr(value)
    return text[:-2] if text.endswith(".0") else text


def _csv_formatter(name: str, kind: str) -> Callable:
    if kind == "bool":
        return lambda v: "true" if v else "false"
    if kind == "tags":
        return lambda v: spreadsheet.escape(v.strip(","))
    if kind == "text":
        return spreadsheet.escape
    if kind == "json":
        return lambda v: json.dumps(v, ensure_ascii=False)
    if kind == "float":
        return _float_text
    if kind == "datetime":
        return csv_datetime
    api = API_FORMATTERS[name]
    return lambda v: str(api(v))


CSV_FORMATTERS: dict[str, Callable] = {
    name: _csv_formatter(name, kind) for name, kind in COLUMN_KINDS.items()
}


def trade_csv_row(values: tuple) -> list[str]:
    """One CSV row of a trade from its raw column values (empty string for a missing value)."""
    return ["" if v is None else CSV_FORMATTERS[name](v) for name, v in zip(TRADE_COLUMNS, values)]


@extend_schema_field({"type": "array", "items": {"type": "string"}})
class TagsField(serializers.Field):
    """Tags: a list of strings (stored as ``,a,b,``); a comma-separated string is accepted on input."""

    def to_representation(self, value):
        return [t for t in value.split(",") if t]

    def to_internal_value(self, data):
        return data


class TradeSerializer(serializers.ModelSerializer):
    """A journal trade: every column of ``TRADE_COLUMNS``, read-only (writes go through services)."""

    tags = TagsField()
    signal_id = serializers.IntegerField(allow_null=True)
    backtest_run_id = serializers.IntegerField(allow_null=True)
    entry_time = serializers.DateTimeField(help_text="ISO 8601, IST")
    exit_time = serializers.DateTimeField(help_text="ISO 8601, IST")

    class Meta:
        model = Trade
        fields = TRADE_COLUMNS
        read_only_fields = TRADE_COLUMNS

    def to_representation(self, instance: Trade) -> dict:
        return trade_representation(trade_values(instance))


class TradeInputSerializer(serializers.Serializer):
    """Schema of a manual trade (POST) and of an edit (PATCH). Documentation only: the body is
    validated by ``journal.derive.derive_trade`` exactly as ``record_trade`` validates."""

    trade_id = serializers.CharField(max_length=64)
    entry_time = serializers.DateTimeField(help_text="ISO 8601 with a zone, e.g. 2026-05-05T09:30:00+05:30")
    exit_time = serializers.DateTimeField()
    symbol = serializers.CharField(help_text="Underlying index: NIFTY, BANKNIFTY, ...")
    instrument_type = serializers.CharField(help_text="CALL or PUT (CE/PE accepted)")
    strike_price = serializers.DecimalField(max_digits=12, decimal_places=2)
    expiry_date = serializers.DateField()
    entry_price = serializers.DecimalField(max_digits=12, decimal_places=2, help_text="On the 0.05 tick")
    exit_price = serializers.DecimalField(max_digits=12, decimal_places=2, help_text="On the 0.05 tick")
    quantity = serializers.IntegerField(help_text="Units: a whole number of lots")
    side = serializers.CharField(required=False, help_text="LONG (default) or SHORT")
    entry_mode = serializers.CharField(required=False, help_text="PAPER (default), LIVE or BACKTEST")
    data_source = serializers.CharField(required=False, help_text="SIM (default), REPLAY or KITE")
    exit_type = serializers.CharField(required=False)
    strategy_name = serializers.CharField(required=False, max_length=64)
    stop_loss_price = serializers.DecimalField(max_digits=12, decimal_places=2, required=False)
    target_price = serializers.DecimalField(max_digits=12, decimal_places=2, required=False)
    vix_entry = serializers.FloatField(required=False)
    pcr_entry = serializers.FloatField(required=False)
    tags = serializers.ListField(child=serializers.CharField(), required=False)
    notes = serializers.CharField(required=False)
    signal_id = serializers.IntegerField(required=False)


class SpooledTradeSerializer(serializers.Serializer):
    """``202``: the database was unreachable; the trade is spooled and written when it is back."""

    trade_id = serializers.CharField()
    spooled = serializers.BooleanField()


class TradePatchSerializer(serializers.Serializer):
    """Schema of an edit (PATCH): notes, tags, or a correction of any raw fact."""

    notes = serializers.CharField(required=False)
    tags = serializers.ListField(child=serializers.CharField(), required=False)
    exit_price = serializers.DecimalField(max_digits=12, decimal_places=2, required=False)
    exit_type = serializers.CharField(required=False)


class TradeHistorySerializer(serializers.Serializer):
    """``GET /api/trades/history``: one page of the journal, with the filtered set's size."""

    trades = TradeSerializer(many=True)
    total = serializers.IntegerField()
    page = serializers.IntegerField()
    page_size = serializers.IntegerField()


class TradeTotalsSerializer(serializers.Serializer):
    """Totals of a filtered set of trades."""

    trades = serializers.IntegerField()
    wins = serializers.IntegerField()
    win_rate = serializers.DecimalField(max_digits=7, decimal_places=2)
    gross_pnl = serializers.DecimalField(max_digits=16, decimal_places=2)
    total_charges = serializers.DecimalField(max_digits=16, decimal_places=2)
    net_pnl = serializers.DecimalField(max_digits=16, decimal_places=2)


def validation_error_detail(exc: DjangoValidationError) -> dict | list:
    """A Django ValidationError as DRF error detail, keyed by field where it names one."""
    if hasattr(exc, "error_dict"):
        return exc.message_dict
    return {"non_field_errors": exc.messages}


# --- Input checks of the write endpoints ------------------------------------------------------------
#
# ``derive_trade`` is the validation of record (ranges, dates, lengths); these checks only cover what
# JSON adds: values of the wrong JSON type, and ids that must name existing rows.


def _bad(name: str, message: str) -> serializers.ValidationError:
    return serializers.ValidationError({name: [message]})


def check_trade_input(data) -> dict:
    """The body of a trade write as a dict, with values ``derive_trade`` can take without crashing.

    Raises DRF ``ValidationError`` (400) naming the field.
    """
    if not isinstance(data, dict):
        raise serializers.ValidationError({"non_field_errors": ["expected a JSON object of trade fields"]})
    for name, value in data.items():
        if value in (None, ""):
            continue
        if name in ("entry_time", "exit_time", "expiry_date") and not isinstance(value, str):
            raise _bad(name, f"expected an ISO 8601 string, not {value!r}")
        if isinstance(value, bool | dict | list) and name not in ("tags", "entry_features"):
            raise _bad(name, f"not a plain value: {value!r}")
        if name in ("signal_id", "backtest_run_id"):
            if type(value) is not int or value < 1:
                raise _bad(name, f"not an id: {value!r}")
            # The row it links to, named by the Trade's own foreign key (signal or backtest run).
            model = Trade._meta.get_field(name.removesuffix("_id")).related_model
            if not model.objects.filter(pk=value).exists():
                raise _bad(name, f"no {model.__name__} with id {value}")
        elif name in ("signal", "backtest_run"):
            raise _bad(name, f"give {name}_id")
        elif name == "tags" and not isinstance(value, str | list):
            raise _bad(name, "a list of strings, or one comma-separated string")
        elif name == "tags" and isinstance(value, list) and not all(isinstance(t, str) for t in value):
            raise _bad(name, "a list of strings")
    return dict(data)


def derive_checked(raw: dict, *, now: datetime | None = None) -> dict:
    """``derive_trade(raw, now=now)`` with its ValidationError (naming each field) as a 400."""
    try:
        return derive_trade(raw, now=now)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(validation_error_detail(exc)) from None


class ComboSerializer(serializers.ModelSerializer):
    """A combo (multi-leg position) with the ids of its legs' trades; money in rupees, ``max_profit``
    / ``max_loss`` null when unlimited (``payoff_known``), the margin an estimate unless
    ``margin_is_estimate`` is false."""

    trades = serializers.SlugRelatedField(many=True, read_only=True, slug_field="trade_id")

    class Meta:
        model = Combo
        fields = (
            *(name for name in COMBO_FIELDS if name not in ("engine", "backtest_run_id")),
            *COMBO_TOTALS,
            "trades",
        )
        read_only_fields = fields
