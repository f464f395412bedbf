"""The desk's controls, for operators only (``access.CONTROL_DESK``) and audited (who, when,
old -> new): the kill switch and the circuit breaker reset. (LIVE confirmation: ``execution.live``.)"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction

from trading import access, metrics, outbox
from trading.audit import ControlAudit, user_or_none
from trading.execution import dispatch
from trading.execution.events import emit_control
from trading.execution.models import TradingState

log = logging.getLogger(__name__)


def locked_state(index: str) -> TradingState:
    """The index's control state, locked for this transaction (created on first use)."""
    return TradingState.objects.select_for_update().get_or_create(index=index)[0]


@transaction.atomic
def kill_switch_set(*, index: str, on: bool, user, reason: str = "") -> TradingState:
    """Turn the kill switch on (square off everything, block entries) or off; audited."""
    access.require(user, access.CONTROL_DESK)
    state = locked_state(index)
    old = state.kill_switch
    state.kill_switch = on
    state.save()
    ControlAudit.objects.create(
        user=user_or_none(user),
        index=index,
        action="kill_switch",
        old_value="on" if old else "off",
        new_value="on" if on else "off",
        detail=reason,
    )
    emit_control(outbox.KILL_SWITCH, index=index, on=on, reason=reason, user=str(user_or_none(user) or ""))
    if on and not getattr(settings, "CELERY_TASK_ALWAYS_EAGER", True):
        # Distributed: square off now rather than at the next cycle. (Embedded: the loop's next
        # cycle sees the switch; the web process never trades.) Sent by name: the tasks module
        # sits above this layer.
        transaction.on_commit(lambda: _send_square_off(index))
    metrics.control_action("kill_switch_on" if on else "kill_switch_off")
    return state


@transaction.atomic
def circuit_breaker_reset(*, index: str, user, reason: str = "") -> TradingState:
    """Lift a tripped circuit breaker before the next session (operators); audited. The loss counters
    restart from this moment."""
    access.require(user, access.CONTROL_DESK)
    state = locked_state(index)
    old = f"on: {state.circuit_breaker_reason}" if state.circuit_breaker else "off"
    state.circuit_breaker = False
    state.circuit_breaker_reason = ""
    state.circuit_breaker_session = None
    state.save()
    ControlAudit.objects.create(
        user=user_or_none(user),
        index=index,
        action="circuit_breaker_reset",
        old_value=old,
        new_value="off",
        detail=reason,
    )
    emit_control(outbox.BREAKER, index=index, on=False, reason=reason, user=str(user_or_none(user) or ""))
    metrics.control_action("breaker_reset")
    return state


def _send_square_off(index: str) -> None:
    try:
        dispatch.send("trading.tasks.square_off", index, "KILL_SWITCH")
    except Exception as exc:  # noqa: BLE001 - the broker away: the loop's next cycle squares off
        log.error("kill switch: the square-off of %s not queued (the next cycle squares off): %s", index, exc)
