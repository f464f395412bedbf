"""Routes of the journal's REST API, mounted at ``/api/``.

``/api/trades/`` (list, create; ``<trade_id>/``: retrieve, partial update, delete),
``/api/trades/history``, ``/api/trades/totals``, ``/api/trades/export.csv``, ``/api/trades/export.xlsx``,
``/api/combos/`` (list; ``<combo_id>/``: retrieve),
(``/api/orders/``, ``/api/positions/``, ``/api/signals/``: ``trading/execution/urls.py``).
"""

from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from journal import api

app_name = "journal-api"

router = SimpleRouter()
router.register("trades", api.TradeViewSet, basename="trade")
router.register("combos", api.ComboViewSet, basename="combo")

urlpatterns = [
    # Before the router, whose trades/<trade_id>/ would otherwise be tried first.
    path("trades/history", api.TradeHistoryView.as_view(), name="trade-history"),
    path("trades/totals", api.TradeTotalsView.as_view(), name="trade-totals"),
    path("trades/export.csv", api.TradeExportCsvView.as_view(), name="trade-export-csv"),
    path("trades/export.xlsx", api.TradeExportXlsxView.as_view(), name="trade-export-xlsx"),
    *router.urls,
]
