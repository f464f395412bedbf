"""Routes of the live desk's page and controls (its WebSocket is in ``routing``)."""

from __future__ import annotations

from django.urls import path

from trading.livedesk import views

urlpatterns = [
    path("desk/", views.desk_page, name="desk"),
    path("desk/kill-switch/", views.desk_kill_switch, name="desk-kill-switch"),
    path("desk/breaker-reset/", views.desk_breaker_reset, name="desk-breaker-reset"),
]
