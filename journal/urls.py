"""Routes of the journal: the REST API (journal/api_urls.py) and the pages (journal/page_urls.py)."""

from __future__ import annotations

from django.urls import include, path

urlpatterns = [
    path("api/", include("journal.api_urls")),
    path("journal/", include("journal.page_urls")),
]
