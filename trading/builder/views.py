"""The strategy builder page ``/builder/``: legs (or a template), the payoff chart at expiry and
today, the Greeks table, maximum profit and loss, breakevens, probability of profit and the margin
estimate. Saving it as a strategy's configuration and backtesting it come with the multi-leg engine
(issue 21). The page draws what ``/api/builder/payoff`` returns (static/builder/builder.js, the
vendored Chart.js)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from trading import access
from trading.builder.legs import session_on
from trading.core import contracts
from trading.core.combos import TEMPLATES
from trading.market.services import ChainError, latest_chain

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


@access.permission_required(access.VIEW_STRATEGIES)
def builder_page(request: HttpRequest) -> HttpResponse:
    """The builder: starting values from the latest chain and the templates."""
    index = (request.GET.get("index") or settings.TRADING_INDEX).upper()
    if index not in contracts.INDICES:
        index = settings.TRADING_INDEX
    start = _start_values(index)
    context = {
        "index": index,
        "indices": list(contracts.INDICES),
        "templates": list(TEMPLATES),
        "start": {**start, "index": index},
    }
    return render(request, "trading/builder.html", context)
