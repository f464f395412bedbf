"""Routes: ``/metrics`` for Prometheus (django-prometheus's own view is not routed;
this one adds the other processes and the database metrics, and guards access)."""

from __future__ import annotations

from django.urls import path

from trading.monitoring import views

urlpatterns = [
    path("metrics", views.metrics, name="metrics"),
]
