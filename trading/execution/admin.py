"""Admin of the execution layer's tables: orders, positions, backtest runs, control state and audit."""

from __future__ import annotations

import json

from django.contrib import admin
from django.utils.html import format_html

from trading.audit import ControlAudit
from trading.execution.models import BacktestRun, Order, Position, Sweep, SweepCombination, TradingState


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = (
        "client_order_id",
        "created_at",
        "strategy_name",
        "tradingsymbol",
        "transaction_type",
        "quantity",
        "status",
        "average_price",
    )
    list_filter = ("status", "strategy_name", "mode")
    search_fields = ("client_order_id", "broker_order_id", "tradingsymbol")


@admin.register(Position)
class PositionAdmin(admin.ModelAdmin):
    list_display = (
        "position_id",
        "entry_time",
        "strategy_name",
        "tradingsymbol",
        "quantity",
        "entry_price",
        "status",
    )
    list_filter = ("status", "strategy_name", "mode")


def _pretty(value) -> str:
    """JSON as indented text in a <pre> (settings and parameters, readable)."""
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True, default=str))


class _ReadOnly(admin.ModelAdmin):
    """Written by the services only (``trading.execution.backtests``, ``sweeps``): read here."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(BacktestRun)
class BacktestRunAdmin(_ReadOnly):
    list_display = (
        "id",
        "name",
        "status",
        "start",
        "end",
        "data_source",
        "trade_count",
        "net_pnl",
        "created_at",
    )
    list_filter = ("status", "data_source", "index")
    search_fields = ("name",)
    fieldsets = (
        ("Settings", {"fields": ("name", "strategies", "index", "data_source", "start", "end", "seed",
                                 "data_version", "settings", "requested_by")}),
        ("Progress", {"fields": ("status", "bars_done", "bars_total", "heartbeat_at", "started_at",
                                 "finished_at", "error")}),
        ("Result", {"fields": ("trade_count", "net_pnl", "gross_pnl", "charges", "max_drawdown", "win_rate",
                               "engine_summary")}),
    )  # fmt: skip
    readonly_fields = ("settings", "engine_summary")

    @admin.display(description="Parameters (risk; each strategy's, overrides applied)")
    def settings(self, obj: BacktestRun) -> str:
        return _pretty({"parameters": obj.parameters, "overrides": obj.overrides})

    @admin.display(description="The engine's summary")
    def engine_summary(self, obj: BacktestRun) -> str:
        return _pretty(obj.summary)


@admin.register(Sweep)
class SweepAdmin(_ReadOnly):
    list_display = ("id", "name", "strategy", "status", "sample", "done", "total", "objective", "created_at")
    list_filter = ("status", "strategy", "sample")
    exclude = ("market_data", "space", "base_parameters", "slot")
    readonly_fields = ("space_text",)

    @admin.display(description="Space, base parameters, slot")
    def space_text(self, obj: Sweep) -> str:
        return _pretty({"space": obj.space, "base_parameters": obj.base_parameters, "slot": obj.slot})


@admin.register(SweepCombination)
class SweepCombinationAdmin(_ReadOnly):
    list_display = (
        "sweep",
        "number",
        "status",
        "parameters",
        "net_pnl",
        "sharpe",
        "profit_factor",
        "max_drawdown",
    )
    list_filter = ("status",)
    exclude = ("equity",)


admin.site.register(TradingState)
admin.site.register(ControlAudit)
