"""Performance tables are derived from the journal: read-only in the admin."""

from __future__ import annotations

from django.contrib import admin

from analytics.models import DailyPerformance, StrategyPerformance


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(DailyPerformance)
class DailyPerformanceAdmin(ReadOnlyAdmin):
    list_display = (
        "date",
        "mode",
        "trades",
        "wins",
        "losses",
        "gross_pnl",
        "total_charges",
        "net_pnl",
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
