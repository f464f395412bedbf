"""``/metrics``: the Prometheus exposition of the whole desk on this host.

Open to loopback; anything else needs ``Authorization: Bearer <METRICS_TOKEN>`` (401 without a valid
one, 403 when no token is configured). A request that came through a proxy (``X-Forwarded-For`` or
``Forwarded``) is not loopback even if the proxy runs on this host.
"""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from trading.monitoring import multiprocess
from trading.monitoring.collector import DatabaseCollector


def _is_loopback(request: HttpRequest) -> bool:
    if request.META.get("HTTP_X_FORWARDED_FOR") or request.META.get("HTTP_FORWARDED"):
        return False
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "").split("%")[0]).is_loopback
    except ValueError:
        return False


def access_denied(request: HttpRequest) -> HttpResponse | None:
    """None when the request may read the metrics, else the 401/403 response to send."""
    if _is_loopback(request):
        return None
    token = settings.METRICS_TOKEN
    if not token:
        return HttpResponse(
            "metrics are served to loopback only: set METRICS_TOKEN\n", status=403, content_type="text/plain"
        )
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
        return None
    response = HttpResponse("bearer token required\n", status=401, content_type="text/plain")
    response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


def exposition() -> bytes:
    """The exposition text of ``/metrics``: process metrics of this host plus the database metrics."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(multiprocess.process_collector())
    registry.register(DatabaseCollector(multiprocess_dir=multiprocess.directory()))
    return generate_latest(registry)


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """The exposition text: every process on this host plus the database metrics."""
    denied = access_denied(request)
    if denied is not None:
        return denied
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_PLAIN_0_0_4)
