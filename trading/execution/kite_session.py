"""The Kite daily login: login URL -> request token -> access token, stored for the day and audited.

The access token is handed to the Kite broker by its caller (``kite_access_token``); the broker never
reads the database itself. The account (API key and secret, root and login URLs) comes from
``execution.config.broker_config().kite``, the same configuration the broker is built from.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kite_exceptions

from trading.audit import ControlAudit
from trading.brokers.config import KiteConfig
from trading.brokers.kite.reader import KiteOrderReader
from trading.core import calendar as market_calendar
from trading.execution.config import broker_config, trading_index
from trading.execution.models import TradingState

# A Kite access token is valid until the next morning (Zerodha expires sessions at ~06:00 IST).
KITE_TOKEN_EXPIRES_AT = time(6, 0)


class KiteLoginFailed(Exception):
    """The request token could not be exchanged for an access token (the message says why)."""


def kite_config() -> KiteConfig:
    """The Kite account of the desk (``KITE_*`` settings, through ``broker_config``)."""
    return broker_config().kite


def kite_client(**kwargs: Any) -> KiteConnect:
    """A ``KiteConnect`` for the configured API key and root URL (no access token)."""
    config = kite_config()
    kite = KiteConnect(api_key=config.api_key, root=config.root_url or None, **kwargs)
    if config.login_url:
        kite._default_login_uri = config.login_url  # login_url() reads it; configurable for tests
    return kite


def kite_token_expires(token_date) -> datetime:
    """When a token obtained on ``token_date`` stops working: the next morning, 06:00 IST."""
    return datetime.combine(token_date + timedelta(days=1), KITE_TOKEN_EXPIRES_AT, tzinfo=market_calendar.IST)


def kite_token_state(*, now: datetime | None = None) -> TradingState | None:
    """The trading state holding the newest Kite token still valid at ``now``, None if there is none."""
    now = now or timezone.now()
    state = (
        TradingState.objects.exclude(kite_access_token="")
        .exclude(kite_token_date=None)
        .order_by("-kite_token_date", "-updated_at")
        .first()
    )
    if state is None or now >= kite_token_expires(state.kite_token_date):
        return None
    return state


def kite_access_token(*, now: datetime | None = None) -> str:
    """Today's Kite access token ('' when nobody has logged in since the last expiry)."""
    state = kite_token_state(now=now)
    return state.kite_access_token if state else ""


def kite_order_reader() -> KiteOrderReader:
    """Kite's record of orders, read only, with today's access token. Raises
    ``BrokerNotConfigured`` without an API key or a token."""
    return KiteOrderReader(kite_config(), access_token=kite_access_token)


def _login_failed(*, user, index: str, detail: str) -> KiteLoginFailed:
    ControlAudit.objects.create(user=user, index=index, action="kite_login_failed", detail=detail[:500])
    return KiteLoginFailed(detail)


def kite_session_create(
    *, request_token: str, user, index: str | None = None, kite=None, now: datetime | None = None
) -> TradingState:
    """Exchange a login ``request_token`` for an access token (``generate_session``) and store it on
    the index's ``TradingState`` with today's IST date; audited (``kite_login``, or
    ``kite_login_failed``). Raises ``KiteLoginFailed``."""
    index = trading_index(index)
    now = now or timezone.now()
    config = kite_config()
    if not config.api_key or not config.api_secret:
        raise KiteLoginFailed("KITE_API_KEY and KITE_API_SECRET must be set")
    kite = kite or kite_client()
    try:
        session = kite.generate_session(request_token=request_token, api_secret=config.api_secret)
    except (kite_exceptions.KiteException, OSError, ValueError) as exc:
        raise _login_failed(user=user, index=index, detail=str(exc)) from exc
    token = session.get("access_token") or ""
    if not token:
        ControlAudit.objects.create(
            user=user, index=index, action="kite_login_failed", detail="no access_token"
        )
        raise KiteLoginFailed("Kite returned no access token")
    with transaction.atomic():
        state, _ = TradingState.objects.select_for_update().get_or_create(index=index)
        old = state.kite_token_date
        state.kite_access_token = token
        state.kite_token_date = market_calendar.ist_date(now)
        state.save(update_fields=["kite_access_token", "kite_token_date", "updated_at"])
        # The token itself never goes into the audit: only who logged in, when, and as which Kite user.
        ControlAudit.objects.create(
            user=user,
            index=index,
            action="kite_login",
            old_value=old.isoformat() if old else "",
            new_value=state.kite_token_date.isoformat(),
            detail=f"Kite user {session.get('user_id', '?')}; valid until "
            f"{kite_token_expires(state.kite_token_date):%Y-%m-%d %H:%M} IST",
        )
    return state
