"""The strategies' tables: each strategy's configuration and its audit trail, and every signal the
engine saw. Written through ``trading.strategies.services`` (configuration) and the engine's
persistence (signals)."""

from __future__ import annotations

from django.db import models

from trading.audit import AuditEntry
from trading.choices import InstrumentType, Mode


class SignalStatus(models.TextChoices):
    ACCEPTED = "ACCEPTED", "Accepted"
    REJECTED = "REJECTED", "Rejected"


class Signal(models.Model):
    """Every signal the engine saw, accepted or rejected (with the reason), with the features of that bar."""

    strategy_name = models.CharField(max_length=64, db_index=True)
    index = models.CharField(max_length=20, default="NIFTY")
    bar_time = models.DateTimeField(db_index=True, help_text="Start of the bar the signal was computed on")
    direction = models.CharField(max_length=4, choices=InstrumentType.choices)
    strength = models.FloatField()
    reason = models.TextField(blank=True, default="")
    status = models.CharField(max_length=8, choices=SignalStatus.choices)
    reject_reason = models.CharField(max_length=64, blank=True, default="")
    reject_detail = models.TextField(blank=True, default="")
    features = models.JSONField(default=dict, blank=True)
    mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.PAPER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "trading"
        ordering = ["-bar_time", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["strategy_name", "index", "bar_time", "direction", "mode"], name="signal_once_per_bar"
            )
        ]

    def __str__(self) -> str:
        return f"{self.strategy_name} {self.direction} @ {self.bar_time:%Y-%m-%d %H:%M} {self.status}"


class StrategyConfig(models.Model):
    """How one strategy trades: switch, parameters (validated against its dataclass), limits."""

    name = models.CharField(max_length=64, unique=True)
    enabled = models.BooleanField(default=True)
    parameters = models.JSONField(default=dict, blank=True)
    capital_allocation = models.DecimalField(max_digits=14, decimal_places=2, default=100000)
    max_open_positions = models.PositiveIntegerField(default=1)
    cooldown_minutes = models.PositiveIntegerField(default=15)
    index = models.CharField(max_length=20, default="NIFTY")
    combo = models.JSONField(
        default=dict,
        blank=True,
        help_text="The combo a signal trades instead of one bought option (empty: the option): "
        '{"template": name} for every signal or {"call": name, "put": name} by direction, with '
        '{"params": {...}} the template\'s arguments; or {"spec": {...}} any legs (docs/multileg.md)',
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "trading"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class StrategyConfigAudit(AuditEntry):
    """A change of a strategy's configuration: who, when, field, old -> new."""

    config = models.ForeignKey(StrategyConfig, on_delete=models.CASCADE, related_name="audits")
    field = models.CharField(max_length=64)

    class Meta(AuditEntry.Meta):
        app_label = "trading"

    def __str__(self) -> str:
        return f"{self.config_id}.{self.field}"
