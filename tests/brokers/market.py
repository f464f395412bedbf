"""A one-contract market for broker tests: a MarketBar whose chain quotes what the test says."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np

from tests.helpers import ist
from trading.core.bars import MarketBar, OptionChain

EXPIRY = date(2026, 5, 12)  # a NIFTY weekly (Tuesday) of the 65-lot series
STRIKE = 24000.0
SYMBOL = "NIFTY2651224000CE"


def make_bar(
    *,
    bid: float,
    ask: float,
    ltp: float | None = None,
    time: datetime | None = None,
    put_bid: float = 90.0,
    put_ask: float = 91.0,
    index: str = "NIFTY",
) -> MarketBar:
    """A bar at ``time`` (default 2026-05-05 10:00 IST) quoting the 24000 CE at ``bid``/``ask``."""
    strikes = np.array([23950.0, STRIKE, 24050.0])
    nan = np.full(3, np.nan)

    def arr(value: float) -> np.ndarray:
        return np.array([value + 25.0, value, max(value - 25.0, 0.05)])

    chain = OptionChain(
        expiry=EXPIRY,
        strikes=strikes,
        call_ltp=arr(ltp if ltp is not None else (bid + ask) / 2),
        call_bid=arr(bid),
        call_ask=arr(ask),
        call_oi=np.full(3, 1e6),
        call_volume=np.full(3, 1e5),
        call_iv=nan,
        put_ltp=arr((put_bid + put_ask) / 2),
        put_bid=arr(put_bid),
        put_ask=arr(put_ask),
        put_oi=np.full(3, 1e6),
        put_volume=np.full(3, 1e5),
        put_iv=nan,
    )
    return MarketBar(
        index=index,
        time=time or ist(2026, 5, 5, 10, 0),
        open=24000.0,
        high=24010.0,
        low=23990.0,
        close=24000.0,
        vix=14.0,
        chains=[chain],
    )
