"""Kite Connect pages: the postback endpoint, the daily login flow and the Kite settings page.

Thin views: the work is in ``trading.execution.kite_session`` and ``trading.execution.broker_updates``.
"""

from __future__ import annotations

import logging
import secrets
from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from trading import access
from trading.audit import ControlAudit
from trading.core.order_types import BrokerError
from trading.execution import broker_updates, kite_session
from trading.execution.config import trading_mode

log = logging.getLogger(__name__)

_STATE_KEY = "kite_login_state"


@csrf_exempt  # Kite posts from outside; the checksum is the authentication
@require_POST
def kite_postback(request: HttpRequest) -> HttpResponse:
    """Kite's order postback (``broker_updates.kite_postback``): 200 with what it did (``applied``,
    ``unchanged``, ``unknown_order``); 400 for a body that is not a postback (the message names the
    field), 403 for a bad checksum, 409 for a tag that is not the order's, 503 while Kite's own
    record cannot be read - nothing changed in each of those."""
    try:
        result = broker_updates.kite_postback(request.body)
    except broker_updates.PostbackError as exc:
        return JsonResponse({"status": "error", "message": str(exc)}, status=exc.http_status)
    except BrokerError as exc:
        log.warning("Kite postback not applied: %s", exc)
        return JsonResponse({"status": "error", "message": "the broker cannot be read now"}, status=503)
    return JsonResponse({"status": result.outcome})


@access.permission_required(access.KITE_LOGIN)
@require_GET
def kite_settings(request: HttpRequest) -> HttpResponse:
    """The Kite page: today's session, the login button, algo id, static IP and the URLs to register."""
    state = kite_session.kite_token_state()
    config = kite_session.kite_config()
    key = config.api_key
    context = {
        "api_key": f"{key[:4]}{'*' * max(len(key) - 4, 0)}" if key else "",
        "api_secret_set": bool(config.api_secret),
        "algo_id": config.algo_id,
        "static_ip": config.static_ip,
        "root_url": config.root_url,
        "trading_mode": trading_mode(),
        "token_state": state,
        "token_expires": kite_session.kite_token_expires(state.kite_token_date) if state else None,
        "redirect_url": request.build_absolute_uri(reverse("kite-callback")),
        "postback_url": request.build_absolute_uri(reverse("kite-postback")),
        "audits": ControlAudit.objects.filter(action__startswith="kite_login")[:10],
    }
    return render(request, "trading/kite.html", context)


@access.permission_required(access.KITE_LOGIN)
@require_GET
def kite_login(request: HttpRequest) -> HttpResponse:
    """Send the staff user to Kite's login page; a one-time state comes back with the redirect."""
    if not kite_session.kite_config().api_key:
        messages.error(request, "KITE_API_KEY is not set.")
        return redirect("kite-settings")
    state = secrets.token_urlsafe(16)
    request.session[_STATE_KEY] = state
    url = kite_session.kite_client().login_url()
    return redirect(f"{url}&{urlencode({'redirect_params': urlencode({'state': state})})}")


@access.permission_required(access.KITE_LOGIN)
@require_GET
def kite_callback(request: HttpRequest) -> HttpResponse:
    """Kite's redirect after login: ``request_token`` -> access token stored for today."""
    expected = request.session.pop(_STATE_KEY, None)
    if not expected or request.GET.get("state") != expected:
        messages.error(request, "Kite login refused: the login did not start from this page.")
        return redirect("kite-settings")
    token = request.GET.get("request_token", "")
    if request.GET.get("status") != "success" or not token:
        messages.error(request, f"Kite login did not succeed (status {request.GET.get('status', '?')}).")
        return redirect("kite-settings")
    try:
        state = kite_session.kite_session_create(request_token=token, user=request.user)
    except kite_session.KiteLoginFailed as exc:
        messages.error(request, f"Kite login failed: {exc}")
        return redirect("kite-settings")
    messages.success(request, f"Kite session stored for {state.kite_token_date:%Y-%m-%d}.")
    return redirect("kite-settings")
