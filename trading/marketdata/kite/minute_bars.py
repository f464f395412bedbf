"""Ticks -> one ``MarketBar`` per minute (the rules are in the package docstring)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np

from trading.core import calendar as market_calendar
from trading.core.bars import CHAIN_FIELDS, MarketBar, OptionChain
from trading.marketdata.kite.instruments import KiteContract, KiteInstruments

MINUTE = timedelta(minutes=1)


def _floor_minute(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


def _in_session(minute_start: datetime) -> bool:
    ist = minute_start.astimezone(market_calendar.IST).time()
    return market_calendar.SESSION_OPEN <= ist < market_calendar.SESSION_CLOSE


@dataclass
class _Quote:
    ltp: float = math.nan
    bid: float = math.nan
    ask: float = math.nan
    oi: float = math.nan
    volume: float = math.nan


class MinuteBarBuilder:
    """Aggregates ticks into one ``MarketBar`` per minute (see the module docstring for the rules).

    ``on_ticks(ticks, now)`` and ``advance(now)`` return the bars completed by ``now``.
    ``wanted_tokens()`` is the subscription the current spot needs (the window follows spot:
    re-centred when the ATM strike moves ``recentre_steps`` away from the last centre).
    """

    def __init__(
        self,
        instruments: KiteInstruments,
        expiries: list[date],
        *,
        window: int = 20,
        recentre_steps: int = 5,
    ) -> None:
        self.instruments = instruments
        self.index = instruments.index
        self.expiries = list(expiries)
        self.window = window
        self.recentre_steps = recentre_steps
        self.quotes: dict[int, _Quote] = {}
        self._minute: datetime | None = None
        self._spot: list[float] = []  # prices of the index in the current minute
        self._last_close = math.nan
        self._vix = math.nan
        self._centre = math.nan
        self._wanted: dict[int, KiteContract] = {}

    # subscription

    def centre(self, spot: float) -> dict[int, KiteContract]:
        """Centre the subscription on ``spot``; returns the option contracts to subscribe.

        ``window + recentre_steps`` strikes each side, so that the ``window`` strikes of a bar are
        always subscribed until spot has moved far enough to re-centre.
        """
        self._centre = spot
        self._wanted.update(self.instruments.tokens(self.expiries, spot, self.window + self.recentre_steps))
        return dict(self._wanted)

    def wanted_tokens(self) -> list[int]:
        """Every instrument token the builder needs: index, VIX and the option window(s)."""
        return [self.instruments.spot_token, self.instruments.vix_token, *self._wanted]

    def _maybe_recentre(self, spot: float) -> None:
        if not self.expiries:
            return
        strikes = self.instruments.strikes(self.expiries[0])
        if strikes.size < 2 or math.isnan(self._centre):
            self.centre(spot)
            return
        step = float(np.median(np.diff(strikes)))
        if abs(spot - self._centre) >= self.recentre_steps * step:
            self.centre(spot)

    # ticks

    def on_ticks(self, ticks: Iterable[dict], now: datetime) -> list[MarketBar]:
        """Take in ticks that arrived at ``now``; returns the bars of the minutes that ended before."""
        bars = self.advance(now)
        for tick in ticks:
            token = int(tick.get("instrument_token", -1))
            price = float(tick.get("last_price", math.nan))
            if token == self.instruments.spot_token:
                if price > 0:
                    self._spot.append(price)
                    self._maybe_recentre(price)
            elif token == self.instruments.vix_token:
                if price > 0:
                    self._vix = price
            elif token in self._wanted:
                self._take_option_tick(token, price, tick)
        return bars

    def _take_option_tick(self, token: int, price: float, tick: dict) -> None:
        """An option's tick: last price, the day's volume, OI and the best bid/ask of its depth."""
        quote = self.quotes.setdefault(token, _Quote())
        quote.ltp = price
        if "volume_traded" in tick:
            quote.volume = float(tick["volume_traded"])
        if "oi" in tick:
            quote.oi = float(tick["oi"])
        depth = tick.get("depth")
        if depth:
            quote.bid = _best(depth.get("buy"))
            quote.ask = _best(depth.get("sell"))

    def advance(self, now: datetime) -> list[MarketBar]:
        """Close every minute that ended at or before ``now``; returns their bars (session minutes)."""
        current = _floor_minute(now)
        if self._minute is None:
            self._minute = current
            return []
        bars: list[MarketBar] = []
        while self._minute < current:
            bar = self._close_minute(self._minute)
            if bar is not None:
                bars.append(bar)
            self._minute += MINUTE
        return bars

    def _close_minute(self, start: datetime) -> MarketBar | None:
        """The bar of the minute from ``start`` (None outside the session, or before any index
        price or VIX value); the index's close carries over to a minute without ticks."""
        prices = self._minute_prices()
        if prices is None or not _in_session(start) or math.isnan(self._vix):
            return None
        first, high, low, last = prices
        chains = [self._chain(expiry, last) for expiry in self.expiries]
        return MarketBar(
            index=self.index,
            time=start,
            open=first,
            high=high,
            low=low,
            close=last,
            vix=self._vix,
            volume=0.0,
            chains=[chain for chain in chains if chain is not None],
        )

    def _minute_prices(self) -> tuple[float, float, float, float] | None:
        """Open, high, low and close of the index in the minute ending (the last close repeated
        when no tick came; None before the first price); starts the next minute."""
        spot, self._spot = self._spot, []
        if spot:
            prices = (spot[0], max(spot), min(spot), spot[-1])
        elif not math.isnan(self._last_close):
            prices = (self._last_close,) * 4
        else:
            return None
        self._last_close = prices[3]
        return prices

    def _chain(self, expiry: date, spot: float) -> OptionChain | None:
        """The ``window`` strikes of ``expiry`` around ``spot`` with each option's last quote (NaN
        where none came); None when the expiry lists no strikes."""
        strikes = self.instruments.window(expiry, spot, self.window)
        if strikes.size == 0:
            return None
        values = {name: np.full(strikes.size, np.nan) for name in CHAIN_FIELDS}
        for row, strike in enumerate(strikes):
            for side, option_type in (("call", "CE"), ("put", "PE")):
                contract = self.instruments.contract(expiry, strike, option_type)
                quote = self.quotes.get(contract.token) if contract else None
                if quote is None:
                    continue
                values[f"{side}_ltp"][row] = quote.ltp
                values[f"{side}_bid"][row] = quote.bid
                values[f"{side}_ask"][row] = quote.ask
                values[f"{side}_oi"][row] = quote.oi
                values[f"{side}_volume"][row] = quote.volume
        return OptionChain(expiry=expiry, strikes=strikes.astype(float), **values)


def _best(levels: list[dict] | None) -> float:
    if not levels:
        return math.nan
    price = float(levels[0].get("price", 0.0))
    return price if price > 0 else math.nan
