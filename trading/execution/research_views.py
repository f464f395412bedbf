"""The research pages: ``/research/drift/`` (the drift report, its CSV beside it) and
``/research/runs/<id>/monte-carlo/`` (a run's Monte Carlo bands and distributions). Each renders what
the API of ``research_api`` returns."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from analytics import research as figures
from trading import access
from trading.execution import research
from trading.execution.research_api import drift_from, drift_payload, run_or_404
from trading.execution.research_forms import DriftForm, MonteCarloForm, form_errors


@access.permission_required(access.VIEW_JOURNAL)
def drift_page(request: HttpRequest) -> HttpResponse:
    """The form, then (when asked) the summary per session and strategy and every trade's row."""
    context: dict[str, Any] = {"form": DriftForm(request.GET or None), "query": request.GET.urlencode()}
    status = 200
    if request.GET:
        result = drift_from(request.GET, request.user)
        if isinstance(result, dict):
            context["errors"] = result
            status = 400
        else:
            context["report"] = drift_payload(result)
    return render(request, "trading/research_drift.html", context, status=status)


@access.permission_required(access.VIEW_JOURNAL)
def monte_carlo_page(request: HttpRequest, pk: str) -> HttpResponse:
    """A run's Monte Carlo: the equity bands, the final P&L and drawdown percentiles, the floor."""
    run = run_or_404(pk)
    form = MonteCarloForm(request.GET)
    if not form.is_valid():
        return render(
            request,
            "trading/research_monte_carlo.html",
            {"run": run, "form": form, "errors": form_errors(form)},
            status=400,
        )
    data = form.cleaned_data
    result = research.run_monte_carlo(
        user=request.user,
        run=run,
        method=data["method"],
        runs=data["runs"],
        seed=data["seed"],
        floor=data["floor"],
    )
    context = {
        "run": run,
        "form": form,
        "mc": result,
        "chart": figures.band_polylines(result),
    }
    return render(request, "trading/research_monte_carlo.html", context)
