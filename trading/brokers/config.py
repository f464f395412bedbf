"""The brokers' configuration: frozen objects built once from settings by the caller.

No broker reads Django settings. The execution layer makes one ``BrokerConfig`` with
``BrokerConfig.from_settings(settings)`` (it passes the settings object in; this module imports no
Django) and builds brokers from it (``trading.brokers.registry.build_broker``). Tests build the
objects directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from trading.core import fills

MAX_MODIFICATIONS = 25  # Kite's limit of modifications per order


def _value(settings: Any, name: str, default: Any) -> Any:
    """``settings.name``, ``default`` when it is missing, None or ''."""
    value = getattr(settings, name, None)
    return default if value in (None, "") else value


@dataclass(frozen=True)
class KiteConfig:
    """The Kite Connect account and how the live broker works an order (``trading.brokers.kite``).

    Account (settings in brackets):

    * ``api_key`` (``KITE_API_KEY``): the app's key; without it no Kite broker can be built.
    * ``api_secret`` (``KITE_API_SECRET``): signs the login exchange and the postbacks (the execution
      layer's, never sent with orders).
    * ``root_url`` (``KITE_ROOT_URL``): the REST API's base URL; '' = the client's default
      (``https://api.kite.trade``). Tests point it at the local fake server.
    * ``login_url`` (``KITE_LOGIN_URL``): the page the daily login redirects to.
    * ``algo_id`` (``KITE_ALGO_ID``): the exchange-approved algo id sent with every order ('' = none).
    * ``static_ip`` (``KITE_STATIC_IP``): the registered static IP orders must come from (shown on the
      Kite page; the broker does not use it).
    * ``timeout`` (``KITE_TIMEOUT``): seconds per HTTP request; None = the client's default (7).

    Working an order:

    * ``max_retries`` (``KITE_MAX_RETRIES``, 5): re-pricings of an unfilled order before it is
      cancelled, 0..25 (Kite allows 25 modifications per order).
    * ``wait_seconds`` (``KITE_RETRY_WAIT_SECONDS``, 2.0): how long each price waits for a fill.
    * ``poll_interval`` (``KITE_POLL_SECONDS``, 0.5): seconds between ``order_history`` polls.
    * ``buffer_ticks`` (``KITE_PRICE_BUFFER_TICKS``, 2): ticks over the best ask (under the bid) of
      the marketable LIMIT a MARKET intent is sent as.
    * ``reprice_step_ticks`` (1, at least 1): the least move of a re-pricing, in ticks.
    * ``chase_limit_orders`` (True): re-price explicit LIMIT orders too (False: they rest OPEN).
    * ``market_orders`` (False): send MARKET intents as MARKET orders with ``market_protection``
      (-1 = Kite's automatic protection, or 1..100 percent; 0 is refused by Kite).
    * ``variety`` ("regular") and ``validity`` ("DAY"): Kite's order variety and validity.
    * ``refresh_quotes`` (True): ask ``kite.quote`` for a fresh touch when re-pricing or when the bar
      has no quote (1 request per second).
    * ``max_submit_attempts`` (4, at least 1): attempts of one call (place, cancel, a read) before
      giving up; ``backoff_seconds`` (0.25): the first back-off, doubled each attempt;
      ``lookup_delay`` (1.0): seconds to wait after a timed-out placement before looking the tag up
      (the order may exist).
    * ``tick`` (0.05) and ``band`` (the exchange's limit-price protection): the grid and range a
      limit price must respect (``trading.core.fills``).

    Raises ValueError for ``max_retries`` outside 0..25 or a ``market_protection`` Kite refuses.
    """

    api_key: str = ""
    api_secret: str = ""
    root_url: str = ""
    login_url: str = ""
    algo_id: str = ""
    static_ip: str = ""
    timeout: float | None = None
    max_retries: int = 5
    wait_seconds: float = 2.0
    poll_interval: float = 0.5
    buffer_ticks: int = 2
    reprice_step_ticks: int = 1
    chase_limit_orders: bool = True
    market_orders: bool = False
    market_protection: int = -1
    variety: str = "regular"
    validity: str = "DAY"
    refresh_quotes: bool = True
    max_submit_attempts: int = 4
    backoff_seconds: float = 0.25
    lookup_delay: float = 1.0
    tick: Decimal = fills.TICK_SIZE
    band: fills.BandRule = fills.DEFAULT_BAND

    def __post_init__(self) -> None:
        if not 0 <= self.max_retries <= MAX_MODIFICATIONS:
            raise ValueError(
                f"max_retries {self.max_retries}: Kite allows 0..{MAX_MODIFICATIONS} modifications"
            )
        if self.market_protection == 0 or not -1 <= self.market_protection <= 100:
            raise ValueError("market_protection must be -1 or 1..100 (0 is rejected by Kite)")
        object.__setattr__(self, "reprice_step_ticks", max(int(self.reprice_step_ticks), 1))
        object.__setattr__(self, "max_submit_attempts", max(int(self.max_submit_attempts), 1))

    @classmethod
    def from_settings(cls, settings: Any) -> KiteConfig:
        """The ``KITE_*`` settings of ``settings`` (a Django settings object or any object with those
        attributes); a missing or empty one keeps the default."""
        timeout = _value(settings, "KITE_TIMEOUT", None)
        return cls(
            api_key=str(_value(settings, "KITE_API_KEY", "")),
            api_secret=str(_value(settings, "KITE_API_SECRET", "")),
            root_url=str(_value(settings, "KITE_ROOT_URL", "")),
            login_url=str(_value(settings, "KITE_LOGIN_URL", "")),
            algo_id=str(_value(settings, "KITE_ALGO_ID", "")),
            static_ip=str(_value(settings, "KITE_STATIC_IP", "")),
            timeout=float(timeout) if timeout is not None else None,
            max_retries=int(_value(settings, "KITE_MAX_RETRIES", cls.max_retries)),
            wait_seconds=float(_value(settings, "KITE_RETRY_WAIT_SECONDS", cls.wait_seconds)),
            poll_interval=float(_value(settings, "KITE_POLL_SECONDS", cls.poll_interval)),
            buffer_ticks=int(_value(settings, "KITE_PRICE_BUFFER_TICKS", cls.buffer_ticks)),
        )


def paper_fill_model(settings: Any) -> fills.FillConfig:
    """The paper broker's fill model from ``PAPER_SLIPPAGE_TICKS`` (ticks against the taker, 0) and
    ``PAPER_LATENCY_MS`` (order-to-fill latency in milliseconds, 0)."""
    ticks = int(_value(settings, "PAPER_SLIPPAGE_TICKS", 0))
    latency = int(_value(settings, "PAPER_LATENCY_MS", 0))
    return fills.FillConfig(slippage_ticks=ticks, latency=timedelta(milliseconds=latency))


@dataclass(frozen=True)
class BrokerConfig:
    """Everything a broker is built from.

    * ``name`` (``TRADING_BROKER``): the broker LIVE trades with; '' = kite (``broker_name``). Any
      other mode trades on paper whatever it says.
    * ``paper``: the paper broker's fill model (``trading.core.fills.FillConfig``: slippage ticks,
      latency, tick and price band), from ``PAPER_SLIPPAGE_TICKS`` and ``PAPER_LATENCY_MS``.
    * ``kite``: the Kite account and order working (``KiteConfig``).
    * ``extra_brokers`` (``TRADING_BROKERS``): more brokers by name -> dotted path, added to or
      replacing the built-in ``paper`` and ``kite`` (read-only).
    """

    name: str = ""
    paper: fills.FillConfig = field(default_factory=fills.FillConfig)
    kite: KiteConfig = field(default_factory=KiteConfig)
    extra_brokers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", str(self.name or "").strip().lower())
        object.__setattr__(self, "extra_brokers", MappingProxyType(dict(self.extra_brokers or {})))

    def broker_name(self, mode: str) -> str:
        """The broker of ``mode``: ``paper`` for any mode but LIVE (PAPER is paper, always); for LIVE
        ``name`` when set, else ``kite``. Whether LIVE may trade at all is the execution layer's
        question (``trading.execution.live.live_broker``)."""
        if str(mode).upper() != "LIVE":
            return "paper"
        return self.name or "kite"

    @classmethod
    def from_settings(cls, settings: Any) -> BrokerConfig:
        """The brokers' configuration from ``settings`` (``TRADING_BROKER``, ``TRADING_BROKERS``,
        ``PAPER_*``, ``KITE_*``); missing settings keep the defaults."""
        return cls(
            name=str(_value(settings, "TRADING_BROKER", "")),
            paper=paper_fill_model(settings),
            kite=KiteConfig.from_settings(settings),
            extra_brokers=dict(_value(settings, "TRADING_BROKERS", {}) or {}),
        )
