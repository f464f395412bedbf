"""Routes of the engine: strategies (trading/strategy_urls.py), market data (trading/market_urls.py),
control and broker pages (trading/control_urls.py), and metrics (trading/monitoring/urls.py)."""

from __future__ import annotations

from django.urls import include, path

urlpatterns = [
    path("", include("trading.strategy_urls")),
    path("", include("trading.market_urls")),
    path("", include("trading.control_urls")),
    path("", include("trading.monitoring.urls")),
]
