"""Site-wide views: the home page and a health check."""

from __future__ import annotations

import logging

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import redirect
from django.views.defaults import page_not_found

log = logging.getLogger(__name__)


@login_required
def home(request):
    """The journal is the desk's front page."""
    return redirect("journal:list")


def not_found(request, exception=None):
    """404: JSON ``{"detail": ...}`` under /api/ (what the API documents), the HTML page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return page_not_found(request, exception)


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
