"""Kite Connect pages: the postback endpoint, the daily login flow and the Kite settings page.

Thin views: the work is in ``trading.execution.kite_session`` and ``trading.execution.broker_updates``.
"""

from __future__ import annotations

import json
import logging
import secrets
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from trading import access
from trading.audit import ControlAudit
from trading.execution import broker_updates, kite_session

log = logging.getLogger(__name__)

_STATE_KEY = "kite_login_state"


@csrf_exempt  # Kite posts from outside; the checksum is the authentication
@require_POST
def kite_postback(request: HttpRequest) -> HttpResponse:
    """Kite's order postback: JSON, checksum = SHA-256(order_id + order_timestamp + api_secret).
    400 for a malformed body, 403 for a bad checksum (nothing changed), 200 otherwise."""
    try:
        payload = json.loads(request.body or b"")
    except (ValueError, UnicodeDecodeError):
        return JsonResponse({"status": "error", "message": "body is not JSON"}, status=400)
    required = ("order_id", "order_timestamp", "status", "checksum")
    if not isinstance(payload, dict) or any(not payload.get(k) for k in required):
        return JsonResponse(
            {"status": "error", "message": f"expected JSON with {', '.join(required)}"}, status=400
        )
    if not broker_updates.postback_checksum_ok(payload, settings.KITE_API_SECRET):
        log.warning("Kite postback for order %s refused: bad checksum", payload.get("order_id"))
        return JsonResponse({"status": "error", "message": "bad checksum"}, status=403)
    order = broker_updates.apply_kite_postback(payload=payload)
    return JsonResponse({"status": "ok" if order is not None else "ignored"})


@access.permission_required(access.KITE_LOGIN)
@require_GET
def kite_settings(request: HttpRequest) -> HttpResponse:
    """The Kite page: today's session, the login button, algo id, static IP and the URLs to register."""
    state = kite_session.kite_token_state()
    key = settings.KITE_API_KEY
    context = {
        "api_key": f"{key[:4]}{'*' * max(len(key) - 4, 0)}" if key else "",
        "api_secret_set": bool(settings.KITE_API_SECRET),
        "algo_id": settings.KITE_ALGO_ID,
        "static_ip": settings.KITE_STATIC_IP,
        "root_url": settings.KITE_ROOT_URL,
        "trading_mode": settings.TRADING_MODE,
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
    if not settings.KITE_API_KEY:
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
