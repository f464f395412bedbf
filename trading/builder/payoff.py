"""The builder's figures for a checked request: one call to ``trading.core.combos`` (payoff, Greeks,
probability of profit) and its margin estimate, as the JSON the page and ``POST /api/builder/payoff``
return. Rupees are for the whole combo (each leg's units = lots x its contract's lot size), rounded to
the paisa; spots and breakevens are index points."""

from __future__ import annotations

from typing import Any

from trading.builder.legs import PayoffInput
from trading.core.combos import MarginParams, analyse, estimate_margin, net_greeks
from trading.core.combos.margin import MarginEstimate
from trading.core.combos.payoff import PayoffAnalysis

CURVE_POINTS = 201


def _rupees(value: float | None) -> float | None:
    return None if value is None else round(float(value), 2)


def _leg_greeks(request: PayoffInput) -> list[dict[str, float]]:
    """Each leg's Greeks for its whole quantity and side (the net Greeks of a one-leg combo)."""
    rows = []
    for leg in request.legs:
        g = net_greeks([leg], spot=request.spot, now=request.now, iv=request.iv, r=request.rate)
        rows.append(
            {
                "delta": round(g.delta, 4),
                "gamma": round(g.gamma, 6),
                "vega": round(g.vega, 4),
                "theta": round(g.theta, 4),
            }
        )
    return rows


def margin_json(estimate: MarginEstimate) -> dict[str, Any]:
    return {
        "total": _rupees(estimate.total),
        "fully_covered": estimate.fully_covered,
        "is_estimate": True,
        "items": [
            {
                "kind": item.kind,
                "legs": list(item.legs),
                "quantity": item.quantity,
                "amount": _rupees(item.amount),
            }
            for item in estimate.items
        ],
    }


def payoff_json(request: PayoffInput, analysis: PayoffAnalysis, margin: MarginEstimate) -> dict[str, Any]:
    """The response body: the request as understood, the figures, the curve and the margin."""
    g = analysis.greeks
    return {
        "index": request.index,
        "spot": request.spot,
        "iv": request.iv,
        "days_to_expiry": round(request.days_to_expiry, 6),
        "now": request.now.isoformat(),
        "rate": request.rate,
        "evaluation_expiry": analysis.evaluation_expiry.isoformat(),
        "legs": [
            {
                "type": leg.instrument,
                "side": leg.side,
                "strike": leg.strike,
                "expiry": leg.expiry.isoformat(),
                "lots": leg.lots,
                "lot_size": leg.lot_size,
                "quantity": leg.quantity,
                "premium": leg.premium,
                "premium_source": source,
                "iv": leg.iv,
                "greeks": leg_greeks,
            }
            for leg, source, leg_greeks in zip(request.legs, request.premium_sources, _leg_greeks(request))
        ],
        "max_profit": _rupees(analysis.max_profit),
        "max_loss": _rupees(analysis.max_loss),
        "breakevens": [round(float(x), 2) for x in analysis.breakevens],
        "net_premium": _rupees(analysis.net_premium),
        "probability_of_profit": round(float(analysis.probability_of_profit), 4),
        "greeks": {
            "delta": round(g.delta, 4),
            "gamma": round(g.gamma, 6),
            "vega": round(g.vega, 4),
            "theta": round(g.theta, 4),
        },
        "margin": margin_json(margin),
        "curve": {
            "spot": [round(float(x), 2) for x in analysis.spots],
            "at_expiry": [round(float(x), 2) for x in analysis.at_expiry],
            "today": [round(float(x), 2) for x in analysis.today],
        },
    }


def payoff_figures(request: PayoffInput, *, margin_params: MarginParams | None = None) -> dict[str, Any]:
    """Everything the builder shows for ``request`` (see ``payoff_json``)."""
    analysis = analyse(request.legs, spot=request.spot, now=request.now, iv=request.iv, r=request.rate)
    margin = estimate_margin(request.legs, spot=request.spot, params=margin_params or MarginParams())
    return payoff_json(request, analysis, margin)
