"""Routes of the execution layer: the engine's read-only tables on the API (``/api/orders/``,
``/api/positions/``, ``/api/signals/``), the staff control page (``control/``) and Kite Connect's
postback, daily login and settings page (``kite/``), the backtest runs and sweeps (``backtests/``)."""

from __future__ import annotations

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from trading.execution import api, backtest_views, kite_views, views

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
    # backtest runs and parameter sweeps (docs/backtests.md)
    path("backtests/", backtest_views.backtest_list, name="backtests"),
    path("backtests/start/", backtest_views.backtest_start, name="backtest-start"),
    path("backtests/compare/", backtest_views.backtest_compare, name="backtest-compare"),
    path("backtests/<int:pk>/", backtest_views.backtest_detail, name="backtest-detail"),
    path("backtests/<int:pk>/progress/", backtest_views.backtest_progress, name="backtest-progress"),
    path("backtests/<int:pk>/stop/", backtest_views.backtest_stop, name="backtest-stop"),
    path("backtests/sweeps/", backtest_views.sweep_list, name="sweeps"),
    path("backtests/sweeps/start/", backtest_views.sweep_start, name="sweep-start"),
    path("backtests/sweeps/<int:pk>/", backtest_views.sweep_detail, name="sweep-detail"),
    path("backtests/sweeps/<int:pk>/progress/", backtest_views.sweep_progress, name="sweep-progress"),
    path("backtests/sweeps/<int:pk>/stop/", backtest_views.sweep_stop, name="sweep-stop"),
    path(
        "backtests/sweeps/<int:pk>/promote/<int:number>/",
        backtest_views.sweep_promote,
        name="sweep-promote",
    ),
]
