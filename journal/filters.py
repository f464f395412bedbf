"""The one filter of the journal: ``TradeFilterSet`` serves the journal page, ``/api/trades/``,
``/api/trades/history`` and the CSV/Excel exports, so that a filter means the same thing everywhere.

Query parameters (all optional, all combinable):

=================  ==============================================================================
``date_from``      trade_date >= this date (YYYY-MM-DD; a trade belongs to the IST date of its exit)
``date_to``        trade_date <= this date
``exit_from``      exit_time >= this ISO 8601 date-time (naive means IST; offsets under 16 hours)
``exit_to``        exit_time <= this ISO 8601 date-time
``strategy``       strategy_name, exact
``symbol``         underlying index, e.g. NIFTY (case-insensitive)
``instrument_type`` CALL or PUT (CE/PE accepted)
``mode``           entry_mode: PAPER, LIVE or BACKTEST
``status``         CLOSED
``winning``        true/false (a win is net P&L > 0)
``tag``            one tag, exact (tags are stored as ``,a,b,``; ``tag=a`` never matches ``ab``)
``exit_type``      TARGET, STOP_LOSS, ...
``pnl_min``        net_pnl >= this (rupees)
``pnl_max``        net_pnl <= this
``vix_min``        India VIX at entry >= this
``vix_max``        India VIX at entry <= this
``pcr_min``        PCR at entry >= this
``pcr_max``        PCR at entry <= this
``backtest_run``   the trades of one backtest run (its id)
=================  ==============================================================================

A value that does not parse makes the filterset invalid with the error under the parameter's name
(``filterset.errors``); the API turns that into a 400 naming the field. Pages should do the same.
The API also refuses a choice or boolean parameter given empty (``?mode=``); on the journal page
``mode=`` means every mode.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django_filters.fields import IsoDateTimeField
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.exceptions import ValidationError as DRFValidationError

from journal.models import Combo, ComboStatus, Trade, TradeStatus
from trading import inputs
from trading.choices import ExitType, InstrumentType, Mode

# Filters whose whole effect the per-day counts of DailyPerformance (date, mode) can reproduce: with
# only these active, totals and page positions come from the performance table, not a COUNT(*).
DAILY_COUNTABLE = frozenset({"date_from", "date_to", "mode"})

# Bounds that keep a query parameter from reaching the database as a value it cannot compare
# (a Decimal with 10**6 digits, a date-time that overflows when converted to UTC).
_MAX_AMOUNT = Decimal("1e12")


class UpperChoiceField(forms.ChoiceField):
    """A choice given in any case (``paper`` == ``PAPER``), with aliases (``CE`` -> ``CALL``)."""

    def __init__(self, *args, aliases: Mapping[str, str] | None = None, **kwargs):
        self.aliases = dict(aliases or {})
        super().__init__(*args, **kwargs)

    def to_python(self, value):
        value = super().to_python(value)
        if not value:
            return value
        value = value.strip().upper()
        return self.aliases.get(value, value)


class UpperChoiceFilter(django_filters.ChoiceFilter):
    field_class = UpperChoiceField


class StrictBooleanField(forms.Field):
    """true/false, 1/0, yes/no; anything else is an error (a NullBooleanField would silently
    ignore ``winning=maybe`` and return every trade)."""

    TRUE = frozenset({"true", "1", "yes", "on", "t", "y"})
    FALSE = frozenset({"false", "0", "no", "off", "f", "n"})

    def to_python(self, value):
        if value in (None, ""):
            return None
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in self.TRUE:
            return True
        if text in self.FALSE:
            return False
        # The value goes in params: the message is %-formatted later, and a value may hold a "%".
        raise ValidationError(
            "not a boolean: %(value)r (use true or false)", code="invalid", params={"value": value}
        )


class StrictBooleanFilter(django_filters.Filter):
    field_class = StrictBooleanField


class BoundedIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time far enough from the calendar's ends to convert to UTC safely."""

    def to_python(self, value):
        result = super().to_python(value)
        if result is not None and not (2 <= result.year <= 9998):
            raise ValidationError("date-time out of range", code="invalid")
        # The offset as given stays on the value: PostgreSQL refuses 16 hours or more.
        problem = inputs.utc_offset_problem(result) if result is not None and result.tzinfo else None
        if problem:
            raise ValidationError(problem, code="invalid")
        return result


class BoundedIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = BoundedIsoDateTimeField


class FloatNumberFilter(django_filters.NumberFilter):
    """A number compared with a FloatField column: parsed as a bounded Decimal, sent as a float."""

    def filter(self, qs, value):
        return super().filter(qs, float(value) if value is not None else None)


class TradeFilterForm(forms.Form):
    """The FilterSet's form, plus the checks a single field cannot express."""

    def clean_tag(self):
        tag = self.cleaned_data.get("tag")
        if tag and "," in tag:
            raise ValidationError("one tag at a time, without commas", code="invalid")
        return tag


def _amount(field_name: str, lookup: str, label: str, cls=django_filters.NumberFilter):
    return cls(
        field_name=field_name,
        lookup_expr=lookup,
        label=label,
        min_value=-_MAX_AMOUNT,
        max_value=_MAX_AMOUNT,
        max_digits=20,
        decimal_places=6,
    )


class TradeFilterSet(django_filters.FilterSet):
    """Filters of the journal (see the module docstring for every parameter)."""

    date_from = django_filters.DateFilter(field_name="trade_date", lookup_expr="gte", label="Trade date from")
    date_to = django_filters.DateFilter(field_name="trade_date", lookup_expr="lte", label="Trade date to")
    exit_from = BoundedIsoDateTimeFilter(field_name="exit_time", lookup_expr="gte", label="Exit time from")
    exit_to = BoundedIsoDateTimeFilter(field_name="exit_time", lookup_expr="lte", label="Exit time to")
    strategy = django_filters.CharFilter(field_name="strategy_name", max_length=64, label="Strategy")
    symbol = django_filters.CharFilter(method="filter_symbol", max_length=20, label="Index")
    instrument_type = UpperChoiceFilter(
        choices=InstrumentType.choices, aliases={"CE": "CALL", "PE": "PUT"}, label="Instrument type"
    )
    mode = UpperChoiceFilter(field_name="entry_mode", choices=Mode.choices, label="Mode")
    status = UpperChoiceFilter(choices=TradeStatus.choices, label="Status")
    winning = StrictBooleanFilter(field_name="is_winning_trade", label="Winning")
    tag = django_filters.CharFilter(method="filter_tag", max_length=64, label="Tag")
    exit_type = UpperChoiceFilter(choices=ExitType.choices, label="Exit type")
    pnl_min = _amount("net_pnl", "gte", "Net P&L from")
    pnl_max = _amount("net_pnl", "lte", "Net P&L to")
    vix_min = _amount("vix_entry", "gte", "India VIX at entry from", FloatNumberFilter)
    vix_max = _amount("vix_entry", "lte", "India VIX at entry to", FloatNumberFilter)
    pcr_min = _amount("pcr_entry", "gte", "PCR at entry from", FloatNumberFilter)
    pcr_max = _amount("pcr_entry", "lte", "PCR at entry to", FloatNumberFilter)
    backtest_run = django_filters.NumberFilter(
        field_name="backtest_run_id", label="Backtest run", min_value=1, max_value=2**63 - 1, decimal_places=0
    )

    class Meta:
        model = Trade
        fields: list[str] = []
        form = TradeFilterForm

    def get_form_class(self):
        # The form's fields are the same for every request: build the class once per FilterSet class
        # (django-filter builds a new one per instance, a third of a filtered request's filter cost).
        cls = type(self)
        if "_form_class" not in cls.__dict__:
            cls._form_class = super().get_form_class()
        return cls._form_class

    def filter_symbol(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        # Symbols are stored upper-case by record_trade, so an exact match on the upper-cased value
        # keeps the symbol index usable (iexact would not).
        return queryset.filter(symbol=value.strip().upper())

    def filter_tag(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        tag = value.strip().lower()
        if not tag:
            return queryset
        return queryset.filter(tags__contains=f",{tag},")

    @property
    def active_filters(self) -> frozenset[str]:
        """Names of the filters that narrow the set (valid and non-empty). Call after is_valid()."""
        data = getattr(self.form, "cleaned_data", {}) or {}
        return frozenset(k for k, v in data.items() if v not in (None, "", [], ()))

    @property
    def is_daily_countable(self) -> bool:
        """True when only date/mode filters are active, so DailyPerformance counts the set."""
        return self.active_filters <= DAILY_COUNTABLE


TRADE_FILTER_NAMES: tuple[str, ...] = tuple(TradeFilterSet.base_filters)

# Filters of a closed set of values (choices, booleans): an empty one is refused by the API.
_CLOSED_SETS = (django_filters.ChoiceFilter, StrictBooleanFilter)


def refuse_empty_choices(params: Mapping, filterset_class: type[django_filters.FilterSet]) -> None:
    """400 naming each choice or boolean parameter given empty (``?mode=``): an empty value is none of
    the choices the schema lists, and reading it as "no filter" would hide a client's mistake."""
    empty = {
        name: [f"empty: give one of the documented values, or leave {name} out"]
        for name, flt in filterset_class.base_filters.items()
        if isinstance(flt, _CLOSED_SETS) and name in params and not str(params.get(name, "")).strip()
    }
    if empty:
        raise DRFValidationError(empty)


def filter_trades(params: Mapping, queryset: QuerySet | None = None) -> TradeFilterSet:
    """Bind ``params`` (a QueryDict or dict) to a TradeFilterSet; the caller checks ``is_valid()``."""
    return TradeFilterSet(data=params, queryset=queryset if queryset is not None else Trade.objects.all())


class FilterBackend(DjangoFilterBackend):
    """DjangoFilterBackend that skips building the FilterSet when the query names none of its
    filters (the common unfiltered page), and otherwise answers 400 naming each bad parameter."""

    def filter_queryset(self, request, queryset, view):
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is None or not set(request.query_params).intersection(
            filterset_class.base_filters
        ):
            return queryset
        refuse_empty_choices(request.query_params, filterset_class)
        return super().filter_queryset(request, queryset, view)


class ComboFilterSet(django_filters.FilterSet):
    """``/api/combos/``: by strategy, mode, status and template."""

    strategy = django_filters.CharFilter(field_name="strategy_name", max_length=64, label="Strategy")
    mode = UpperChoiceFilter(field_name="entry_mode", choices=Mode.choices, label="Mode")
    status = UpperChoiceFilter(choices=ComboStatus.choices, label="Status")
    template = django_filters.CharFilter(max_length=40, label="Template")

    class Meta:
        model = Combo
        fields: list[str] = []
