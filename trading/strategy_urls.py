"""Routes of the strategies: the page ``strategies/`` and the API ``api/strategies/``."""

from __future__ import annotations

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from trading import strategy_api, strategy_views

router = SimpleRouter()
router.register("strategies", strategy_api.StrategyConfigViewSet, basename="strategy-config")

urlpatterns = [
    path("api/", include(router.urls)),
    path("strategies/", strategy_views.strategy_list, name="strategies"),
    path("strategies/<str:name>/", strategy_views.strategy_detail, name="strategy-detail"),
    path("strategies/<str:name>/enabled/", strategy_views.strategy_toggle, name="strategy-toggle"),
]
