"""Paper fill model and the exchange's order checks. Pure: no Django.

The same rules serve the paper broker (which fills against them) and the Kite broker (which checks a
price before it sends it, and computes a marketable LIMIT price from them).

Fills (paper)
    * MARKET: a BUY fills at the best **ask**, a SELL at the best **bid**, worsened by
      ``slippage_ticks`` ticks (a SELL never below one tick).
    * LIMIT: *marketable* when a BUY's limit >= ask (SELL: limit <= bid); it then fills at once at the
      ask (bid) plus slippage but never beyond its limit. Otherwise it rests OPEN, and fills on a
      later bar whose ask falls to the limit (bid rises to it), at the **limit price** (a resting order
      trades at its own price).
    * Fill time = order time + ``latency``. The quote used is the bar the order was placed on (or the
      later bar for a resting order): bars are one minute, latencies are milliseconds.
    * Fills are whole (no depth is modelled).

Exchange checks (DOMAIN.md section 2)
    * Tick: a price must be a positive multiple of 0.05 -> else ``invalid_price``.
    * Limit-price protection: a LIMIT price more than +-40 % (reference premium > 50) or +-Rs 20
      (reference premium <= 50) away from the reference price (the contract's last traded price,
      the bid/ask mid when there is none) -> ``price_band``. The band edges themselves are allowed.
    * Freeze quantity: an order above the freeze quantity is split into whole-lot child orders of
      at most ``freeze_quantity // lot_size`` lots each (NIFTY: 1,800 // 65 = 27 lots = 1,755 units).

Prices are ``Decimal`` rupees on the tick; quantities are units (lots x lot size).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation

from trading.core import orders as order_states
from trading.core.bars import MarketBar

TICK_SIZE = Decimal("0.05")
BAND_THRESHOLD = Decimal("50")  # reference premium above which the band is a percentage
BAND_PCT = Decimal("0.40")
BAND_ABS = Decimal("20")

BUY = "BUY"
SELL = "SELL"
MARKET = "MARKET"
LIMIT = "LIMIT"

# Reason codes.
R_INVALID_PRICE = "invalid_price"
R_PRICE_BAND = "price_band"
R_INVALID_QUANTITY = "invalid_quantity"
R_NO_QUOTE = "no_quote"


# --- prices -------------------------------------------------------------------------------------------


def to_price(value: object) -> Decimal | None:
    """``value`` as a Decimal price, None for None/NaN/non-positive/unparseable (no usable quote)."""
    if value is None:
        return None
    try:
        d = value if isinstance(value, Decimal) else Decimal(repr(float(value)))  # type: ignore[arg-type]
    except (TypeError, ValueError, InvalidOperation):
        return None
    if not d.is_finite() or d <= 0:
        return None
    return d


def round_to_tick(
    price: Decimal | float, tick: Decimal = TICK_SIZE, rounding: str = ROUND_HALF_UP
) -> Decimal:
    """``price`` on the ``tick`` grid (``rounding``: ROUND_HALF_UP, ROUND_CEILING for a buyer's cap,
    ROUND_FLOOR for a seller's)."""
    d = price if isinstance(price, Decimal) else Decimal(repr(float(price)))
    return ((d / tick).quantize(Decimal(1), rounding=rounding) * tick).quantize(tick)


def is_on_tick(price: Decimal, tick: Decimal = TICK_SIZE) -> bool:
    """True when ``price`` is an exact multiple of ``tick``."""
    return (price % tick) == 0


@dataclass(frozen=True)
class BandRule:
    """The exchange's limit-price protection: +-``pct`` of the reference above ``threshold``,
    +-``absolute`` rupees at or below it."""

    threshold: Decimal = BAND_THRESHOLD
    pct: Decimal = BAND_PCT
    absolute: Decimal = BAND_ABS


DEFAULT_BAND = BandRule()


def price_band(
    reference: Decimal, rule: BandRule = DEFAULT_BAND, tick: Decimal = TICK_SIZE
) -> tuple[Decimal, Decimal]:
    """(lowest, highest) LIMIT price the exchange accepts around ``reference``, on the tick grid.

    Reference 100 -> (60.00, 140.00); reference 30 -> (10.00, 50.00); reference 10 -> (0.05, 30.00).
    """
    width = reference * rule.pct if reference > rule.threshold else rule.absolute
    low = max(round_to_tick(reference - width, tick, ROUND_CEILING), tick)
    high = round_to_tick(reference + width, tick, ROUND_FLOOR)
    return low, high


def price_reject_reason(
    price: Decimal | None,
    reference: Decimal | None,
    *,
    tick: Decimal = TICK_SIZE,
    band: BandRule = DEFAULT_BAND,
) -> str:
    """Why the exchange would refuse a LIMIT at ``price``: ``invalid_price`` (missing, not positive,
    off the tick), ``price_band`` (outside the band around ``reference``), or '' when it is accepted.
    Without a reference the band is not checked."""
    if price is None or not price.is_finite() or price <= 0 or not is_on_tick(price, tick):
        return R_INVALID_PRICE
    if reference is not None:
        low, high = price_band(reference, band, tick)
        if price < low or price > high:
            return R_PRICE_BAND
    return ""


# --- quotes -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Quote:
    """Best bid, best ask and last traded price of one contract (None when not quoted)."""

    bid: Decimal | None
    ask: Decimal | None
    ltp: Decimal | None = None

    @property
    def reference(self) -> Decimal | None:
        """The price-band reference: the last traded price, else the bid/ask mid, else None."""
        if self.ltp is not None:
            return self.ltp
        if self.bid is not None and self.ask is not None:
            return round_to_tick((self.bid + self.ask) / 2)
        return None

    @classmethod
    def of(cls, bid: object, ask: object, ltp: object = None) -> Quote:
        """A quote from floats/Decimals/None (NaN and non-positive values become None)."""
        return cls(to_price(bid), to_price(ask), to_price(ltp))


def quote_from_bar(
    bar: MarketBar | None, expiry: date, strike: float | Decimal, option_type: str
) -> Quote | None:
    """The quote of one contract in ``bar``'s chain, None when the bar, expiry or strike is absent."""
    if bar is None:
        return None
    chain = bar.chain(expiry)
    if chain is None:
        return None
    q = chain.quote(float(strike), option_type)
    if q is None:
        return None
    return Quote.of(q["bid"], q["ask"], q["ltp"])


# --- fills --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FillConfig:
    """Paper fill knobs: ``slippage_ticks`` against the taker, ``latency`` from order to fill, the
    tick and the price band."""

    slippage_ticks: int = 0
    latency: timedelta = timedelta(0)
    tick: Decimal = TICK_SIZE
    band: BandRule = DEFAULT_BAND


@dataclass(frozen=True)
class FillDecision:
    """What happens to an order on one bar: ``status`` FILLED / OPEN / REJECTED, the fill ``price``
    and time ``at`` when FILLED, the reason code when REJECTED."""

    status: str
    price: Decimal | None = None
    at: datetime | None = None
    reason: str = ""


def _side(transaction_type: str) -> str:
    side = transaction_type.upper()
    if side not in (BUY, SELL):
        raise ValueError(f"transaction type {transaction_type!r}: expected BUY or SELL")
    return side


def taker_price(
    side: str, quote: Quote, slippage_ticks: int = 0, tick: Decimal = TICK_SIZE
) -> Decimal | None:
    """Price a marketable order pays: ask + slippage for a BUY, bid - slippage (>= one tick) for a
    SELL; None when that side of the book is empty."""
    slip = tick * slippage_ticks
    if _side(side) == BUY:
        return None if quote.ask is None else quote.ask + slip
    if quote.bid is None:
        return None
    return max(quote.bid - slip, tick)


def is_marketable(side: str, limit: Decimal, quote: Quote) -> bool:
    """True when a LIMIT at ``limit`` crosses the book: BUY limit >= ask, SELL limit <= bid."""
    if _side(side) == BUY:
        return quote.ask is not None and limit >= quote.ask
    return quote.bid is not None and limit <= quote.bid


def place_fill(
    *,
    transaction_type: str,
    order_type: str,
    limit_price: Decimal | None,
    quote: Quote | None,
    at: datetime,
    config: FillConfig = FillConfig(),
) -> FillDecision:
    """The fate of a new order placed at ``at`` against ``quote`` (the exchange's checks first).

    MARKET: FILLED at the taker price, or REJECTED ``no_quote`` when that side is empty. LIMIT:
    REJECTED ``invalid_price`` / ``price_band``; FILLED at once when marketable (at the taker price
    capped by the limit); else OPEN.
    """
    side = _side(transaction_type)
    kind = order_type.upper()
    fill_at = at + config.latency
    if kind == MARKET:
        price = taker_price(side, quote, config.slippage_ticks, config.tick) if quote else None
        if price is None:
            return FillDecision(order_states.REJECTED, reason=R_NO_QUOTE)
        return FillDecision(order_states.FILLED, round_to_tick(price, config.tick), fill_at)
    if kind != LIMIT:
        raise ValueError(f"order type {order_type!r}: expected MARKET or LIMIT")
    reason = price_reject_reason(
        limit_price, quote.reference if quote else None, tick=config.tick, band=config.band
    )
    if reason:
        return FillDecision(order_states.REJECTED, reason=reason)
    assert limit_price is not None
    if quote is not None and is_marketable(side, limit_price, quote):
        price = taker_price(side, quote, config.slippage_ticks, config.tick)
        assert price is not None
        price = min(price, limit_price) if side == BUY else max(price, limit_price)
        return FillDecision(order_states.FILLED, round_to_tick(price, config.tick), fill_at)
    return FillDecision(order_states.OPEN)


def resting_fill(
    *,
    transaction_type: str,
    limit_price: Decimal,
    quote: Quote | None,
    at: datetime,
    config: FillConfig = FillConfig(),
) -> FillDecision:
    """A resting LIMIT on a later bar (time ``at``): FILLED at its limit price when the book has come
    to it, else still OPEN."""
    if quote is not None and is_marketable(transaction_type, limit_price, quote):
        return FillDecision(order_states.FILLED, limit_price, at + config.latency)
    return FillDecision(order_states.OPEN)


# --- marketable limit (live) --------------------------------------------------------------------------


def marketable_limit_price(
    transaction_type: str,
    quote: Quote,
    *,
    buffer_ticks: int = 2,
    tick: Decimal = TICK_SIZE,
    band: BandRule = DEFAULT_BAND,
    reference: Decimal | None = None,
) -> Decimal | None:
    """A LIMIT price that should trade at once: ask + ``buffer_ticks`` for a BUY (rounded up to the
    tick), bid - buffer for a SELL (rounded down, at least one tick), pulled inside the price band
    around ``reference`` (default: the quote's). None when that side of the book is empty."""
    side = _side(transaction_type)
    if side == BUY:
        if quote.ask is None:
            return None
        price = round_to_tick(quote.ask + tick * buffer_ticks, tick, ROUND_CEILING)
    else:
        if quote.bid is None:
            return None
        price = max(round_to_tick(quote.bid - tick * buffer_ticks, tick, ROUND_FLOOR), tick)
    ref = reference if reference is not None else quote.reference
    if ref is not None:
        low, high = price_band(ref, band, tick)
        price = min(max(price, low), high)
    return price


# --- freeze-quantity split ----------------------------------------------------------------------------


def split_quantity(quantity: int, lot_size: int, freeze_quantity: int) -> list[int]:
    """Child order quantities of an order of ``quantity`` units: whole lots, each at most
    ``freeze_quantity // lot_size`` lots, the largest first; ``[quantity]`` when no split is needed.

    Raises ValueError when ``quantity`` is not a positive whole number of lots or one lot exceeds
    the freeze quantity. NIFTY 3,900 (60 lots of 65), freeze 1,800 -> [1755, 1755, 390].
    """
    if lot_size <= 0 or freeze_quantity <= 0:
        raise ValueError(f"lot size {lot_size} and freeze quantity {freeze_quantity} must be positive")
    if quantity <= 0 or quantity % lot_size:
        raise ValueError(f"quantity {quantity} is not a positive whole number of lots of {lot_size}")
    max_lots = freeze_quantity // lot_size
    if max_lots < 1:
        raise ValueError(f"one lot of {lot_size} exceeds the freeze quantity {freeze_quantity}")
    lots = quantity // lot_size
    full, rest = divmod(lots, max_lots)
    out = [max_lots * lot_size] * full
    if rest:
        out.append(rest * lot_size)
    return out


# --- aggregation --------------------------------------------------------------------------------------


def average_price(fills: Iterable[tuple[int, Decimal, datetime]]) -> Decimal | None:
    """Quantity-weighted average of ``(quantity, price, time)`` fills, to the paisa; None if none."""
    qty = 0
    value = Decimal(0)
    for q, p, _ in fills:
        qty += q
        value += p * q
    if qty == 0:
        return None
    return (value / qty).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def parent_status(child_statuses: list[tuple[str, int, int]]) -> str:
    """The status of a split parent from its children's ``(status, filled, quantity)``.

    Any child live -> PARTIALLY_FILLED when something filled, else OPEN (SUBMITTED while every live
    child is SUBMITTED). All terminal -> FILLED when all filled; REJECTED when all rejected; otherwise
    CANCELLED (with whatever filled), EXPIRED when every unfilled child expired.
    """
    if not child_statuses:
        return order_states.NEW
    filled = sum(f for _, f, _ in child_statuses)
    live = [s for s, _, _ in child_statuses if s in order_states.LIVE_STATES]
    if live:
        if filled:
            return order_states.PARTIALLY_FILLED
        if all(s in (order_states.NEW, order_states.SUBMITTED) for s in live):
            return order_states.SUBMITTED
        return order_states.OPEN
    statuses = {s for s, _, _ in child_statuses}
    if statuses == {order_states.FILLED}:
        return order_states.FILLED
    if statuses == {order_states.REJECTED}:
        return order_states.REJECTED
    unfilled = {s for s, f, q in child_statuses if f < q}
    if unfilled == {order_states.EXPIRED}:
        return order_states.EXPIRED
    return order_states.CANCELLED
