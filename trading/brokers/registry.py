"""Brokers by name (``paper``, ``kite``, or a dotted path), built from a ``BrokerConfig``.

    config = BrokerConfig.from_settings(settings)           # once, by the execution layer
    broker = build_broker(config.broker_name(mode), config, access_token=kite_access_token)

Extra brokers come from ``config.extra_brokers`` (``TRADING_BROKERS``); the loader is the one in
``trading.plugins``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trading.brokers.base import Broker, TokenProvider
from trading.brokers.config import BrokerConfig
from trading.core.order_types import BrokerError
from trading.plugins import PluginKind, UnknownPlugin

BROKERS: dict[str, str] = {
    "paper": "trading.brokers.paper.PaperBroker",
    "kite": "trading.brokers.kite.broker.KiteBroker",
}


class UnknownBroker(BrokerError, UnknownPlugin):
    """No broker registered under that name (and it is not an importable dotted path)."""


PLUGINS: PluginKind[Broker] = PluginKind("broker", Broker, BROKERS, UnknownBroker)


def broker_class(name: str, extra_brokers: Mapping[str, str] | None = None) -> type[Broker]:
    """The broker class registered as ``name`` (case-insensitive; ``extra_brokers`` added to the
    built-in ones) or at the dotted path ``name``. Raises ``UnknownBroker``."""
    return PLUGINS.load(name, extra_brokers)


def build_broker(
    name: str,
    config: BrokerConfig | None = None,
    *,
    access_token: str | TokenProvider | None = None,
    **collaborators: Any,
) -> Broker:
    """A new broker ``name`` configured by ``config`` (default: ``BrokerConfig()``, paper without
    slippage). ``access_token`` (a token or a function returning it) is for Kite; ``collaborators``
    go to the broker (``on_update``, ``clock``, a ready ``kite`` client, limiters...). Raises
    ``UnknownBroker``, and what the broker raises (``BrokerNotConfigured`` for Kite without an API
    key or a token)."""
    config = config or BrokerConfig()
    cls = broker_class(name, config.extra_brokers)
    return cls.from_config(config, access_token=access_token, **collaborators)
