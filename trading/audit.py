"""The audit log: who changed what, when, old -> new. A leaf that every layer may write to.

``AuditEntry`` is the shape every audit table shares (a trade's fields, a strategy's configuration,
the desk's controls); ``ControlAudit`` is the desk's own log of control actions.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class AuditEntry(models.Model):
    """One audited change: the user (None for the system), when, and the value before and after."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    at = models.DateTimeField(auto_now_add=True)
    old_value = models.TextField(blank=True, default="")
    new_value = models.TextField(blank=True, default="")

    class Meta:
        abstract = True
        ordering = ["-at", "-id"]


class ControlAudit(AuditEntry):
    """A control action (kill switch, breaker reset, LIVE confirmation, trade deletion, Kite login, ...)."""

    index = models.CharField(max_length=20, default="NIFTY")
    action = models.CharField(max_length=40)
    detail = models.TextField(blank=True, default="")

    class Meta(AuditEntry.Meta):
        app_label = "trading"

    def __str__(self) -> str:
        return f"{self.action} by {self.user_id} at {self.at}"


def user_or_none(user):
    """The user to store on an audit row: None for an anonymous or missing user."""
    return user if getattr(user, "pk", None) else None
