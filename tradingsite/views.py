"""Site-wide views: the home page (the desk at a glance) and a health check."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone

from analytics.report import equity_sparkline
from journal.selectors import period_nets, recent_trades
from trading.execution.overview import desk_overview


@login_required
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


def healthz(request):
    """200 when the database answers, 503 otherwise (for load balancers and compose)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any database failure means unhealthy
        return JsonResponse({"status": "error", "database": str(exc)}, status=503)
    return JsonResponse({"status": "ok"})
