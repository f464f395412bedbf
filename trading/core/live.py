"""The live side of a cycle, pure: where the bar comes from, its feature row and the signals on it.

* ``SimSource`` - the simulated market (``core.simulator.MarketSimulator``) as a source of bars and
  whole sessions; ``FeedSource`` wraps any ``trading.marketdata`` feed the same way.
* ``expiry_settlement`` - the spot an expired option settles on, from a source (the engine's
  ``SettlementLookup``).
* ``LiveSignals`` - keeps a ``features.FeatureBuilder`` fed bar by bar (incremental: a bar costs the
  same however long the history) and evaluates the strategies on the latest window
  (``strategies.evaluate.evaluate_all``). When the next bar does not follow the last one taken in (a
  fresh process, a restart, a skipped bar) it warms a new builder on the sessions before the bar
  (``warmup_sessions`` of them, never before the source's first session) and the bars of the
  session so far, exactly as ``core.backtest`` warms its frame - which is what makes a paper run and
  a backtest of the same bars trade alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from trading.core import calendar as market_calendar
from trading.core.bars import DayBars, MarketBar
from trading.core.features import FeatureBuilder, truncate_day
from trading.core.simulator import MarketSimulator
from trading.core.state import SignalInput
from trading.core.strategies.evaluate import FeatureWindow, latest_signals, strategy_pairs

BAR = timedelta(minutes=1)


class MarketSource(Protocol):
    """Bars and sessions of one index (see ``SimSource``)."""

    index: str
    source: str
    first_session: date | None

    def snapshot(self, at: datetime) -> MarketBar: ...

    def day(self, d: date) -> DayBars: ...

    def iv_history(self) -> Any: ...

    def settlement_price(self, expiry: date) -> float | None: ...


def expiry_settlement(source: MarketSource, expiry: date) -> float | None:
    """The spot options expiring on ``expiry`` settle on, from ``source``: its exchange settlement
    price when it has one (``source.settlement_price(expiry)``), else the close of the expiry
    session's last minute bar (only when the source has that very bar); None when neither is known.
    A ``SettlementLookup`` for ``engine.run_cycle`` (the source's index)."""
    exchange = getattr(source, "settlement_price", None)
    if exchange is not None:
        price = exchange(expiry)
        if price is not None:
            return float(price)
    try:
        day = source.day(expiry)
    except Exception:  # noqa: BLE001 - any feed's "no such session" (ValueError, FeedError...): unknown
        return None
    return closing_spot(day)


def closing_spot(day: DayBars) -> float | None:
    """The close of ``day``'s last minute bar (the spot at the session's close); None when the bars
    stop before that minute (or there are none)."""
    n = len(day)
    if not n or day.bar_time(n - 1) + BAR < market_calendar.session_close(day.session):
        return None
    return float(day.close[n - 1])


class SimSource:
    """The simulated market of ``index`` from ``start`` with ``seed``: deterministic for both."""

    source = "SIM"
    expiries_from_broker = False  # computed from the trading calendar

    def __init__(
        self, *, index: str = "NIFTY", seed: int = 7, start: date | None = None, simulator=None
    ) -> None:
        self.index = index.upper()
        self.seed = int(seed)
        self.sim = simulator or MarketSimulator(
            index=self.index, seed=self.seed, start=start or date(2025, 1, 1)
        )
        self.first_session: date | None = self.sim.first_session
        self._iv: Any = None

    def snapshot(self, at: datetime) -> MarketBar:
        """The last bar completed at ``at``."""
        return self.sim.snapshot(at)

    def day(self, d: date) -> DayBars:
        """Session ``d`` as arrays."""
        return self.sim.day(d)

    def settlement_price(self, expiry: date) -> float | None:
        """The simulated market has no exchange settlement price (its bars give the close)."""
        return None

    def iv_history(self) -> Any:
        """Closing ATM IV of the sessions before the first simulated one."""
        if self._iv is None:
            self._iv = self.sim.warmup_history()
        return self._iv

    def session_bars(self, d: date) -> list[datetime]:
        """Bar start times of session ``d`` (aware UTC)."""
        day = self.day(d)
        return [day.bar_time(i) for i in range(len(day))]


class FeedSource:
    """A ``trading.marketdata`` feed (``snapshot``/``days``) as a ``MarketSource``."""

    def __init__(self, feed, *, first_session: date | None = None, iv_history: Any = None) -> None:
        self.feed = feed
        self.index = getattr(feed, "index", "NIFTY").upper()
        self.source = getattr(feed, "source", "REPLAY") or "REPLAY"
        self.expiries_from_broker = bool(getattr(feed, "expiries_from_broker", False))
        self.first_session = first_session
        self._iv = iv_history

    def snapshot(self, at: datetime) -> MarketBar:
        return self.feed.snapshot(at)

    def day(self, d: date) -> DayBars:
        for day in self.feed.days(d, d):
            return day
        raise ValueError(f"no bars for session {d}")

    def settlement_price(self, expiry: date) -> float | None:
        """The feed's exchange settlement price of ``expiry`` (None when it has none)."""
        lookup = getattr(self.feed, "settlement_price", None)
        return lookup(expiry) if lookup is not None else None

    def iv_history(self) -> Any:
        return self._iv


def _previous_bar_time(bar_time: datetime) -> datetime | None:
    """The start of the bar before ``bar_time`` in market time (the previous session's last bar at
    the open); None before 09:15 IST."""
    ist = bar_time.astimezone(market_calendar.IST)
    d = ist.date()
    if ist > market_calendar.session_open(d):
        return bar_time - BAR
    prev = market_calendar.previous_trading_day(d)
    return market_calendar.session_close(prev) - BAR


class LiveSignals:
    """Feature rows and strategy signals, one bar at a time, for the live loop.

    The strategies read only their last ``lookback`` rows, kept as column arrays in a
    ``FeatureWindow`` (no DataFrame is built per bar), through ``latest_signals`` - the same function
    and guard as ``evaluate.evaluate_all``.
    """

    def __init__(self, source: MarketSource, *, warmup_sessions: int = 5) -> None:
        self.source = source
        self.warmup_sessions = warmup_sessions
        self.builder: FeatureBuilder | None = None
        self.rebuilds = 0
        self.timings: dict[str, float] = {}  # wall seconds per strategy on the last bar (for the metrics)
        self._window: FeatureWindow | None = None
        self._pairs_key: tuple | None = None
        self._pairs: list = []
        self._last_row: dict | None = None

    # --- features --------------------------------------------------------------------------------------

    def _warm_days(self, bar_time: datetime) -> list[DayBars]:
        """The sessions (and the part of the current one) before ``bar_time`` to warm a builder on."""
        d = market_calendar.ist_date(bar_time)
        first = self.source.first_session
        sessions: list[date] = []
        prev = d
        for _ in range(self.warmup_sessions):
            prev = market_calendar.previous_trading_day(prev)
            if first is not None and prev < first:
                break
            sessions.append(prev)
        days = [self.source.day(s) for s in reversed(sessions)]
        today = truncate_day(self.source.day(d), bar_time)
        if len(today):
            days.append(today)
        return days

    def _rebuild(self, bar_time: datetime) -> None:
        days = self._warm_days(bar_time)
        self.builder = FeatureBuilder.from_history(days, self.source.iv_history(), index=self.source.index)
        self._window = None
        self._last_row = None
        self.rebuilds += 1

    def row(self, bar: MarketBar) -> dict:
        """The feature row of ``bar`` (columns of docs/contracts.md plus ``time``); the same bar asked
        twice in a row gives the row already built."""
        last = self.builder.last_time if self.builder is not None else None
        if last is not None and last == bar.time and self._last_row is not None:
            return self._last_row
        if last is None or last != _previous_bar_time(bar.time):
            self._rebuild(bar.time)
        row = self.builder.append(bar)
        if self._window is not None:
            self._window.append(row)
        self._last_row = row
        return row

    # --- signals ---------------------------------------------------------------------------------------

    def _strategy_pairs(self, strategies) -> list:
        items = list(strategies.items()) if isinstance(strategies, Mapping) else list(strategies)
        key = tuple((name, repr(params)) for name, params in items)
        if key != self._pairs_key:
            self._pairs = strategy_pairs(items)
            self._pairs_key = key
            self._window = None
        return self._pairs

    def _feature_window(self, pairs: list) -> FeatureWindow:
        """The window of the columns and rows the strategies of ``pairs`` read, filled from the
        builder's history the first time (after a rebuild or a change of strategies)."""
        if self._window is None:
            columns = tuple(dict.fromkeys(c for strategy, _ in pairs for c in strategy.columns))
            longest = max((strategy.lookback for strategy, _ in pairs), default=1)
            window = FeatureWindow(capacity=longest, columns=columns)
            window.extend_frame(self.builder.frame())
            self._window = window
        return self._window

    def signals(self, strategies: Iterable[tuple[str, Any]] | Mapping[str, Any]) -> list[SignalInput]:
        """The signals of the latest row, in the order of ``strategies`` ((name, params) pairs)."""
        pairs = self._strategy_pairs(strategies)
        self.timings = {}
        if not pairs or self.builder is None or self.builder.last_time is None:
            return []
        window = self._feature_window(pairs)
        return latest_signals(pairs, window.arrays(), timings=self.timings)

    def step(
        self, bar: MarketBar, strategies: Iterable[tuple[str, Any]] | Mapping[str, Any]
    ) -> tuple[dict, list[SignalInput]]:
        """Take in ``bar``: its feature row and the strategies' signals on it."""
        row = self.row(bar)
        return row, self.signals(strategies)
