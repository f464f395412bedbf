"""The research pages: ``/research/drift/`` (the drift report, its CSV beside it),
``/research/runs/<id>/monte-carlo/`` (a run's Monte Carlo bands and distributions),
``/research/walk-forward/`` (a study) and ``/research/deflated-sharpe/`` (the best of several runs).
Each renders what the API of ``research_api`` returns."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from analytics import research as figures
from trading import access
from trading.core.strategies import registry as strategy_registry
from trading.execution import research
from trading.execution.models import BacktestRun
from trading.execution.research_api import drift_from, drift_payload, run_or_404
from trading.execution.research_forms import DriftForm, MonteCarloForm, RunsForm, WalkForwardForm, form_errors


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
    try:
        result = research.run_monte_carlo(user=request.user, run=run, **form.cleaned_data)
    except ValueError as exc:
        errors = _errors_of(exc, form)
        context = {"run": run, "form": form, "errors": errors}
        return render(request, "trading/research_monte_carlo.html", context, status=400)
    context = {
        "run": run,
        "form": form,
        "mc": result,
        "chart": figures.band_polylines(result),
    }
    return render(request, "trading/research_monte_carlo.html", context)


def line_chart(values: list[float], width: int = 720, height: int = 200) -> dict[str, Any] | None:
    """One SVG polyline of ``values`` (x: the index, y: up for more) with its low and high."""
    if not values:
        return None
    lo, hi = min(0.0, *values), max(0.0, *values)
    span = (hi - lo) or 1.0
    step = width / max(len(values) - 1, 1)
    points = " ".join(f"{i * step:.1f},{height - (v - lo) * height / span:.1f}" for i, v in enumerate(values))
    zero = height - (0.0 - lo) * height / span
    return {"width": width, "height": height, "points": points, "low": lo, "high": hi, "zero": f"{zero:.1f}"}


def _errors_of(exc: ValueError, form) -> dict[str, list[str]]:
    field, _, message = str(exc).partition(": ")
    return {field: [message]} if field in form.fields else {"__all__": [str(exc)]}


@access.permission_required(access.VIEW_STRATEGIES)
def walk_forward_page(request: HttpRequest) -> HttpResponse:
    """A walk-forward study's form, then its windows, stitched out-of-sample equity and stability."""
    form = WalkForwardForm(request.GET or None)
    context: dict[str, Any] = {"form": form, "strategies": strategy_registry.names()}
    status = 200
    if request.GET:
        if not form.is_valid():
            context["errors"], status = form_errors(form), 400
        else:
            try:
                study = research.walk_forward_study(user=request.user, **form.cleaned_data)
            except ValueError as exc:
                context["errors"], status = _errors_of(exc, form), 400
            else:
                data = study.as_dict()
                context["study"] = data
                context["chart"] = line_chart(data["out_of_sample"]["equity"])
    return render(request, "trading/research_walk_forward.html", context, status=status)


@access.permission_required(access.VIEW_JOURNAL)
def deflated_sharpe_page(request: HttpRequest) -> HttpResponse:
    """The deflated Sharpe ratio of the best of the runs asked (a sweep's trials), and each run's ratio."""
    form = RunsForm(request.GET or None)
    context: dict[str, Any] = {"form": form, "recent": BacktestRun.objects.order_by("-pk")[:20]}
    status = 200
    if request.GET:
        if not form.is_valid():
            context["errors"], status = form_errors(form), 400
        else:
            ids = form.cleaned_data["runs"]
            runs = list(BacktestRun.objects.filter(pk__in=ids).order_by("pk"))
            missing = sorted(set(ids) - {r.pk for r in runs})
            if missing:
                context["errors"], status = {"runs": [f"no backtest run {', '.join(map(str, missing))}"]}, 400
            else:
                result = research.runs_deflated_sharpe(user=request.user, runs=runs)
                context["result"] = result
                context["rows"] = [
                    {
                        "run": r,
                        "sharpe": result.get("sharpe", {}).get(str(r.pk)),
                        "best": r.pk == result["best"],
                    }
                    for r in runs
                ]
    return render(request, "trading/research_deflated_sharpe.html", context, status=status)
