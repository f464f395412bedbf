"""Routes of the analytics app."""

from __future__ import annotations

app_name = "analytics"
urlpatterns: list = []
