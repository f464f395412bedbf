"""The prices the Kite broker sends: the opening price of an order and each re-pricing of the chase.

Pure functions of the request, the quote and ``KiteConfig`` (tick, price band, buffer), plus
``RoundQuotes``, the one-quote-per-contract-per-round cache (Kite allows 1 quote request a second).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from trading.brokers.config import KiteConfig
from trading.brokers.kite.client import KiteClient
from trading.core import fills
from trading.core.order_types import OrderRequest


@dataclass(frozen=True)
class Opening:
    """How an order goes out: at the LIMIT ``price`` (None: as a MARKET order), or refused before
    anything is sent (``refusal`` a reason code, ``message`` the detail)."""

    price: Decimal | None = None
    refusal: str = ""
    message: str = ""


def price_detail(problem: str, price: Decimal | None, reference: Decimal | None, config: KiteConfig) -> str:
    """The message of a price refused for ``problem`` (``price_band`` or ``invalid_price``)."""
    if problem == fills.R_PRICE_BAND and reference is not None:
        low, high = fills.price_band(reference, config.band, config.tick)
        return f"price_band: {price} outside {low}-{high} around {reference}"
    return f"{problem}: {price} is not a positive multiple of {config.tick}"


def marketable_price(side: str, quote: fills.Quote | None, config: KiteConfig) -> Decimal | None:
    """``buffer_ticks`` through the touch on ``side``, inside the band; None without a quote."""
    if not quote:
        return None
    return fills.marketable_limit_price(
        side, quote, buffer_ticks=config.buffer_ticks, tick=config.tick, band=config.band
    )


def opening_price(
    request: OrderRequest, quote: fills.Quote | None, reference: Decimal | None, config: KiteConfig
) -> Opening:
    """A LIMIT keeps its own price if it is on the tick and inside the band around ``reference``
    (else refused ``invalid_price``); a MARKET intent goes as a marketable LIMIT (refused
    ``no_quote`` without a quote on its side), or as MARKET when ``config.market_orders``."""
    if request.order_type == fills.LIMIT:
        problem = fills.price_reject_reason(request.price, reference, tick=config.tick, band=config.band)
        if problem:
            detail = price_detail(problem, request.price, reference, config)
            return Opening(refusal=fills.R_INVALID_PRICE, message=detail)
        return Opening(price=request.price)
    if config.market_orders:
        return Opening(price=None)
    price = marketable_price(request.transaction_type, quote, config)
    if price is None:
        detail = f"no {request.transaction_type} side quote for {request.tradingsymbol}"
        return Opening(refusal=fills.R_NO_QUOTE, message=detail)
    return Opening(price=price)


def chase_price(
    side: str, current: Decimal, quote: fills.Quote | None, reference: Decimal | None, config: KiteConfig
) -> Decimal:
    """The next limit of an unfilled order resting at ``current``: the marketable price now, at least
    ``reprice_step_ticks`` further than ``current`` (a SELL never under one tick), kept inside the
    band around ``reference``. Equal to ``current`` at the band's edge."""
    step = config.tick * config.reprice_step_ticks
    target = marketable_price(side, quote, config)
    if side == fills.BUY:
        price = max(target or current, current + step)
    else:
        price = max(min(target or current, current - step), config.tick)
    if reference is not None:
        low, high = fills.price_band(reference, config.band, config.tick)
        price = min(max(price, low), high)
    return price


class RoundQuotes:
    """Fresh quotes from ``kite.quote``, at most one per contract per round (``clear`` starts a
    round); none at all when ``enabled`` is False."""

    def __init__(self, client: KiteClient, *, enabled: bool = True) -> None:
        self.client = client
        self.enabled = enabled
        self._quotes: dict[str, fills.Quote | None] = {}

    def clear(self) -> None:
        """Start a new round: the next ``get`` asks Kite again."""
        self._quotes.clear()

    def get(self, request: OrderRequest) -> fills.Quote | None:
        """Best bid/ask and last price of the request's contract, None when unavailable."""
        if not self.enabled:
            return None
        key = f"{request.exchange}:{request.tradingsymbol}"
        if key not in self._quotes:
            self._quotes[key] = self.client.quote(key)
        return self._quotes[key]
