"""Routes of the execution layer: the engine's read-only tables on the API (``/api/orders/``,
``/api/positions/``, ``/api/signals/``), the staff control page (``control/``) and Kite Connect's
postback, daily login and settings page (``kite/``)."""

from __future__ import annotations

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from trading.execution import api, kite_views, views

router = SimpleRouter()
router.register("orders", api.OrderViewSet, basename="order")
router.register("positions", api.PositionViewSet, basename="position")
router.register("signals", api.SignalViewSet, basename="signal")

urlpatterns = [
    path("api/", include(router.urls)),
    path("control/", views.control_page, name="control"),
    path("control/kill-switch/", views.kill_switch, name="control-kill-switch"),
    path("control/breaker-reset/", views.breaker_reset, name="control-breaker-reset"),
    path("control/live-confirm/", views.live_confirm, name="control-live-confirm"),
    path("kite/", kite_views.kite_settings, name="kite-settings"),
    path("kite/login/", kite_views.kite_login, name="kite-login"),
    path("kite/callback/", kite_views.kite_callback, name="kite-callback"),
    path("kite/postback/", kite_views.kite_postback, name="kite-postback"),
    path("", include("trading.execution.research_urls")),
]
