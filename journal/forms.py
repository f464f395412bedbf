"""Forms of the journal's pages. Each form validates exactly like the service it feeds: the manual
trade form runs ``derive_trade`` (what ``record_trade`` runs) and puts its errors next to the fields."""

from __future__ import annotations

import uuid
from datetime import datetime

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from journal.derive import REQUIRED, derive_trade
from journal.import_services import MAX_UPLOAD_BYTES
from journal.models import StrategyPerformance
from trading.choices import DataSource, ExitType, InstrumentType, Mode, Side
from trading.core import contracts

_DATETIME_INPUTS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%d", **kwargs)


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%dT%H:%M:%S", attrs={"step": "1"}, **kwargs)


def _price(label: str, required: bool = False, step: str = "0.05") -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        required=required,
        max_digits=12,
        decimal_places=2,
        widget=forms.NumberInput(attrs={"step": step, "inputmode": "decimal"}),
    )


def _float(label: str) -> forms.FloatField:
    return forms.FloatField(label=label, required=False, widget=forms.NumberInput(attrs={"step": "any"}))


def split_tags(text: str) -> list[str]:
    """Tags typed as ``a, b`` -> ``["a", "b"]`` (normalised by the service)."""
    return [t.strip() for t in (text or "").split(",") if t.strip()]


class ManualTradeForm(forms.Form):
    """A closed trade entered by hand. ``trade_id`` is a token made when the form is shown, so that
    submitting the same form twice records one trade (record_trade is idempotent on trade_id)."""

    trade_id = forms.CharField(widget=forms.HiddenInput, max_length=64)
    symbol = forms.ChoiceField(label="Index", choices=[(name, name) for name in contracts.INDICES])
    instrument_type = forms.ChoiceField(label="Option", choices=InstrumentType.choices)
    strike_price = _price("Strike", required=True, step="any")
    expiry_date = forms.DateField(label="Expiry", widget=DateInput())
    side = forms.ChoiceField(choices=Side.choices, initial=Side.LONG)
    quantity = forms.IntegerField(label="Quantity (units)", min_value=1, help_text="A whole number of lots")
    entry_time = forms.DateTimeField(
        label="Entry time (IST)", input_formats=_DATETIME_INPUTS, widget=DateTimeLocalInput()
    )
    entry_price = _price("Entry price", required=True)
    exit_time = forms.DateTimeField(
        label="Exit time (IST)", input_formats=_DATETIME_INPUTS, widget=DateTimeLocalInput()
    )
    exit_price = _price("Exit price", required=True)
    exit_type = forms.ChoiceField(label="Exit type", choices=ExitType.choices, initial=ExitType.MANUAL)
    entry_mode = forms.ChoiceField(
        label="Mode", choices=[(Mode.LIVE, "Live"), (Mode.PAPER, "Paper")], initial=Mode.LIVE
    )
    data_source = forms.ChoiceField(label="Market data", choices=DataSource.choices, initial=DataSource.KITE)
    strategy_name = forms.CharField(label="Strategy", max_length=64, initial="MANUAL")
    stop_loss_price = _price("Stop loss")
    target_price = _price("Target")
    spot_price_entry = _price("Spot at entry", step="any")
    spot_price_exit = _price("Spot at exit", step="any")
    vix_entry = _float("India VIX at entry")
    vix_exit = _float("India VIX at exit")
    pcr_entry = _float("PCR at entry")
    pcr_exit = _float("PCR at exit")
    mae = _price("MAE (Rs, <= 0)", step="0.01")
    mfe = _price("MFE (Rs, >= 0)", step="0.01")
    signal_reason = forms.CharField(
        label="Why I entered", required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    exit_reason = forms.CharField(
        label="Why I exited", required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    tags = forms.CharField(label="Tags", required=False, help_text="Comma-separated", max_length=500)
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, now: datetime | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.now = now or timezone.now()

    @staticmethod
    def new_token() -> str:
        return "MAN-" + uuid.uuid4().hex[:16]

    def clean(self):
        # Every error at once: the fields that parsed go through the service's checks too, so a
        # trade on a Saturday with an MAE above 0 shows both, beside a field that did not parse.
        cleaned = super().clean()
        raw = {k: v for k, v in cleaned.items() if v not in (None, "") or k in REQUIRED}
        raw["tags"] = split_tags(cleaned.get("tags", ""))
        try:
            derive_trade({k: v for k, v in raw.items() if k not in self.errors}, now=self.now)
        except ValidationError as exc:
            self.add_service_errors(exc, skip=set(self.errors))
        self.raw = raw
        return cleaned

    def add_service_errors(self, exc: ValidationError, skip: set[str] = frozenset()) -> None:
        """Put a service's ValidationError next to the fields it names (the rest above the form);
        ``skip``: fields whose own error is already shown (the service only saw them missing)."""
        if not hasattr(exc, "error_dict"):
            self.add_error(None, exc.messages)
            return
        for name, messages in exc.message_dict.items():
            if name in skip:
                continue
            if name in self.fields and not isinstance(self.fields[name].widget, forms.HiddenInput):
                self.add_error(name, messages)
            else:
                self.add_error(None, [f"{name}: {m}" for m in messages])


class TradeAnnotateForm(forms.Form):
    """Notes and tags of a trade, edited in place on its page."""

    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}))
    tags = forms.CharField(required=False, max_length=500, help_text="Comma-separated")

    def changes(self) -> dict:
        """The edit for ``trade_update``: notes as typed, tags as a list."""
        return {"notes": self.cleaned_data["notes"], "tags": split_tags(self.cleaned_data["tags"])}


COMBO_WINDOW_MAX = 6 * 3600  # a session: legs opened further apart are not "together"


class ImportUploadForm(forms.Form):
    """A CSV file: Zerodha Console's tradebook or the journal's own export."""

    file = forms.FileField(
        label="CSV file", widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"})
    )
    combo_window = forms.IntegerField(
        label="Legs opened within (seconds) are one combo",
        required=False,
        min_value=0,
        max_value=COMBO_WINDOW_MAX,
        help_text="Tradebooks: legs of one index opened within this many seconds of the first are grouped",
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise ValidationError(f"the file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
        return upload


class CalendarForm(forms.Form):
    """Which month and mode the P&L calendar shows."""

    month = forms.CharField(required=False, max_length=7)
    mode = forms.ChoiceField(choices=Mode.choices, required=False)

    def clean_month(self):
        text = (self.cleaned_data.get("month") or "").strip()
        if not text:
            return None
        try:
            year, month = (int(p) for p in text.split("-"))
            if not (1 <= month <= 12 and 2000 <= year <= 2100) or len(text) != 7:
                raise ValueError
        except ValueError:
            raise ValidationError(f"month {text!r}: expected YYYY-MM") from None
        return (year, month)


# Filters shown in the filter bar; the others sit under "More filters".
MAIN_FILTERS = ("date_from", "date_to", "mode", "symbol", "strategy", "winning")


def filter_bar(filterset, params) -> dict:
    """The context of the filter bar (``journal/_filters.html``) of a bound TradeFilterSet: the journal's
    and the analytics page's, so both filter with the same inputs."""
    form = prepare_filter_form(filterset.form)
    return {
        "form": form,
        "main_fields": [form[n] for n in MAIN_FILTERS if n in form.fields],
        "more_fields": [form[n] for n in form.fields if n not in MAIN_FILTERS],
        "more_open": any(params.get(n) for n in form.fields if n not in MAIN_FILTERS),
        "strategy_names": StrategyPerformance.objects.values_list("strategy_name", flat=True)
        .distinct()
        .order_by("strategy_name"),
    }


def prepare_filter_form(form: forms.Form) -> forms.Form:
    """Give the TradeFilterSet's form the inputs a phone shows well (date pickers, numeric keypads)."""
    for name, fld in form.fields.items():
        if name in ("date_from", "date_to"):
            fld.widget = DateInput()
        elif name in ("exit_from", "exit_to"):
            fld.widget = forms.TextInput(attrs={"placeholder": "2026-05-05T09:15"})
        elif name.endswith(("_min", "_max")) or name == "backtest_run":
            fld.widget = forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"})
        elif name == "winning":
            fld.widget = forms.Select(choices=[("", "Any"), ("true", "Wins"), ("false", "Losses")])
        elif name == "strategy":
            fld.widget = forms.TextInput(attrs={"list": "strategy-names"})
        elif name == "symbol":
            fld.widget = forms.Select(choices=[("", "Any")] + [(n, n) for n in contracts.INDICES])
        if isinstance(fld, forms.ChoiceField) and name != "winning":
            fld.choices = [("", "All modes" if name == "mode" else "Any")] + [
                c for c in fld.choices if c[0] != ""
            ]
            fld.widget.choices = fld.choices
    return form
