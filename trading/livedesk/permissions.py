"""Who may watch the live desk and who may use its controls - the one place the page and the
WebSocket ask.

HOOK for the roles of issue 11 (``trading.access``, branch ``access``: viewer / trader / operator):
until they land, watching needs an authenticated active user and the controls need staff (what
``trading.execution.controls`` enforces). When they land, ``can_view_desk`` becomes
``user.has_perm(access.VIEW_POSITIONS)`` and ``can_control_desk`` ``user.has_perm(access.CONTROL_DESK)``.
"""

from __future__ import annotations


def can_view_desk(user) -> bool:
    """True when ``user`` may watch the desk (page and ``/ws/desk/``): the viewer permission."""
    return bool(user is not None and user.is_authenticated and user.is_active)


def can_control_desk(user) -> bool:
    """True when ``user`` may use the kill switch and reset the breaker from the desk (operators)."""
    return bool(can_view_desk(user) and user.is_staff)
