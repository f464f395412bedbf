"""Performance tables: per day and mode, and per strategy and mode. Derived from journal trades only."""

from __future__ import annotations

from django.db import models

from journal.models import Mode


def _money(**kw):
    return models.DecimalField(max_digits=16, decimal_places=2, default=0, **kw)


class PerformanceFields(models.Model):
    """The statistics both tables keep (rupees, Decimal).

    win_rate in percent; profit_factor = sum of wins / |sum of losses| (null with no losses);
    expectancy = net P&L per trade; max_drawdown = largest fall of cumulative net P&L from its peak,
    trades ordered by exit time (a positive number of rupees). ``sum_wins``, ``sum_losses``,
    ``total_hold_minutes``, ``peak_net`` and ``last_exit_time`` let a trade that arrives in order be
    added without reading the others back.
    """

    trades = models.PositiveIntegerField(default=0)
    wins = models.PositiveIntegerField(default=0)
    losses = models.PositiveIntegerField(default=0)
    gross_pnl = _money()
    total_charges = _money()
    net_pnl = _money()
    win_rate = models.DecimalField(max_digits=7, decimal_places=2, default=0)
    avg_win = _money()
    avg_loss = _money()
    profit_factor = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    expectancy = _money()
    max_drawdown = _money()
    best_trade = _money()
    worst_trade = _money()
    avg_hold_minutes = models.DecimalField(max_digits=10, decimal_places=2, default=0)
    sum_wins = _money()
    sum_losses = _money()
    total_hold_minutes = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    peak_net = _money()
    last_exit_time = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class DailyPerformance(PerformanceFields):
    """One trading day (IST date of exit) of one mode."""

    date = models.DateField()
    mode = models.CharField(max_length=8, choices=Mode.choices)

    class Meta:
        ordering = ["-date", "mode"]
        constraints = [models.UniqueConstraint(fields=["date", "mode"], name="daily_perf_date_mode")]

    def __str__(self) -> str:
        return f"{self.date} {self.mode}: {self.net_pnl}"


class StrategyPerformance(PerformanceFields):
    """One strategy of one mode, over all its trades."""

    strategy_name = models.CharField(max_length=64)
    mode = models.CharField(max_length=8, choices=Mode.choices)

    class Meta:
        ordering = ["strategy_name", "mode"]
        constraints = [
            models.UniqueConstraint(fields=["strategy_name", "mode"], name="strategy_perf_name_mode")
        ]

    def __str__(self) -> str:
        return f"{self.strategy_name} {self.mode}: {self.net_pnl}"
