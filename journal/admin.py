"""Admin of the journal: trades are edited through ``trade_update`` so every edit is re-derived,
reflected in the performance tables and audited."""

from __future__ import annotations

import contextlib

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import Http404
from django.utils import timezone

from journal import accumulator, derive, services
from journal.models import DailyPerformance, ImportBatch, StrategyPerformance, Trade, TradeAudit, TradeOrigin

_DERIVED = tuple(f for f in derive.DERIVED if f != "initial_risk") + (
    "trade_id",
    "origin",
    "created_at",
    "updated_at",
)


class TradeAdminForm(forms.ModelForm):
    """Validates an edit exactly like ``record_trade``: the whole trade is re-derived in ``clean``."""

    class Meta:
        model = Trade
        fields = "__all__"  # noqa: DJ007 - the admin edits every raw field; derived ones are read-only

    def clean(self):
        cleaned = super().clean()
        raw = services.raw_of(self.instance) if self.instance.pk else {}
        raw.update(
            {
                k: v
                for k, v in cleaned.items()
                if k in derive.RAW_FIELDS and k not in ("signal", "backtest_run")
            }
        )
        raw = {k: v for k, v in raw.items() if v not in (None, "") or k in derive.REQUIRED}
        # A new trade, or a change of its times, is checked against the calendar and the wall clock.
        when = not self.instance.pk or any(name in self.changed_data for name in services.WHEN_FIELDS)
        try:
            derive.derive_trade(raw, now=timezone.now() if when else None)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, errors)
        return cleaned


class TradeAuditInline(admin.TabularInline):
    model = TradeAudit
    extra = 0
    can_delete = False
    readonly_fields = ("at", "user", "source", "field", "old_value", "new_value")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Trade)
class TradeAdmin(admin.ModelAdmin):
    list_display = (
        "trade_id",
        "exit_time",
        "tradingsymbol",
        "strategy_name",
        "entry_mode",
        "side",
        "quantity",
        "entry_price",
        "exit_price",
        "gross_pnl",
        "total_charges",
        "net_pnl",
        "is_winning_trade",
    )
    list_filter = (
        "trade_date",
        "strategy_name",
        "entry_mode",
        "is_winning_trade",
        "instrument_type",
        "exit_type",
    )
    search_fields = ("symbol", "tradingsymbol", "trade_id")
    date_hierarchy = "trade_date"
    inlines = [TradeAuditInline]
    raw_id_fields = ("signal", "backtest_run")
    show_full_result_count = False
    form = TradeAdminForm

    def get_readonly_fields(self, request, obj=None):
        # Who wrote a trade is the code's to say (the engine's risk counts only its own), never a form's.
        return _DERIVED if obj is not None else ("origin", "created_at", "updated_at")

    def save_model(self, request, obj, form, change):
        if not change:
            raw = {
                k: v for k, v in form.cleaned_data.items() if k in derive.RAW_FIELDS and v not in (None, "")
            }
            saved = services.record_trade(now=timezone.now(), origin=TradeOrigin.MANUAL, **raw)
            obj.pk = saved.pk
            return
        changes = {name: form.cleaned_data[name] for name in form.changed_data if name in derive.EDITABLE}
        try:
            services.trade_update(trade=obj, user=request.user, source="admin", **changes)
        except Trade.DoesNotExist:  # deleted by someone else since the form was read
            raise Http404 from None

    def delete_model(self, request, obj):
        with contextlib.suppress(Trade.DoesNotExist):  # deleted meanwhile: nothing left to do or audit
            services.trade_delete(trade=obj, user=request.user, source="admin")

    def delete_queryset(self, request, queryset):
        for trade in queryset:
            with contextlib.suppress(Trade.DoesNotExist):
                services.trade_delete(trade=trade, user=request.user, source="admin")


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows derived or logged elsewhere: viewable, never added, changed or deleted here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(TradeAudit)
class TradeAuditAdmin(ReadOnlyAdmin):
    list_display = ("at", "trade", "user", "source", "field", "old_value", "new_value")
    list_filter = ("source", "field")


@admin.register(ImportBatch)
class ImportBatchAdmin(admin.ModelAdmin):
    list_display = ("created_at", "filename", "kind", "trades", "user")


# --- Performance tables: derived from the journal, read-only in the admin.


@admin.register(DailyPerformance)
class DailyPerformanceAdmin(ReadOnlyAdmin):
    list_display = (
        "date",
        "mode",
        *accumulator.TOTALS,
        "win_rate",
        "profit_factor",
        "max_drawdown",
    )
    list_filter = ("mode",)
    date_hierarchy = "date"


@admin.register(StrategyPerformance)
class StrategyPerformanceAdmin(ReadOnlyAdmin):
    list_display = (
        "strategy_name",
        "mode",
        "trades",
        "win_rate",
        "net_pnl",
        "profit_factor",
        "expectancy",
        "max_drawdown",
        "avg_hold_minutes",
    )
    list_filter = ("mode",)
