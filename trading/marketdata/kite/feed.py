"""``KiteFeed``: the trading process's side of the Kite feed (bars the ticker process published)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

from trading.core import calendar as market_calendar
from trading.core.bars import DayBars, MarketBar
from trading.marketdata.base import Feed, FeedError, NoData
from trading.marketdata.config import FeedConfig
from trading.marketdata.kite.handover import read_latest
from trading.marketdata.kite.minute_bars import MINUTE
from trading.marketdata.replay import ReplayFeed


class KiteFeed(Feed):
    """Bars published by the ticker process in ``directory`` (see the module docstring)."""

    source = "KITE"
    expiries_from_broker = True  # the ticker builds the chains from Kite's instrument master

    def __init__(
        self, directory: str | Path, index: str = "NIFTY", *, stale_after: timedelta = timedelta(minutes=3)
    ) -> None:
        self.directory = Path(directory)
        self.index = index.upper()
        self.stale_after = stale_after

    @classmethod
    def from_config(cls, config: FeedConfig) -> KiteFeed:
        """The bars the ticker process publishes in ``config.data_dir`` for ``config.index``."""
        return cls(config.data_dir, config.index)

    def _latest(self) -> MarketBar:
        bar = read_latest(self.directory, self.index)
        if bar is None:
            raise NoData(f"no {self.index} bar from the Kite ticker in {self.directory} yet: is it running?")
        return bar

    def snapshot(self, at: datetime) -> MarketBar:
        bar = self._latest()
        end = bar.time + MINUTE
        if end > at:  # our clock is behind the ticker's: the recording has the bar asked for
            return self._recording(until=at).snapshot(at)
        if at - end > self.stale_after and market_calendar.is_in_session(at - self.stale_after):
            raise FeedError(
                f"the Kite feed is stale: last {self.index} bar ended at {end:%H:%M:%S} UTC, now {at:%H:%M:%S} UTC"
            )
        return bar

    def _recording(self, until: datetime | None = None) -> ReplayFeed:
        """The recorded minutes up to ``until`` (default: the last one published complete)."""
        if until is None:
            until = self._latest().time + MINUTE
        return ReplayFeed(self.directory, self.index, until=until)

    def bars(self, start: datetime, end: datetime) -> Iterator[MarketBar]:
        return self._recording().bars(start, end)

    def days(self, start: date, end: date) -> Iterator[DayBars]:
        return self._recording().days(start, end)
