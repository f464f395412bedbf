"""Routes of the engine: strategies (trading/strategies/urls.py), market data (trading/market/urls.py),
the engine's tables, control and broker pages (trading/execution/urls.py), and metrics (trading/monitoring/urls.py)."""

from __future__ import annotations

from django.urls import include, path

urlpatterns = [
    path("", include("trading.strategies.urls")),
    path("", include("trading.market.urls")),
    path("", include("trading.execution.urls")),
    path("", include("trading.monitoring.urls")),
]
