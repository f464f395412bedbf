"""Routes of the strategies: the page ``strategies/`` and the API ``api/strategies/``."""

from __future__ import annotations

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from trading.strategies import api, views

router = SimpleRouter()
router.register("strategies", api.StrategyConfigViewSet, basename="strategy-config")

urlpatterns = [
    path("api/", include(router.urls)),
    path("strategies/", views.strategy_list, name="strategies"),
    path("strategies/<str:name>/", views.strategy_detail, name="strategy-detail"),
    path("strategies/<str:name>/enabled/", views.strategy_toggle, name="strategy-toggle"),
]
