"""Who may watch the live desk and who may use its controls - the one place the page and the
WebSocket ask, on the roles of ``trading.access``: watching needs the viewer's permission to see
positions, the controls the operator's ``CONTROL_DESK``."""

from __future__ import annotations

from trading import access


def can_view_desk(user) -> bool:
    """True when ``user`` may watch the desk (page and ``/ws/desk/``): the viewer permission."""
    return access.has(user, access.VIEW_POSITIONS)


def can_control_desk(user) -> bool:
    """True when ``user`` may use the kill switch and reset the breaker from the desk (operators)."""
    return access.has(user, access.CONTROL_DESK)
