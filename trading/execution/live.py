"""LIVE trading's conditions and the broker of a mode.

LIVE needs ``TRADING_MODE=LIVE``, ``LIVE_TRADING_ENABLED``, Kite credentials (``KITE_API_KEY`` and
``KITE_API_SECRET``), today's Kite access token, a staff confirmation today (audited) and a live
broker (``TRADING_BROKER``, default kite).

The broker follows the mode: every mode but LIVE trades on the paper broker, whatever
``TRADING_BROKER`` says (``paper_broker``); ``live_broker`` is the one function of the project that
builds a broker which sends orders out, and it checks every condition first. The desk asks
``default_broker`` and checks the conditions again every LIVE cycle (``LiveGuard``): a confirmation
from yesterday or an expired token stops it before anything is sent.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone

from trading import access, metrics
from trading.audit import ControlAudit
from trading.brokers.base import Broker
from trading.brokers.config import BrokerConfig
from trading.brokers.registry import UnknownBroker, broker_class, build_broker
from trading.core import calendar as market_calendar
from trading.execution.config import (
    broker_config,
    feed_config,
    feed_has_broker_expiries,
    setting,
    trading_index,
    trading_mode,
)
from trading.execution.controls import locked_state
from trading.execution.events import emit_mode
from trading.execution.models import TradingState

log = logging.getLogger(__name__)

LIVE = "LIVE"


class LiveTradingRefused(RuntimeError):
    """LIVE mode was asked for but one of its conditions is not met (the message lists them), or a
    mode other than LIVE was given a broker that sends orders out."""


def _live_broker_problem(config: BrokerConfig) -> str:
    """Why ``TRADING_BROKER`` cannot trade LIVE ('' when it can): unknown, or a simulated broker."""
    name = config.broker_name(LIVE)
    try:
        cls = broker_class(name, config.extra_brokers)
    except UnknownBroker:
        return f"TRADING_BROKER {name!r} is not a known broker"
    if cls.simulated:
        return f"TRADING_BROKER {name!r} is a simulated broker (LIVE needs one that sends orders)"
    return ""


def live_problems(index: str, *, on: date | None = None) -> list[str]:
    """Why LIVE trading may not start now ([] when it may): mode, switch, credentials, the broker,
    session token, and a staff confirmation today (``on``: the IST date, default today)."""
    on = on or market_calendar.ist_date(timezone.now())
    config = broker_config()
    problems = []
    if trading_mode() != LIVE:
        problems.append("TRADING_MODE is not LIVE")
    if not setting("LIVE_TRADING_ENABLED", False):
        problems.append("LIVE_TRADING_ENABLED is off")
    if not (config.kite.api_key and config.kite.api_secret):
        problems.append("Kite credentials (KITE_API_KEY, KITE_API_SECRET) are missing")
    broker_problem = _live_broker_problem(config)
    if broker_problem:
        problems.append(broker_problem)
    if not feed_has_broker_expiries():
        problems.append(
            f"MARKET_FEED {feed_config().name!r} does not take its expiries from the broker's "
            "instrument master (LIVE trades on the kite feed)"
        )
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
    emit_mode(index=index, mode="LIVE", detail=f"LIVE confirmed by {user}")
    metrics.control_action("live_confirmed")
    return state


def live_broker(index: str, **collaborators: Any) -> Broker:
    """The one way to build a broker that sends orders out: every LIVE condition of ``index`` is
    checked first (``live_problems``), then ``TRADING_BROKER`` (default kite) is built with today's
    access token. Raises ``LiveTradingRefused`` listing every unmet condition."""
    ensure_live_allowed(index)
    # kiteconnect pulls in twisted and OpenSSL (about 0.5 s): imported only when a live broker is built.
    from trading.execution.kite_session import kite_access_token  # noqa: PLC0415

    config = broker_config()
    return build_broker(config.broker_name(LIVE), config, access_token=kite_access_token, **collaborators)


def backtest_broker() -> Broker:
    """The paper broker of a backtest (``paper_broker``), its calls not observed in the desk's broker
    metrics (``trading_broker_api_*``): a backtest's simulated orders are not calls to a broker."""
    broker = paper_broker()
    broker.observed = False
    return broker


def paper_broker(**collaborators: Any) -> Broker:
    """The paper broker on the configured fill model (``PAPER_*``): the broker of every mode but
    LIVE. Raises ``LiveTradingRefused`` when ``TRADING_BROKERS`` maps ``paper`` to a broker that is
    not simulated."""
    config = broker_config()
    cls = broker_class("paper", config.extra_brokers)
    if not cls.simulated:
        raise LiveTradingRefused(
            f"TRADING_BROKERS maps 'paper' to {cls.__module__}.{cls.__name__}, which is not simulated: "
            "only LIVE may send orders out"
        )
    return cls.from_config(config, **collaborators)


def default_broker(mode: str | None = None, *, index: str | None = None, **collaborators: Any) -> Broker:
    """The broker of ``mode`` (default ``TRADING_MODE``): ``live_broker`` for LIVE (every condition
    checked), the paper broker for any other mode whatever ``TRADING_BROKER`` says."""
    if (mode or trading_mode()).upper() == LIVE:
        return live_broker(trading_index(index), **collaborators)
    return paper_broker(**collaborators)


def ensure_desk_broker(mode: str, broker: Broker) -> None:
    """A desk's broker must match its mode: outside LIVE only a simulated broker. Raises
    ``LiveTradingRefused``."""
    if mode.upper() != LIVE and not getattr(broker, "simulated", False):
        raise LiveTradingRefused(
            f"{mode} trades on a simulated broker; {type(broker).__name__} sends orders out (LIVE only)"
        )


class LiveGuard:
    """LIVE's conditions checked again before every cycle of a long-lived desk (a Celery worker
    keeps its desk for days): a confirmation from yesterday, an expired token, a switch turned off
    stop it before anything is sent. While the database is unreachable the last verdict of today
    stands (the desk goes on closing positions); a verdict of another day does not."""

    def __init__(self, index: str) -> None:
        self.index = index
        self._allowed_on: date | None = None

    def problems(self, *, now=None) -> list[str]:
        """Why this cycle may not trade LIVE ([] when it may)."""
        today = market_calendar.ist_date(now or timezone.now())
        try:
            problems = live_problems(self.index, on=today)
        except (OperationalError, InterfaceError):
            if self._allowed_on == today:
                return []
            return ["the LIVE conditions cannot be checked (database unreachable)"]
        self._allowed_on = None if problems else today
        if problems:
            log.error("LIVE cycle of %s refused: %s", self.index, "; ".join(problems))
        return problems
