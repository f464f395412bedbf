"""The builder's services: the figures of a set of legs, a template's legs on the model chain, the
save of a combo strategy and its one-click backtest. Views call these and nothing else.

* ``payoff_compute(user=, data=, clock=)`` - ``POST /api/builder/payoff`` (viewers);
* ``template_legs(user=, data=, clock=)`` - a template resolved to concrete legs (viewers);
* ``combo_save(user=, data=, clock=)`` - the combo becomes a strategy's configuration
  (``trading.strategies.combos.strategy_combo_save``; operators);
* ``combo_backtest(user=, strategy=, data=)`` - that strategy backtested by the backtest service
  (``trading.execution.backtests.backtest_start``: a run with its page): its signals trade the combo.

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
from django.core.exceptions import ValidationError

from trading import access
from trading.builder.legs import (
    MAX_IV,
    MAX_LOTS,
    BuilderInputError,
    PayoffInput,
    number_field,
    parse_date,
    parse_index,
    parse_payoff_request,
    session_on,
    whole_field,
)
from trading.builder.payoff import payoff_figures
from trading.core import calendar as market_calendar
from trading.core import contracts
from trading.core.chain import atm_strike
from trading.core.combo_store import combo_specs
from trading.core.combos import TEMPLATES, ChainSnapshot, ComboSpec, build_template, resolve_combo
from trading.core.combos.resolve import resolve_expiry
from trading.core.options import bs_price, year_fraction
from trading.core.strategies import registry
from trading.core.strategies.base import ParamError
from trading.execution import backtests
from trading.execution.config import margin_params
from trading.execution.models import BacktestRun
from trading.strategies.combos import strategy_combo_save
from trading.strategies.models import StrategyConfig
from trading.strategies.services import ensure_strategy_configs

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
DIRECTIONS = ("CALL", "PUT")


# --- figures -----------------------------------------------------------------------------------------


def payoff_compute(*, user: Any, data: Any, clock: datetime) -> dict[str, Any]:
    """The builder's figures for the request body ``data`` (``trading.builder.legs``); ``clock`` the
    caller's aware "now". Needs ``access.VIEW_STRATEGIES``; ``BuilderInputError`` names a bad field.
    The margin estimate takes the settings ``MARGIN_*``, as the engine's."""
    access.require(user, access.VIEW_STRATEGIES)
    return payoff_figures(parse_payoff_request(data, clock=clock), margin_params=margin_params())


# --- templates on the model chain --------------------------------------------------------------------


def model_chain(
    index: str, expiry: date, *, spot: float, iv: float, now: datetime, extra_strikes: tuple[float, ...] = ()
) -> ChainSnapshot:
    """A chain of ``index`` options expiring on ``expiry``, priced by the model (module doc), with
    ``extra_strikes`` (a combo's exact strikes off the grid) listed too."""
    step = float(contracts.strike_step(index, market_calendar.ist_date(now)))
    atm = atm_strike(spot, step)
    strikes = atm + step * np.arange(-MODEL_CHAIN_STEPS, MODEL_CHAIN_STEPS + 1)
    strikes = np.unique(np.concatenate([strikes, np.asarray(extra_strikes, dtype=float)]))
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


def _strategy_config(name: Any) -> StrategyConfig:
    if not isinstance(name, str) or name not in registry.names():
        raise BuilderInputError(
            "strategy", f"{name!r} is not a strategy (known: {', '.join(registry.names())})"
        )
    ensure_strategy_configs()
    return StrategyConfig.objects.get(name=name)


def _strategy_spec(data: Mapping[str, Any]) -> ComboSpec:
    """The combo a strategy's signals trade (``StrategyConfig.combo``) for ``direction`` (CALL)."""
    config = _strategy_config(data.get("strategy"))
    direction = str(data.get("direction") or "CALL").upper()
    if direction not in DIRECTIONS:
        raise BuilderInputError("direction", f"{direction!r}: expected one of {', '.join(DIRECTIONS)}")
    try:
        specs = combo_specs(config.index, config.combo)
    except (ValueError, KeyError, TypeError) as exc:
        raise BuilderInputError("strategy", f"its stored combo is refused: {exc}") from None
    if direction not in specs:
        raise BuilderInputError("strategy", f"{config.name} trades single options, not a combo")
    return specs[direction]


def template_legs(*, user: Any, data: Any, clock: datetime) -> dict[str, Any]:
    """The legs of a template (``{"template", "index", "spot", "iv", "lots", <steps>}``) or of the
    combo a strategy trades (``{"strategy", "direction", "spot", "iv"}``), resolved on the model chain
    of the session of ``clock``: the payoff request's legs, premiums included, with the combo's times,
    product and each leg's stop. Needs ``access.VIEW_STRATEGIES``."""
    access.require(user, access.VIEW_STRATEGIES)
    if not isinstance(data, Mapping):
        raise BuilderInputError("non_field_errors", "expected a JSON object")
    spot = number_field("spot", data.get("spot"), low=0.0)
    iv = number_field("iv", data.get("iv"), low=0.0, high=MAX_IV)
    if data.get("strategy") not in (None, ""):
        source, spec = "strategy", _strategy_spec(data)
    else:
        source, spec = "template", _template_spec(data, parse_index(data.get("index")))
    index = spec.index
    on = session_on(clock)
    exact = tuple(float(leg.strike.value) for leg in spec.legs if leg.strike.kind == "EXACT")
    chains = {}
    try:
        for leg in spec.legs:
            expiry = resolve_expiry(leg.expiry, index, on)
            if expiry not in chains:
                chains[expiry] = model_chain(index, expiry, spot=spot, iv=iv, now=clock, extra_strikes=exact)
        legs = resolve_combo(spec, on=on, chains=chains)
    except ValueError as exc:
        raise BuilderInputError(source, str(exc)) from None
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


# --- save and backtest -------------------------------------------------------------------------------


def combo_save(*, user: Any, data: Any, clock: datetime) -> StrategyConfig:
    """Save the builder's combo as the configuration of a strategy: ``data`` is a payoff request plus
    ``strategy`` (whose signals will trade it), and optionally ``template`` (whose exits, times and
    product the legs keep while they still match it) and ``name``. The legs become rules as seen on
    the session of ``clock`` (``trading.strategies.combos.strategy_combo_save``). Needs
    ``access.CONFIGURE_STRATEGIES``."""
    access.require(user, access.CONFIGURE_STRATEGIES)
    if not isinstance(data, Mapping):
        raise BuilderInputError("non_field_errors", "expected a JSON object")
    body = {k: v for k, v in data.items() if k not in ("name", "template", "strategy")}
    request: PayoffInput = parse_payoff_request(body, clock=clock)
    template = data.get("template") or ""
    if not isinstance(template, str):
        raise BuilderInputError("template", f"{template!r}: expected one of {', '.join(TEMPLATES)}")
    try:
        return strategy_combo_save(
            user=user,
            strategy=data.get("strategy"),
            legs=request.legs,
            index=request.index,
            on=session_on(clock),
            spot=request.spot,
            template=template,
            name=data.get("name") or "",
        )
    except ParamError as exc:
        raise BuilderInputError(exc.field, exc.message) from None


def combo_backtest(*, user: Any, strategy: str, data: Any) -> BacktestRun:
    """Backtest ``strategy`` - its signals trading the combo saved to it - over ``data``'s
    ``start``..``end`` (``YYYY-MM-DD``) with ``seed`` (default 7) on ``data_source`` (SIM, the
    default, or STORE): a run as any other, started by the
    backtest service (``backtests.backtest_start``: queued on the research queue, or run here when
    embedded) with its page ``/backtests/<id>/``. Needs ``access.RUN_BACKTESTS``; the run's settings
    are checked by ``backtests.backtest_request`` (a refused one names its field)."""
    access.require(user, access.RUN_BACKTESTS)
    if not isinstance(data, Mapping):
        raise BuilderInputError("non_field_errors", "expected a JSON object")
    start = parse_date("start", data.get("start"))
    end = parse_date("end", data.get("end"))
    seed = whole_field("seed", data.get("seed", 7), 0, backtests.SEED_MAX)
    config = _strategy_config(strategy)
    try:
        has_combo = bool(combo_specs(config.index, config.combo))
    except (ValueError, KeyError, TypeError) as exc:
        raise BuilderInputError("strategy", f"its stored combo is refused: {exc}") from None
    if not has_combo:
        raise BuilderInputError("strategy", f"{strategy} trades single options: save a combo to it first")
    try:
        request = backtests.backtest_request(
            start=start,
            end=end,
            seed=seed,
            index=config.index,
            strategies=[strategy],
            data_source=str(data.get("data_source") or "SIM").upper(),
            name=f"builder: {strategy}",
        )
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise BuilderInputError(field, " ".join(messages)) from None
    return backtests.backtest_start(user=user, request=request)
