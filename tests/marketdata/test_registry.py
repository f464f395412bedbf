"""Feeds found by name; the configured feed; the health check."""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path
from types import SimpleNamespace

import pytest

from trading.core import calendar as market_calendar
from trading.marketdata import registry
from trading.marketdata.base import Feed, FeedError
from trading.marketdata.config import FeedConfig
from trading.marketdata.kite.feed import KiteFeed
from trading.marketdata.replay import ReplayFeed, ReplayFormatError
from trading.marketdata.simulated import SimulatedFeed

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "replay_sample.csv"


def at(hh: int, mm: int, d: date = date(2025, 10, 6)) -> datetime:
    return datetime.combine(d, time(hh, mm), tzinfo=market_calendar.IST)


def test_feeds_by_name() -> None:
    assert registry.names() == ["kite", "replay", "sim", "store"]
    assert registry.feed_class("SIM") is SimulatedFeed
    assert registry.feed_class("replay") is ReplayFeed and registry.feed_class("kite") is KiteFeed
    assert registry.feed_class("trading.marketdata.simulated.SimulatedFeed") is SimulatedFeed
    with pytest.raises(registry.UnknownFeed, match="expected one of kite, replay, sim"):
        registry.feed_class("bloomberg")
    with pytest.raises(registry.UnknownFeed):
        registry.feed_class("trading.marketdata.base.FeedError")
    feed = registry.build_feed(FeedConfig(name="replay", replay_path=SAMPLE))
    assert isinstance(feed, Feed) and feed.source == "REPLAY"
    assert {cls.source for cls in (SimulatedFeed, ReplayFeed, KiteFeed)} == {"SIM", "REPLAY", "KITE"}


def test_extra_feeds_from_settings(settings) -> None:
    settings.MARKET_FEEDS = {"sample": "trading.marketdata.replay.ReplayFeed"}
    extra = FeedConfig.from_settings(settings).extra_feeds
    assert registry.feed_class("sample", extra) is ReplayFeed
    assert "sample" in registry.names(extra)


def configured(**settings: object) -> Feed:
    """The feed the settings ``settings`` configure (any object with the attributes will do)."""
    return registry.build_feed(FeedConfig.from_settings(SimpleNamespace(**settings)))


def test_feed_from_settings(tmp_path: Path) -> None:
    sim = configured(MARKET_FEED="sim", SIM_SEED=3, SIM_START="2025-10-01", TRADING_INDEX="NIFTY")
    assert isinstance(sim, SimulatedFeed) and sim.simulator.seed == 3
    assert sim.simulator.first_session == date(2025, 10, 1)
    replay = configured(MARKET_FEED="replay", MARKET_REPLAY_PATH=str(SAMPLE), TRADING_INDEX="NIFTY")
    assert isinstance(replay, ReplayFeed) and replay.sessions == [date(2025, 10, 6)]
    with pytest.raises(FeedError, match="MARKET_REPLAY_PATH"):
        configured(MARKET_FEED="replay", MARKET_REPLAY_PATH="", TRADING_INDEX="NIFTY")
    kite = configured(MARKET_FEED="kite", MARKET_DATA_DIR=tmp_path, TRADING_INDEX="NIFTY")
    assert isinstance(kite, KiteFeed) and kite.directory == tmp_path
    bad = tmp_path / "bad.csv"
    bad.write_text("time,index\n")
    with pytest.raises(ReplayFormatError):
        configured(MARKET_FEED="replay", MARKET_REPLAY_PATH=str(bad), TRADING_INDEX="NIFTY")


def test_feed_from_django_settings(settings) -> None:
    settings.MARKET_FEED = "sim"
    settings.SIM_SEED = 5
    settings.SIM_START = "2025-10-01"
    feed = registry.build_feed(FeedConfig.from_settings(settings))
    assert isinstance(feed, SimulatedFeed) and feed.simulator.seed == 5


def test_health_check(tmp_path: Path) -> None:
    replay = registry.build_feed(FeedConfig(name="replay", replay_path=SAMPLE))
    assert registry.check_feed(replay, at(9, 30)) is None
    assert "has completed" in registry.check_feed(replay, at(9, 0))
    kite = registry.build_feed(FeedConfig(name="kite", data_dir=tmp_path))
    assert "is it running" in registry.check_feed(kite, at(9, 30))
