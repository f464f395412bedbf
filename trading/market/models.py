"""The market's table: the latest view of each index (spot, VIX and option chain), written by
``trading.market.services.snapshot_store``."""

from __future__ import annotations

from django.db import models

from trading.choices import DataSource


class MarketSnapshot(models.Model):
    """The latest view of one index's market (spot, VIX and chain summary), for pages and metrics."""

    index = models.CharField(max_length=20, db_index=True)
    time = models.DateTimeField(db_index=True)
    source = models.CharField(max_length=6, choices=DataSource.choices, default=DataSource.SIM)
    spot = models.FloatField()
    vix = models.FloatField(null=True, blank=True)
    pcr = models.FloatField(null=True, blank=True)
    max_pain = models.FloatField(null=True, blank=True)
    atm_iv = models.FloatField(null=True, blank=True)
    chain = models.JSONField(default=dict, blank=True, help_text="Per expiry: strikes and per-side fields")

    class Meta:
        app_label = "trading"
        ordering = ["-time"]
        constraints = [models.UniqueConstraint(fields=["index", "time", "source"], name="snapshot_once")]

    def __str__(self) -> str:
        return f"{self.index} {self.time} {self.spot}"
