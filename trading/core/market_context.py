"""The market around a position, pure: its mark, the context of a fill (spot, VIX, PCR, max pain,
IV, Greeks) and the facts of the journal trade a closed position becomes.

Greeks are per one long option in ``trading.core.options`` units (vega per vol point, theta per
calendar day). Prices are Decimals on the 0.05 tick, P&L in rupees.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from trading.core import calendar as market_calendar
from trading.core import contracts, risk
from trading.core.bars import MarketBar
from trading.core.context import CONTEXT
from trading.core.options import greeks, implied_vol, year_fraction
from trading.core.state import EngineConfig, OpenPosition

PAISA = Decimal("0.01")


def finite(value: Any) -> float | None:
    """``value`` as a float, None when it is missing, not a number or infinite."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def decimal_or_none(value: Any) -> Decimal | None:
    """``value`` as a Decimal (exact for a float's repr), None when missing or not finite."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return value
    number = float(value)
    if not math.isfinite(number):
        return None
    return Decimal(repr(number))


def quote_of(bar: MarketBar, expiry: date, strike: float, option_type: str) -> dict | None:
    """The bar's quote of one contract (ltp, bid, ask, iv, ...), None when the chain lacks it."""
    chain = bar.chain(expiry)
    if chain is None:
        return None
    return chain.quote(strike, option_type)


def mark_price(quote: dict | None) -> Decimal | None:
    """The premium a position is marked at: the LTP, else the bid/ask mid; None without a quote."""
    if quote is None:
        return None
    ltp = finite(quote.get("ltp"))
    if ltp is not None and ltp > 0:
        return risk.to_tick(ltp)
    bid, ask = finite(quote.get("bid")), finite(quote.get("ask"))
    if bid is not None and ask is not None and bid > 0 and ask > 0:
        return risk.to_tick((bid + ask) / 2)
    return None


def market_context(
    *,
    bar: MarketBar,
    row: dict | None,
    at: datetime,
    expiry: date,
    strike: float,
    option_type: str,
    price: Any,
) -> dict:
    """The market around a fill: spot, VIX, PCR, max pain, ATM IV, the contract's IV and Greeks.

    Greeks per one long option (options.greeks units); IV from the chain, else implied from ``price``.
    """
    row = row or {}
    quote = quote_of(bar, expiry, strike, option_type)
    is_call = option_type == contracts.CALL
    years = year_fraction(at, expiry)
    rate = contracts.risk_free_rate(market_calendar.ist_date(at))
    iv = finite(quote.get("iv")) if quote else None
    premium = finite(price)
    if iv is None and premium is not None and premium > 0 and years > 0:
        iv = finite(implied_vol(premium, bar.close, strike, years, rate, is_call))
    sensitivities = (
        greeks(iv, bar.close, strike, years, rate, is_call) if iv is not None and years > 0 else {}
    )
    return {
        "spot": bar.close,
        "vix": bar.vix,
        "pcr": finite(row.get("pcr_oi")),
        "max_pain": finite(row.get("max_pain")),
        "atm_iv": finite(row.get("atm_iv")),
        "iv": iv,
        **{name: finite(sensitivities.get(name)) for name in ("delta", "gamma", "theta", "vega")},
    }


def _points(value: Any) -> Decimal | None:
    """An index level (spot, max pain) in rupees to the paisa, None when unknown."""
    number = decimal_or_none(value)
    return number.quantize(PAISA) if number is not None else None


def _context_facts(entry: dict, exit_: dict) -> dict:
    """The journal's ``<name>_entry`` / ``<name>_exit`` fields of the market context."""
    facts: dict = {}
    for name in CONTEXT:
        before, after = entry.get(name), exit_.get(name)
        if name == "max_pain":
            before, after = _points(before), _points(after)
        facts[f"{name}_entry"], facts[f"{name}_exit"] = before, after
    return facts


def trade_facts(
    position: OpenPosition,
    *,
    exit_price: Decimal,
    exit_time: datetime,
    exit_type: str,
    exit_reason: str,
    exit_order_id: str,
    exit_context: dict,
    config: EngineConfig,
) -> dict:
    """The raw facts of the journal trade a closed position becomes (``journal.services.record_trade``)."""
    entry_context = position.entry_context
    link = {"combo_id": position.combo_id} if position.combo_id else {}
    return {
        **link,
        "trade_id": position.position_id,
        "entry_time": position.entry_time,
        "exit_time": exit_time,
        "symbol": position.index,
        "tradingsymbol": position.tradingsymbol,
        "exchange": position.exchange,
        "instrument_type": "CALL" if position.option_type == contracts.CALL else "PUT",
        "strike_price": Decimal(str(position.strike)),
        "expiry_date": position.expiry,
        "entry_price": position.entry_price,
        "exit_price": exit_price,
        "quantity": position.quantity,
        "side": "LONG" if position.sign > 0 else "SHORT",
        "entry_mode": config.mode,
        "data_source": config.data_source,
        "exit_type": exit_type,
        "strategy_name": position.strategy,
        "signal_strength": position.signal_strength,
        "signal_reason": position.signal_reason,
        "exit_reason": exit_reason,
        "entry_features": entry_context.get("features") or {},
        "entry_order_id": position.entry_order_id,
        "exit_order_id": exit_order_id,
        "entry_orders": position.entry_orders,
        "exit_orders": max(position.exit_orders, 1),
        "spot_price_entry": _points(entry_context.get("spot")),
        "spot_price_exit": _points(exit_context.get("spot")),
        "target_price": position.target,
        "stop_loss_price": position.stop,
        **_context_facts(entry_context, exit_context),
        "initial_risk": position.initial_risk,
        "mae": position.mae,
        "mfe": position.mfe,
    }
