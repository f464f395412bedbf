"""The live desk page (``/desk/``) and its inline controls. The page draws itself from the WebSocket
(``/ws/desk/``); the controls call the audited services of ``trading.execution.controls``."""

from __future__ import annotations

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from trading import access
from trading.execution import controls
from trading.livedesk.permissions import can_control_desk


def _index(request) -> str:
    return (request.POST.get("index") or request.GET.get("index") or settings.TRADING_INDEX).upper()


@access.permission_required(access.VIEW_POSITIONS)
def desk_page(request):
    """Open positions, today's P&L, orders, signals, the market strip and the controls, live."""
    return render(
        request,
        "trading/desk.html",
        {"index": _index(request), "can_control": can_control_desk(request.user)},
    )


@access.permission_required(access.CONTROL_DESK)
@require_POST
def desk_kill_switch(request):
    """Turn the kill switch on or off (``on`` = 1/0), audited; the page sees the change as an event."""
    index, on = _index(request), request.POST.get("on") == "1"
    controls.kill_switch_set(index=index, on=on, user=request.user, reason=request.POST.get("reason", ""))
    return JsonResponse({"index": index, "kill_switch": on})


@access.permission_required(access.CONTROL_DESK)
@require_POST
def desk_breaker_reset(request):
    """Reset the circuit breaker, audited."""
    index = _index(request)
    controls.circuit_breaker_reset(index=index, user=request.user, reason=request.POST.get("reason", ""))
    return JsonResponse({"index": index, "breaker": False})
