"""Multi-leg option combos: the pure math of issues 21 and 22 (docs/multileg.md).

* ``model``: leg and combo specifications by rule (``LegSpec``, ``ComboSpec``) and concrete legs
  (``PricedLeg``), plus the per-leg and combo exit-level helpers;
* ``resolve``: expiry rule -> date, strike rule -> strike on a ``ChainSnapshot``;
* ``templates``: the ten standard combos as ``ComboSpec`` builders;
* ``payoff``: P&L at expiry and today, maximum profit/loss, breakevens, net Greeks, POP;
* ``margin``: the margin **estimate** for paper trading and backtests;
* ``settlement``: expiry settlement of each leg and its charges.

Everything here is pure Python + numpy/scipy: no Django, no project package outside ``trading.core``.
"""

from __future__ import annotations

from trading.core.combos.margin import MarginEstimate, MarginItem, MarginParams, estimate_margin
from trading.core.combos.model import (
    BUY,
    CE,
    FUT,
    MIS,
    NRML,
    PE,
    SELL,
    ComboSpec,
    LegSpec,
    LockAndTrail,
    Momentum,
    PricedLeg,
    ReEntry,
    StrikeRule,
    Threshold,
    priced_leg,
)
from trading.core.combos.payoff import (
    Extremes,
    NetGreeks,
    PayoffAnalysis,
    analyse,
    breakevens,
    expiry_pnl,
    extremes,
    net_greeks,
    pnl_today,
    probability_of_profit,
)
from trading.core.combos.resolve import (
    ChainSnapshot,
    resolve_combo,
    resolve_expiry,
    resolve_leg,
    resolve_strike,
)
from trading.core.combos.settlement import LegSettlement, settle_combo, settle_leg
from trading.core.combos.templates import TEMPLATES, build_template

__all__ = [
    "BUY",
    "CE",
    "FUT",
    "MIS",
    "NRML",
    "PE",
    "SELL",
    "TEMPLATES",
    "ChainSnapshot",
    "ComboSpec",
    "Extremes",
    "LegSettlement",
    "LegSpec",
    "LockAndTrail",
    "MarginEstimate",
    "MarginItem",
    "MarginParams",
    "Momentum",
    "NetGreeks",
    "PayoffAnalysis",
    "PricedLeg",
    "ReEntry",
    "StrikeRule",
    "Threshold",
    "analyse",
    "breakevens",
    "build_template",
    "estimate_margin",
    "expiry_pnl",
    "extremes",
    "net_greeks",
    "pnl_today",
    "priced_leg",
    "probability_of_profit",
    "resolve_combo",
    "resolve_expiry",
    "resolve_leg",
    "resolve_strike",
    "settle_combo",
    "settle_leg",
]
