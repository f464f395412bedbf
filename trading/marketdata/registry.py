"""Feeds by name: one dotted path each, extended by ``settings.MARKET_FEEDS``.

``get_feed("sim", seed=7)`` -> a ``SimulatedFeed``; ``get_feed("replay", path="var/recordings")``
-> a ``ReplayFeed``; ``get_feed("kite", directory="var/marketdata")`` -> a ``KiteFeed``; a dotted
path (``"pkg.module.Class"``) works too. ``feed_from_settings()`` builds the configured one
(``MARKET_FEED``) and ``check_feed`` is the health check the status page and metrics call.
"""

from __future__ import annotations

from datetime import date, datetime
from importlib import import_module
from pathlib import Path
from typing import Any

from trading.marketdata.base import Feed, FeedError

FEEDS: dict[str, str] = {
    "sim": "trading.marketdata.simulated.SimulatedFeed",
    "replay": "trading.marketdata.replay.ReplayFeed",
    "kite": "trading.marketdata.kite.KiteFeed",
}


class UnknownFeed(FeedError, LookupError):
    """No feed registered under that name (and it is not an importable dotted path)."""


def _settings() -> Any | None:
    try:
        from django.conf import settings

        settings.INSTALLED_APPS  # noqa: B018 - raises when Django is not configured
        return settings
    except Exception:  # noqa: BLE001 - outside Django (a script, a pure test) the defaults apply
        return None


def _registry() -> dict[str, str]:
    table = dict(FEEDS)
    settings = _settings()
    if settings is not None:
        table.update(getattr(settings, "MARKET_FEEDS", {}) or {})
    return table


def names() -> list[str]:
    """The registered feed names."""
    return sorted(_registry())


def feed_class(name: str) -> type[Feed]:
    """The feed class registered as ``name`` (case-insensitive) or at the dotted path ``name``."""
    path = _registry().get(str(name).strip().lower(), name)
    module_name, _, attr = path.rpartition(".")
    if not module_name:
        raise UnknownFeed(f"unknown feed {name!r}: expected one of {', '.join(names())}")
    try:
        cls = getattr(import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise UnknownFeed(f"unknown feed {name!r} ({path}): {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, Feed)):
        raise UnknownFeed(f"{path} is not a Feed")
    return cls


def get_feed(name: str = "sim", **options: Any) -> Feed:
    """A new feed: ``feed_class(name)(**options)``; raises ``UnknownFeed`` and what the feed raises
    (``ReplayFormatError`` for a bad replay file)."""
    return feed_class(name)(**options)


def feed_from_settings(settings: Any | None = None, *, index: str | None = None) -> Feed:
    """The feed configured by ``MARKET_FEED`` (sim, replay, kite) for ``index`` (``TRADING_INDEX``).

    sim: ``SIM_SEED``, ``SIM_START``; replay: ``MARKET_REPLAY_PATH`` (a file or a directory of
    recordings); kite: ``MARKET_DATA_DIR`` (where the ticker process publishes).
    """
    s = settings or _settings()
    if s is None:
        raise FeedError("feed_from_settings needs Django settings (or pass settings=...)")
    name = str(getattr(s, "MARKET_FEED", "sim") or "sim").lower()
    index = (index or getattr(s, "TRADING_INDEX", "NIFTY")).upper()
    if name == "sim":
        start = getattr(s, "SIM_START", "") or "2025-01-01"
        return get_feed(
            "sim", index=index, seed=int(getattr(s, "SIM_SEED", 0)), start=date.fromisoformat(str(start))
        )
    if name == "replay":
        path = getattr(s, "MARKET_REPLAY_PATH", "")
        if not path:
            raise FeedError(
                "MARKET_FEED=replay needs MARKET_REPLAY_PATH (a replay CSV or a directory of them)"
            )
        return get_feed("replay", path=Path(path), index=index)
    if name == "kite":
        return get_feed("kite", directory=Path(s.MARKET_DATA_DIR), index=index)
    return get_feed(name, index=index)


def check_feed(feed: Feed, at: datetime) -> str | None:
    """None when ``feed`` can serve a bar at ``at``, else the reason (for status pages and alerts)."""
    try:
        feed.check(at)
    except FeedError as exc:
        return str(exc)
    return None
