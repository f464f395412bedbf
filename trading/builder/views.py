"""The strategy builder page ``/builder/``: legs (or a template), the payoff chart at expiry and
today, the Greeks table, maximum profit and loss, breakevens, probability of profit and the margin
estimate; save it as a strategy's configuration (the combo its signals trade) and backtest that strategy with
one click. The page draws what
``/api/builder/payoff`` returns (static/builder/builder.js, the vendored Chart.js)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from trading import access
from trading.builder.legs import session_on
from trading.core import contracts
from trading.core.combos import TEMPLATES
from trading.core.strategies import registry
from trading.market.services import ChainError, latest_chain
from trading.strategies.models import StrategyConfig
from trading.strategies.services import ensure_strategy_configs

# Starting values when no market snapshot is stored yet (the reader types over them).
FALLBACK_IV = 0.14


def _start_values(index: str) -> dict:
    """Spot, ATM IV and the listed expiries to start from: the latest stored chain when there is one."""
    today = session_on(timezone.now())
    expiries = [e.isoformat() for e in contracts.expiries(index, today)]
    step = contracts.strike_step(index, today)
    try:
        chain = latest_chain(index)
    except ChainError:
        return {"spot": None, "iv": FALLBACK_IV, "expiries": expiries, "step": step, "source": None}
    return {
        "spot": round(float(chain["spot"]), 2),
        "iv": chain["atm_iv"] or FALLBACK_IV,
        "expiries": expiries,
        "step": step,
        "source": f"{chain['source']} snapshot of {chain['time']}",
    }


def combo_label(combo: dict) -> str:
    """A strategy's combo choice in a few words: the template(s), or the saved spec's name and legs."""
    if combo.get("spec"):
        spec = combo["spec"]
        return f"{spec.get('name') or 'custom'} ({len(spec.get('legs') or [])} legs)"
    if combo.get("template"):
        return str(combo["template"])
    return " / ".join(f"{d}: {combo[d]}" for d in ("call", "put") if combo.get(d))


@access.permission_required(access.VIEW_STRATEGIES)
def builder_page(request: HttpRequest) -> HttpResponse:
    """The builder: starting values from the latest chain, the templates, the strategies and the
    combos they trade."""
    index = (request.GET.get("index") or settings.TRADING_INDEX).upper()
    if index not in contracts.INDICES:
        index = settings.TRADING_INDEX
    start = _start_values(index)
    ensure_strategy_configs()
    configs = {c.name: c for c in StrategyConfig.objects.filter(name__in=registry.names())}
    strategies = [configs[n] for n in registry.names() if n in configs]
    context = {
        "index": index,
        "indices": list(contracts.INDICES),
        "templates": list(TEMPLATES),
        "strategies": strategies,
        "saved": [{"config": c, "combo": combo_label(c.combo)} for c in strategies if c.combo],
        "can_save": access.has(request.user, access.CONFIGURE_STRATEGIES),
        "can_backtest": access.has(request.user, access.RUN_BACKTESTS),
        "start": {**start, "index": index},
    }
    return render(request, "trading/builder.html", context)
