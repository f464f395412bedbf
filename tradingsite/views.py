"""Site-wide views: the home page (the desk at a glance) and a health check."""

from __future__ import annotations

import logging
import sys

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.defaults import page_not_found
from django.views.defaults import server_error as django_server_error

from analytics.sparkline import equity_sparkline
from journal.selectors import period_nets, recent_trades
from trading import access
from trading.execution.overview import desk_overview
from tradingsite.middleware import database_unavailable, is_database_down

log = logging.getLogger(__name__)


@access.permission_required(access.VIEW_JOURNAL)
def home(request: HttpRequest) -> HttpResponse:
    """Today's, this week's and this month's net P&L, the equity sparkline, open positions, the kill
    switch and breaker, the last five trades, and links onward: of the configured mode and index."""
    mode, index = settings.TRADING_MODE, settings.TRADING_INDEX
    context = {
        "mode": mode,
        "periods": period_nets(mode=mode, today=timezone.localdate()),
        "sparkline": equity_sparkline(mode=mode),
        "overview": desk_overview(index),
        "trades": recent_trades(mode=mode, n=5),
    }
    return render(request, "home.html", context)


def not_found(request, exception=None):
    """404: JSON ``{"detail": ...}`` under /api/ (what the API documents), the HTML page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return page_not_found(request, exception)


def server_error(request):
    """500, except while the database is unreachable: then the 503 of
    ``middleware.database_unavailable`` (the exception being handled is the one that got here)."""
    if is_database_down(sys.exc_info()[1]):
        return database_unavailable(request)
    return django_server_error(request)


def healthz(request):
    """200 when the database answers, 503 otherwise (for load balancers and compose). Open to anyone,
    so it says only whether: the error (hosts, ports, user names) goes to the log."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # noqa: BLE001 - any database failure means unhealthy
        log.exception("health check: the database does not answer")
        return JsonResponse({"status": "error", "database": "unreachable"}, status=503)
    return JsonResponse({"status": "ok"})
