"""Routes of the analytics pages, mounted at ``/analytics/`` (the API is ``analytics/urls.py``)."""

from __future__ import annotations

from django.urls import path

from analytics import views

app_name = "analytics-pages"
urlpatterns = [
    path("", views.analytics_page, name="page"),
    path("tearsheet.html", views.tearsheet_download, name="tearsheet"),
]
