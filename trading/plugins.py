"""The one plugin loader: a registered name or a dotted path -> a class checked against a base class.

Brokers (``trading.brokers.registry``) and market-data feeds (``trading.marketdata.registry``) are
plugins: each kind keeps a table of built-in names -> dotted paths (``"paper":
"trading.brokers.paper.PaperBroker"``); the caller may add or replace entries with ``overrides``
(from its own configuration object - this module reads no settings and imports nothing of the
project). A name that is not in the table is tried as a dotted path (``"pkg.module.Class"``).

    FEEDS = PluginKind("feed", Feed, {"sim": "trading.marketdata.simulated.SimulatedFeed"}, UnknownFeed)
    FEEDS.load("SIM")                              # -> SimulatedFeed (names are case-insensitive)
    FEEDS.load("sample", {"sample": "pkg.mod.MyFeed"})
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import import_module
from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownPlugin(LookupError):
    """No plugin registered under that name, and it is not an importable dotted path to a subclass
    of the kind's base class."""


class PluginKind(Generic[T]):
    """One kind of plugin: its name for messages (``"broker"``), the base class every plugin must
    subclass, the built-in table (name -> dotted path) and the error raised for an unknown name (a
    subclass of ``UnknownPlugin`` and of the kind's own error class, so callers catch either)."""

    def __init__(
        self,
        kind: str,
        base: type[T],
        builtin: Mapping[str, str],
        error: type[UnknownPlugin] = UnknownPlugin,
    ) -> None:
        self.kind = kind
        self.base = base
        self.builtin = dict(builtin)
        self.error = error

    def table(self, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
        """The built-in names, with ``overrides`` (name -> dotted path) added or replacing them."""
        table = dict(self.builtin)
        table.update({str(name).lower(): path for name, path in (overrides or {}).items()})
        return table

    def names(self, overrides: Mapping[str, str] | None = None) -> list[str]:
        """The registered names, sorted."""
        return sorted(self.table(overrides))

    def load(self, name: str, overrides: Mapping[str, str] | None = None) -> type[T]:
        """The class registered as ``name`` (case-insensitive) or at the dotted path ``name``.

        Raises ``self.error`` when neither resolves to a subclass of ``self.base``.
        """
        table = self.table(overrides)
        path = table.get(str(name).strip().lower(), name)
        module_name, _, attribute = path.rpartition(".")
        if not module_name:
            raise self.error(f"unknown {self.kind} {name!r}: expected one of {', '.join(sorted(table))}")
        try:
            found = getattr(import_module(module_name), attribute)
        except (ImportError, AttributeError) as exc:
            raise self.error(f"unknown {self.kind} {name!r} ({path}): {exc}") from exc
        if not (isinstance(found, type) and issubclass(found, self.base)):
            raise self.error(f"{path} is not a {self.base.__name__}")
        return found
