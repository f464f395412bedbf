"""Routes of the analytics API, mounted at ``/api/analytics/`` (the pages: ``analytics/page_urls.py``)."""

from __future__ import annotations

from django.urls import path

from analytics import api

app_name = "analytics"
urlpatterns = [
    path("api/analytics/summary", api.SummaryView.as_view(), name="summary"),
    path("api/analytics/equity", api.EquityView.as_view(), name="equity"),
    path("api/analytics/drawdown", api.DrawdownView.as_view(), name="drawdown"),
    path("api/analytics/daily", api.DailyView.as_view(), name="daily"),
    path("api/analytics/monthly", api.MonthlyView.as_view(), name="monthly"),
    path("api/analytics/breakdown", api.BreakdownView.as_view(), name="breakdown"),
    path("api/analytics/attribution", api.AttributionView.as_view(), name="attribution"),
]
