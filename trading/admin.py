"""Admin of the engine's state."""

from __future__ import annotations

from django.contrib import admin

import trading.strategy_admin  # noqa: F401  (registers StrategyConfig)
from trading import models


@admin.register(models.Order)
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


@admin.register(models.Position)
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


@admin.register(models.Signal)
class SignalAdmin(admin.ModelAdmin):
    list_display = ("bar_time", "strategy_name", "direction", "strength", "status", "reject_reason")
    list_filter = ("status", "strategy_name", "reject_reason")


admin.site.register(models.BacktestRun)
admin.site.register(models.TradingState)
admin.site.register(models.ControlAudit)
