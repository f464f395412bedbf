"""The simulated market as a feed: ``core.simulator.MarketSimulator`` behind the ``Feed`` interface."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime

import pandas as pd

from trading.core.bars import DayBars, MarketBar
from trading.core.simulator import MarketSimulator
from trading.marketdata.base import Feed, NoData
from trading.marketdata.config import FeedConfig


class SimulatedFeed(Feed):
    """Deterministic simulated bars of one index (seed, first session and start levels as the simulator's).

    ``snapshot(at)`` is the last bar completed at ``at`` - the simulated clock is whatever the caller
    says, so a paper run and a backtest over the same times see the same bars.
    """

    source = "SIM"

    def __init__(
        self,
        index: str = "NIFTY",
        seed: int = 0,
        start: date = date(2025, 1, 1),
        spot0: float = 24000.0,
        vix0: float = 14.0,
        simulator: MarketSimulator | None = None,
    ) -> None:
        self.simulator = simulator or MarketSimulator(
            index=index, seed=seed, start=start, spot0=spot0, vix0=vix0
        )
        self.index = self.simulator.index

    @classmethod
    def from_config(cls, config: FeedConfig) -> SimulatedFeed:
        """The simulated market of ``config.index`` from ``sim_seed`` and ``sim_start``."""
        return cls(index=config.index, seed=config.sim_seed, start=config.sim_start)

    def snapshot(self, at: datetime) -> MarketBar:
        try:
            return self.simulator.snapshot(at)
        except ValueError as exc:
            raise NoData(str(exc)) from exc

    def bars(self, start: datetime, end: datetime) -> Iterator[MarketBar]:
        return self.simulator.bars(start, end)

    def days(self, start: date, end: date) -> Iterator[DayBars]:
        return self.simulator.days(start, end)

    def warmup_history(self, days: int = 252) -> pd.DataFrame:
        """Daily closes (spot, VIX, ATM IV) of the sessions before the first one, for IV rank."""
        return self.simulator.warmup_history(days)
