"""Routes of the research pages and API (``research_views``, ``research_api``)."""

from __future__ import annotations

from django.urls import path

from trading.execution import research_api, research_views

urlpatterns = [
    path("research/drift/", research_views.drift_page, name="research-drift"),
    path("research/walk-forward/", research_views.walk_forward_page, name="research-walk-forward"),
    path("research/deflated-sharpe/", research_views.deflated_sharpe_page, name="research-deflated-sharpe"),
    path("research/runs/<str:pk>/monte-carlo/", research_views.monte_carlo_page, name="research-monte-carlo"),
    path("api/research/drift/", research_api.DriftView.as_view(), name="api-research-drift"),
    path("api/research/drift.csv", research_api.DriftCsvView.as_view(), name="api-research-drift-csv"),
    path(
        "api/research/runs/<str:pk>/monte-carlo/",
        research_api.MonteCarloView.as_view(),
        name="api-research-monte-carlo",
    ),
    path(
        "api/research/deflated-sharpe/",
        research_api.DeflatedSharpeView.as_view(),
        name="api-research-deflated-sharpe",
    ),
    path(
        "api/research/walk-forward/", research_api.WalkForwardView.as_view(), name="api-research-walk-forward"
    ),
]
