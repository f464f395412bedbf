"""Admin of the execution layer's tables: orders, positions, backtest runs, control state and audit."""

from __future__ import annotations

from django.contrib import admin

from trading.audit import ControlAudit
from trading.execution.models import BacktestRun, Order, Position, TradingState


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


admin.site.register(BacktestRun)
admin.site.register(TradingState)
admin.site.register(ControlAudit)
