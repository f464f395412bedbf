"""Routes of the staff control page (``control/``)."""

from __future__ import annotations

from django.urls import path

from trading import control_views, kite_views

urlpatterns = [
    path("control/", control_views.control_page, name="control"),
    path("control/kill-switch/", control_views.kill_switch, name="control-kill-switch"),
    path("control/breaker-reset/", control_views.breaker_reset, name="control-breaker-reset"),
    path("control/live-confirm/", control_views.live_confirm, name="control-live-confirm"),
]

# Kite Connect: the postback endpoint, the daily login flow and the settings page (trading/kite_views.py).
urlpatterns += [
    path("kite/", kite_views.kite_settings, name="kite-settings"),
    path("kite/login/", kite_views.kite_login, name="kite-login"),
    path("kite/callback/", kite_views.kite_callback, name="kite-callback"),
    path("kite/postback/", kite_views.kite_postback, name="kite-postback"),
]
