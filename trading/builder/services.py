"""The builder's services: the figures of a set of legs, a template's legs on the model chain, the
save of a combo strategy and its one-click backtest. Views call these and nothing else.

* ``payoff_compute(user=, data=, clock=)`` - ``POST /api/builder/payoff`` (viewers);
* ``template_legs(user=, data=, clock=)`` - a template resolved to concrete legs (viewers);

Saving a combo as a strategy's configuration and backtesting it need the multi-leg engine (issue
21: ``StrategyConfig.combo``, combos in ``backtest_execute``); they come with it.

Templates are priced on a **model chain**: strikes every step around the spot, each option at the
request's IV by Black-Scholes on the spot (q = 0, the dated risk-free rate), the future at its fair
value - the builder's "what if" before the market's own prices are typed over them.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import numpy as np

from trading import access
from trading.builder.legs import (
    MAX_IV,
    MAX_LOTS,
    BuilderInputError,
    number_field,
    parse_index,
    parse_payoff_request,
    session_on,
    whole_field,
)
from trading.builder.payoff import payoff_figures
from trading.core import calendar as market_calendar
from trading.core import contracts
from trading.core.chain import atm_strike
from trading.core.combos import TEMPLATES, ChainSnapshot, ComboSpec, build_template, resolve_combo
from trading.core.combos.resolve import resolve_expiry
from trading.core.options import bs_price, year_fraction

MODEL_CHAIN_STEPS = 60  # strikes either side of ATM on the model chain
# Template geometry a request may set (whole strike steps), by the templates' keyword names.
TEMPLATE_STEPS = (
    "otm_steps",
    "short_steps",
    "wing_steps",
    "buy_steps",
    "sell_steps",
    "width_steps",
    "steps_otm",
)
MAX_STEPS = 40


# --- figures -----------------------------------------------------------------------------------------


def payoff_compute(*, user: Any, data: Any, clock: datetime) -> dict[str, Any]:
    """The builder's figures for the request body ``data`` (``trading.builder.legs``); ``clock`` the
    caller's aware "now". Needs ``access.VIEW_STRATEGIES``; ``BuilderInputError`` names a bad field."""
    access.require(user, access.VIEW_STRATEGIES)
    return payoff_figures(parse_payoff_request(data, clock=clock))


# --- templates on the model chain --------------------------------------------------------------------


def model_chain(index: str, expiry: date, *, spot: float, iv: float, now: datetime) -> ChainSnapshot:
    """A chain of ``index`` options expiring on ``expiry``, priced by the model (module doc)."""
    step = float(contracts.strike_step(index, market_calendar.ist_date(now)))
    atm = atm_strike(spot, step)
    strikes = atm + step * np.arange(-MODEL_CHAIN_STEPS, MODEL_CHAIN_STEPS + 1)
    strikes = strikes[strikes > 0]
    r = contracts.risk_free_rate(market_calendar.ist_date(now))
    t = year_fraction(now, expiry)
    if t > 0:
        calls = np.round(np.asarray(bs_price(iv, spot, strikes, t, r, True), dtype=float), 2)
        puts = np.round(np.asarray(bs_price(iv, spot, strikes, t, r, False), dtype=float), 2)
    else:
        calls, puts = np.maximum(spot - strikes, 0.0), np.maximum(strikes - spot, 0.0)
    ivs = np.full(strikes.shape, iv)
    return ChainSnapshot.from_prices(
        spot=spot,
        step=step,
        strikes=strikes,
        call_ltp=calls,
        put_ltp=puts,
        call_iv=ivs,
        put_iv=ivs,
        t=t if t > 0 else None,
        r=r,
        future_ltp=round(spot * math.exp(r * t), 2),
    )


def _template_spec(data: Mapping[str, Any], index: str) -> ComboSpec:
    name = data.get("template")
    if name not in TEMPLATES:
        raise BuilderInputError("template", f"{name!r}: expected one of {', '.join(TEMPLATES)}")
    lots = whole_field("lots", data.get("lots", 1), 1, MAX_LOTS)
    params: dict[str, Any] = {}
    for key in TEMPLATE_STEPS:
        if data.get(key) not in (None, ""):
            params[key] = whole_field(key, data[key], -MAX_STEPS, MAX_STEPS)
    accepted = inspect.signature(TEMPLATES[name]).parameters
    for key in params:
        if key not in accepted:
            raise BuilderInputError(key, f"not a setting of {name}")
    try:
        return build_template(name, index, lots=lots, **params)
    except ValueError as exc:
        raise BuilderInputError("template", str(exc)) from None


def template_legs(*, user: Any, data: Any, clock: datetime) -> dict[str, Any]:
    """The legs of a template (``{"template", "index", "spot", "iv", "lots", <steps>}``) resolved on
    the model chain of the session of ``clock``: the payoff request's legs, premiums included, with
    the template's times, product and each leg's exits. Needs ``access.VIEW_STRATEGIES``."""
    access.require(user, access.VIEW_STRATEGIES)
    if not isinstance(data, Mapping):
        raise BuilderInputError("non_field_errors", "expected a JSON object")
    index = parse_index(data.get("index"))
    spot = number_field("spot", data.get("spot"), low=0.0)
    iv = number_field("iv", data.get("iv"), low=0.0, high=MAX_IV)
    spec = _template_spec(data, index)
    on = session_on(clock)
    chains = {}
    for leg in spec.legs:
        try:
            expiry = resolve_expiry(leg.expiry, index, on)
        except ValueError as exc:
            raise BuilderInputError("template", str(exc)) from None
        if expiry not in chains:
            chains[expiry] = model_chain(index, expiry, spot=spot, iv=iv, now=clock)
    legs = resolve_combo(spec, on=on, chains=chains)
    return {
        "template": spec.name,
        "index": index,
        "product": spec.product,
        "entry_time": spec.entry_time.strftime("%H:%M"),
        "exit_time": spec.exit_time.strftime("%H:%M") if spec.exit_time else None,
        "legs": [
            {
                "type": leg.instrument,
                "side": leg.side,
                "strike": leg.strike,
                "expiry": leg.expiry.isoformat(),
                "lots": leg.lots,
                "premium": leg.premium,
                "stop_loss": None
                if rule.stop_loss is None
                else {"value": rule.stop_loss.value, "unit": rule.stop_loss.unit},
            }
            for leg, rule in zip(legs, spec.legs)
        ],
    }
