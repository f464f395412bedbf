"""Routes of the engine: strategies (trading/strategies/urls.py), market data (trading/market/urls.py),
the engine's tables, control and broker pages (trading/execution/urls.py), metrics (trading/monitoring/urls.py), the live desk (trading/livedesk/urls.py), the notifications' staff page
(trading/notifications/urls.py) and the strategy builder (trading/builder/urls.py)."""

from __future__ import annotations

from django.urls import include, path

urlpatterns = [
    path("", include("trading.strategies.urls")),
    path("", include("trading.market.urls")),
    path("", include("trading.execution.urls")),
    path("", include("trading.monitoring.urls")),
    path("", include("trading.livedesk.urls")),
    path("", include("trading.notifications.urls")),
    path("", include("trading.builder.urls")),
]
