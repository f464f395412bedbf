"""The operators' control page: kill switch, circuit-breaker reset, LIVE confirmation, and the audit log.

Views are thin: each POST calls one service of ``trading.execution`` (which audits it).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from trading import access
from trading.audit import ControlAudit
from trading.execution import controls, live
from trading.execution.config import trading_mode
from trading.execution.models import Position, PositionStatus, TradingState


def _index(request) -> str:
    return (request.POST.get("index") or request.GET.get("index") or settings.TRADING_INDEX).upper()


@access.permission_required(access.CONTROL_DESK)
def control_page(request):
    """State of the desk (kill switch, breaker, LIVE readiness) and the last control actions."""
    index = _index(request)
    state, _ = TradingState.objects.get_or_create(index=index)
    context = {
        "index": index,
        "state": state,
        "open_positions": Position.objects.filter(index=index, status=PositionStatus.OPEN).count(),
        "live_problems": live.live_problems(index),
        "trading_mode": trading_mode(),
        "audits": ControlAudit.objects.filter(index=index).select_related("user")[:50],
    }
    return render(request, "trading/control.html", context)


@access.permission_required(access.CONTROL_DESK)
@require_POST
def kill_switch(request):
    index = _index(request)
    on = request.POST.get("on") == "1"
    controls.kill_switch_set(index=index, on=on, user=request.user, reason=request.POST.get("reason", ""))
    messages.warning(request, f"Kill switch {'ON: squaring off, no new entries' if on else 'off'} ({index}).")
    return redirect(f"/control/?index={index}")


@access.permission_required(access.CONTROL_DESK)
@require_POST
def breaker_reset(request):
    index = _index(request)
    controls.circuit_breaker_reset(index=index, user=request.user, reason=request.POST.get("reason", ""))
    messages.success(request, f"Circuit breaker reset ({index}).")
    return redirect(f"/control/?index={index}")


@access.permission_required(access.CONFIRM_LIVE)
@require_POST
def live_confirm(request):
    index = _index(request)
    try:
        live.live_confirm(index=index, user=request.user)
    except live.LiveTradingRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"LIVE trading confirmed for today ({index}).")
    return redirect(f"/control/?index={index}")
