"""Routes of the strategy builder: the page ``builder/`` and its API under ``api/builder/``."""

from __future__ import annotations

from django.urls import path

from trading.builder import api, views

urlpatterns = [
    path("builder/", views.builder_page, name="builder"),
    path("api/builder/payoff", api.PayoffView.as_view(), name="api-builder-payoff"),
    path("api/builder/template", api.TemplateView.as_view(), name="api-builder-template"),
]
