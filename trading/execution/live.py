"""LIVE trading's conditions and the broker of a mode.

LIVE needs ``TRADING_MODE=LIVE``, ``LIVE_TRADING_ENABLED``, Kite credentials, today's Kite access
token and a staff confirmation today (audited).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db import transaction
from django.utils import timezone

from trading import access, metrics
from trading.audit import ControlAudit
from trading.brokers.registry import build_broker
from trading.core import calendar as market_calendar
from trading.execution.config import broker_config, setting, trading_mode
from trading.execution.controls import locked_state
from trading.execution.kite_session import kite_access_token
from trading.execution.models import TradingState


class LiveTradingRefused(RuntimeError):
    """LIVE mode was asked for but one of its conditions is not met (the message lists them)."""


def live_problems(index: str, *, on: date | None = None) -> list[str]:
    """Why LIVE trading may not start now ([] when it may): mode, switch, credentials, session
    token, and a staff confirmation today."""
    on = on or market_calendar.ist_date(timezone.now())
    problems = []
    if trading_mode() != "LIVE":
        problems.append("TRADING_MODE is not LIVE")
    if not setting("LIVE_TRADING_ENABLED", False):
        problems.append("LIVE_TRADING_ENABLED is off")
    if not (setting("KITE_API_KEY", "") and setting("KITE_API_SECRET", "")):
        problems.append("Kite credentials (KITE_API_KEY, KITE_API_SECRET) are missing")
    state = TradingState.objects.filter(index=index).first()
    if state is None or not state.kite_access_token or state.kite_token_date != on:
        problems.append("no Kite access token for today (log in on the broker page)")
    if (
        state is None
        or state.live_confirmed_at is None
        or market_calendar.ist_date(state.live_confirmed_at) != on
    ):
        problems.append("no staff confirmation of LIVE trading today")
    return problems


def ensure_live_allowed(index: str) -> None:
    """Raise ``LiveTradingRefused`` listing every unmet condition of LIVE trading."""
    problems = live_problems(index)
    if problems:
        raise LiveTradingRefused("LIVE trading refused: " + "; ".join(problems))


@transaction.atomic
def live_confirm(*, index: str, user) -> TradingState:
    """A staff user confirms LIVE trading for today; audited. Refused unless every other condition
    (mode, switch, credentials, token) holds."""
    access.require(user, access.CONFIRM_LIVE)
    problems = [problem for problem in live_problems(index) if "confirmation" not in problem]
    if problems:
        raise LiveTradingRefused("cannot confirm LIVE trading: " + "; ".join(problems))
    state = locked_state(index)
    old = f"{state.live_confirmed_by_id}@{state.live_confirmed_at}" if state.live_confirmed_at else ""
    state.live_confirmed_by = user
    state.live_confirmed_at = timezone.now()
    state.save()
    ControlAudit.objects.create(
        user=user,
        index=index,
        action="live_confirm",
        old_value=old,
        new_value=f"{user.pk}@{state.live_confirmed_at:%Y-%m-%d %H:%M:%S}",
    )
    metrics.control_action("live_confirmed")
    return state


def default_broker(mode: str | None = None, **kwargs: Any):
    """The broker of the mode: ``settings.TRADING_BROKER``, else paper (PAPER) or kite (LIVE)."""
    config = broker_config()
    name = config.broker_name(mode or trading_mode())
    return build_broker(name, config, access_token=kite_access_token, **kwargs)
