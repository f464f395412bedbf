"""Template context shared by every page."""

from __future__ import annotations

from django.conf import settings


def desk(request):
    """The trading mode and index, shown in every page's header."""
    return {"TRADING_MODE": settings.TRADING_MODE, "TRADING_INDEX": settings.TRADING_INDEX}
