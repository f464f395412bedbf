"""Routes (metrics_urls)."""

from __future__ import annotations

urlpatterns: list = []
