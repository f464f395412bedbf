"""Feeds by name (``sim``, ``replay``, ``kite``, ``store``, or a dotted path), built from a ``FeedConfig``.

    config = FeedConfig.from_settings(settings)             # once, by the caller
    feed = build_feed(config)                               # the MARKET_FEED of TRADING_INDEX
    feed = build_feed(config, index="BANKNIFTY")            # the same feed for another index

Extra feeds come from ``config.extra_feeds`` (``MARKET_FEEDS``); the loader is the one in
``trading.plugins``. ``check_feed`` is the health check the status page and metrics call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

from trading.marketdata.base import Feed, FeedError
from trading.marketdata.config import FeedConfig
from trading.plugins import PluginKind, UnknownPlugin

FEEDS: dict[str, str] = {
    "sim": "trading.marketdata.simulated.SimulatedFeed",
    "replay": "trading.marketdata.replay.ReplayFeed",
    "kite": "trading.marketdata.kite.feed.KiteFeed",
    "store": "trading.marketdata.store_feed.StoreFeed",
}


class UnknownFeed(FeedError, UnknownPlugin):
    """No feed registered under that name (and it is not an importable dotted path)."""


PLUGINS: PluginKind[Feed] = PluginKind("feed", Feed, FEEDS, UnknownFeed)


def names(extra_feeds: Mapping[str, str] | None = None) -> list[str]:
    """The registered feed names (the built-in ones and ``extra_feeds``), sorted."""
    return PLUGINS.names(extra_feeds)


def feed_class(name: str, extra_feeds: Mapping[str, str] | None = None) -> type[Feed]:
    """The feed class registered as ``name`` (case-insensitive) or at the dotted path ``name``.
    Raises ``UnknownFeed``."""
    return PLUGINS.load(name, extra_feeds)


def build_feed(config: FeedConfig, *, index: str | None = None) -> Feed:
    """The feed ``config.name`` for ``index`` (default ``config.index``), built by its class's
    ``from_config``. Raises ``UnknownFeed``, and what the feed raises (``FeedError`` for replay
    without a path, ``ReplayFormatError`` for a bad replay file)."""
    if index:
        config = replace(config, index=index)
    return feed_class(config.name, config.extra_feeds).from_config(config)


def check_feed(feed: Feed, at: datetime) -> str | None:
    """None when ``feed`` can serve a bar at ``at``, else the reason (for status pages and alerts)."""
    try:
        feed.check(at)
    except FeedError as exc:
        return str(exc)
    return None
