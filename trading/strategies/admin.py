"""Admin of the strategy configurations: a save goes through ``strategy_config_update``, so it is
validated against the strategy's parameters (the field and the bound named on the form) and
audited; configurations are created from the registry, never by hand."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html_join

from trading.core.strategies import registry
from trading.core.strategies.base import ParamError, validate_params
from trading.strategies.models import Signal, StrategyConfig, StrategyConfigAudit
from trading.strategies.services import (
    CONFIG_FIELDS,
    clean_combo,
    clean_field,
    ensure_strategy_configs,
    param_rows,
    strategy_config_update,
    with_last_signal,
)


class StrategyConfigForm(forms.ModelForm):
    """Validates like the service does, so that an invalid value comes back on the form."""

    class Meta:
        model = StrategyConfig
        fields = CONFIG_FIELDS

    def clean_parameters(self) -> dict:
        value = self.cleaned_data.get("parameters") or {}
        if not isinstance(value, dict):
            raise forms.ValidationError("expected a JSON object of parameter -> value")
        try:
            validate_params(registry.get(self.instance.name), value)
        except ParamError as e:
            raise forms.ValidationError(str(e)) from None
        return value

    def clean_combo(self) -> dict:
        try:
            return clean_combo(self.instance.index, self.cleaned_data.get("combo"))
        except ParamError as e:
            raise forms.ValidationError(str(e)) from None

    def clean(self) -> dict:
        cleaned = super().clean()
        for name in CONFIG_FIELDS:
            if name in ("enabled", "parameters", "combo"):
                continue  # a checkbox; parameters and combo are checked by their own clean_*
            if name in cleaned and cleaned[name] is not None:
                try:
                    clean_field(name, cleaned[name])
                except ParamError as e:
                    self.add_error(name, str(e))
        return cleaned


class StrategyConfigAuditInline(admin.TabularInline):
    model = StrategyConfigAudit
    extra = 0
    can_delete = False
    fields = ("at", "user", "field", "old_value", "new_value")
    readonly_fields = fields
    ordering = ("-at", "-id")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(StrategyConfig)
class StrategyConfigAdmin(admin.ModelAdmin):
    form = StrategyConfigForm
    list_display = (
        "name",
        "enabled",
        "index",
        "cooldown_minutes",
        "max_open_positions",
        "capital_allocation",
        "last_signal",
    )
    list_filter = ("enabled", "index")
    list_editable = ()
    readonly_fields = ("name", "last_signal", "updated_at", "parameter_table", "rules")
    fields = (
        "name",
        "enabled",
        "index",
        "parameters",
        "parameter_table",
        "combo",
        "capital_allocation",
        "max_open_positions",
        "cooldown_minutes",
        "last_signal",
        "updated_at",
        "rules",
    )
    inlines = [StrategyConfigAuditInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # one row per registered strategy, made by ensure_strategy_configs

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest):
        return with_last_signal(super().get_queryset(request))

    @admin.display(description="Last accepted signal", ordering="last_signal_at")
    def last_signal(self, obj: StrategyConfig):
        return obj.last_signal_at

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        ensure_strategy_configs()
        return super().changelist_view(request, extra_context)

    @admin.display(description="Effective parameters (value / default / bounds)")
    def parameter_table(self, obj: StrategyConfig) -> str:
        rows = param_rows(obj)
        return format_html_join(
            "\n",
            "<div><b>{}</b> = {} <span style='color:#888'>(default {}, {}..{}) {}</span></div>",
            ((r["name"], r["value"], r["default"], r["min"], r["max"], r["help"]) for r in rows),
        )

    @admin.display(description="Rules")
    def rules(self, obj: StrategyConfig) -> str:
        return registry.get(obj.name).description

    def save_model(
        self, request: HttpRequest, obj: StrategyConfig, form: forms.ModelForm, change: bool
    ) -> None:
        """Through the service: validated again, saved with the changed fields audited."""
        fresh = StrategyConfig.objects.get(pk=obj.pk)
        changes = {name: form.cleaned_data[name] for name in form.changed_data if name in CONFIG_FIELDS}
        if changes:
            strategy_config_update(config=fresh, user=request.user, **changes)
        for name in CONFIG_FIELDS + ("updated_at",):
            setattr(obj, name, getattr(fresh, name))


@admin.register(Signal)
class SignalAdmin(admin.ModelAdmin):
    list_display = ("bar_time", "strategy_name", "direction", "strength", "status", "reject_reason")
    list_filter = ("status", "strategy_name", "reject_reason")
