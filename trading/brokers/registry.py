"""Brokers by name: one dotted path each, extended by ``settings.TRADING_BROKERS``.

``get_broker("paper")`` -> a ``PaperBroker``; ``get_broker("kite", max_retries=5)`` -> a
``KiteBroker`` configured from settings; a dotted path (``"pkg.module.Class"``) works too.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from trading.brokers.base import Broker
from trading.core.order_types import BrokerError

BROKERS: dict[str, str] = {
    "paper": "trading.brokers.paper.PaperBroker",
    "kite": "trading.brokers.kite.KiteBroker",
}


class UnknownBroker(BrokerError, LookupError):
    """No broker registered under that name (and it is not an importable dotted path)."""


def _registry() -> dict[str, str]:
    table = dict(BROKERS)
    try:
        from django.conf import settings

        table.update(getattr(settings, "TRADING_BROKERS", {}) or {})
    except Exception:  # noqa: BLE001 - outside Django (a script, a pure test) the defaults apply
        pass
    return table


def broker_class(name: str) -> type[Broker]:
    """The broker class registered as ``name`` (case-insensitive) or at dotted path ``name``.

    Raises ``UnknownBroker`` when neither resolves to a ``Broker`` subclass.
    """
    path = _registry().get(str(name).strip().lower(), name)
    module_name, _, attr = path.rpartition(".")
    if not module_name:
        raise UnknownBroker(f"unknown broker {name!r}: expected one of {', '.join(sorted(_registry()))}")
    try:
        cls = getattr(import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise UnknownBroker(f"unknown broker {name!r} ({path}): {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, Broker)):
        raise UnknownBroker(f"{path} is not a Broker")
    return cls


def get_broker(name: str = "paper", **kwargs: Any) -> Broker:
    """A new broker instance: ``broker_class(name)(**kwargs)``. Raises ``UnknownBroker``, and whatever
    the broker's constructor raises (``BrokerNotConfigured`` for Kite without credentials)."""
    return broker_class(name)(**kwargs)
