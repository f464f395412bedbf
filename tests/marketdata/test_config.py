"""Feeds are built from a frozen ``FeedConfig`` made from settings by the caller: every setting in its
field, defaults when missing, one configuration for several indices, extra feeds by name."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from trading.core.bars import MarketBar
from trading.marketdata import registry
from trading.marketdata.base import Feed, FeedError
from trading.marketdata.config import FeedConfig
from trading.marketdata.kite.feed import KiteFeed
from trading.marketdata.replay import ReplayFeed
from trading.marketdata.simulated import SimulatedFeed

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "replay_sample.csv"


class ClosedFeed(Feed):
    """A feed plugin that needs nothing but its index (built by ``Feed.from_config``)."""

    source = "SIM"

    def __init__(self, index: str = "NIFTY") -> None:
        self.index = index

    def snapshot(self, at: datetime) -> MarketBar:
        raise FeedError("closed")


def test_every_setting_lands_in_its_field(tmp_path: Path) -> None:
    settings = SimpleNamespace(
        MARKET_FEED="Replay",
        TRADING_INDEX="banknifty",
        SIM_SEED=11,
        SIM_START="2025-03-03",
        MARKET_REPLAY_PATH=str(SAMPLE),
        MARKET_DATA_DIR=str(tmp_path),
        MARKET_FEEDS={"closed": "tests.marketdata.test_config.ClosedFeed"},
    )
    assert FeedConfig.from_settings(settings) == FeedConfig(
        name="replay",
        index="BANKNIFTY",
        sim_seed=11,
        sim_start=date(2025, 3, 3),
        replay_path=SAMPLE,
        data_dir=tmp_path,
        extra_feeds={"closed": "tests.marketdata.test_config.ClosedFeed"},
    )


def test_missing_or_empty_settings_keep_the_defaults() -> None:
    config = FeedConfig.from_settings(SimpleNamespace(MARKET_REPLAY_PATH="", SIM_SEED=None))
    assert config == FeedConfig()
    assert (config.name, config.index, config.sim_seed, config.sim_start) == (
        "sim",
        "NIFTY",
        7,
        date(2025, 1, 1),
    )
    assert config.replay_path is None and config.data_dir == Path("var/marketdata")
    assert FeedConfig(sim_seed=0).sim_seed == 0  # 0 is a seed, not "unset"
    assert FeedConfig.from_settings(SimpleNamespace(SIM_SEED=0)).sim_seed == 0


def test_configuration_is_frozen() -> None:
    config = FeedConfig(extra_feeds={"closed": "tests.marketdata.test_config.ClosedFeed"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.name = "kite"  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.extra_feeds["other"] = "x.y.Z"  # type: ignore[index]


def test_one_configuration_serves_several_indices(tmp_path: Path) -> None:
    config = FeedConfig(name="kite", data_dir=tmp_path)
    nifty, bank = registry.build_feed(config), registry.build_feed(config, index="BANKNIFTY")
    assert isinstance(nifty, KiteFeed) and (nifty.index, bank.index) == ("NIFTY", "BANKNIFTY")
    assert bank.directory == tmp_path and config.index == "NIFTY"
    sim = registry.build_feed(FeedConfig(sim_seed=4), index="banknifty")
    assert isinstance(sim, SimulatedFeed) and sim.index == "BANKNIFTY" and sim.simulator.seed == 4


def test_dotted_paths_keep_their_case_and_extra_feeds_use_the_default_builder() -> None:
    by_path = registry.build_feed(
        FeedConfig(name="tests.marketdata.test_config.ClosedFeed", index="finnifty")
    )
    assert isinstance(by_path, ClosedFeed) and by_path.index == "FINNIFTY"
    config = FeedConfig(name="CLOSED", extra_feeds={"closed": "tests.marketdata.test_config.ClosedFeed"})
    feed = registry.build_feed(config)
    assert isinstance(feed, ClosedFeed)
    assert registry.check_feed(feed, datetime(2025, 10, 6, 4, 0)) == "closed"
    with pytest.raises(registry.UnknownFeed):
        registry.build_feed(FeedConfig(name="closed"))  # not registered without the configuration


def test_replay_needs_its_path() -> None:
    with pytest.raises(FeedError, match="MARKET_REPLAY_PATH"):
        registry.build_feed(FeedConfig(name="replay"))
    assert isinstance(registry.build_feed(FeedConfig(name="replay", replay_path=str(SAMPLE))), ReplayFeed)
