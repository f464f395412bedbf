"""Routes of the journal (api_urls)."""

from __future__ import annotations

app_name = "journal-api"
urlpatterns: list = []
