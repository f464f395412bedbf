"""The backtest pages: ``/backtests/`` (runs, the form that starts one), a run's page (progress, its
figures, the analytics report scoped to it - ``analytics.report.build_report`` with
``backtest_run=<id>``, the one generator - and its trades), two runs side by side, and the sweeps
(``/backtests/sweeps/``: the form, the sortable table, the heat map, promotion to a run).

Every view is one call to a service or a selector: ``backtests``, ``sweeps``, ``analytics.report``.
Reading needs ``VIEW_BACKTESTS`` (viewer), starting and promoting ``RUN_BACKTESTS`` (trader).
Bad input is a 400 naming the field.
"""

from __future__ import annotations

from datetime import date

from django import forms
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from analytics.report import build_report
from analytics.report_filters import report_filters
from journal.models import Trade
from trading import access
from trading.choices import DataSource
from trading.core import calendar as market_calendar
from trading.core.strategies import registry as strategy_registry
from trading.execution import backtests, research, sweep_space, sweeps
from trading.execution.models import (
    BacktestRun,
    RunStatus,
    Sweep,
    SweepCombination,
    SweepObjective,
    SweepSample,
)

RUNS_LISTED = 100
TRADES_LISTED = 200


def _strategy_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in strategy_registry.names()]


def _source_choices() -> list[tuple[str, str]]:
    return [(str(s), str(s.label)) for s in backtests.BACKTEST_SOURCES]


class BacktestForm(forms.Form):
    """The settings of a run, as typed on the page."""

    name = forms.CharField(max_length=120, required=False)
    start = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), required=False)
    strategies = forms.MultipleChoiceField(
        choices=_strategy_choices, required=False, help_text="None chosen: the enabled ones"
    )
    data_source = forms.ChoiceField(choices=_source_choices, initial=DataSource.SIM)
    index = forms.ChoiceField(choices=[("NIFTY", "NIFTY"), ("BANKNIFTY", "BANKNIFTY")], initial="NIFTY")
    seed = forms.IntegerField(initial=7, min_value=0, max_value=backtests.SEED_MAX)
    overrides = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "EMACrossoverStrategy.gap_em=0.05"}),
        required=False,
        help_text="One Strategy.parameter=value a line, on top of the strategy's configuration",
    )


class SweepForm(forms.Form):
    """The settings of a sweep."""

    name = forms.CharField(max_length=120, required=False)
    strategy = forms.ChoiceField(choices=_strategy_choices)
    start = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), required=False)
    data_source = forms.ChoiceField(choices=_source_choices, initial=DataSource.SIM)
    index = forms.ChoiceField(choices=[("NIFTY", "NIFTY"), ("BANKNIFTY", "BANKNIFTY")], initial="NIFTY")
    seed = forms.IntegerField(initial=7, min_value=0, max_value=backtests.SEED_MAX)
    sample = forms.ChoiceField(choices=SweepSample.choices, initial=SweepSample.GRID)
    space = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "gap_em=0.02:0.10:5\nmemory=30,60,90"}),
        help_text="One parameter a line: low:high:steps or v1,v2 (grid); low:high or nothing (random)",
    )
    count = forms.IntegerField(required=False, min_value=1, max_value=sweep_space.MAX_COMBINATIONS)
    sample_seed = forms.IntegerField(required=False, min_value=0, max_value=2**31 - 1)
    objective = forms.ChoiceField(choices=SweepObjective.choices, initial=SweepObjective.SHARPE)


def _form_errors(form: forms.Form, exc: ValidationError) -> None:
    for field, messages in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, [f"{field}: {m}" for m in messages])


# --- Runs ------------------------------------------------------------------------------------------------


def _runs_context(request: HttpRequest, form: BacktestForm | None = None) -> dict:
    return {
        "runs": BacktestRun.objects.select_related("requested_by")[:RUNS_LISTED],
        "form": form or BacktestForm(initial={"start": market_calendar.previous_trading_day(date.today())}),
        "can_run": access.has(request.user, access.RUN_BACKTESTS),
    }


@require_GET
@access.permission_required(access.VIEW_BACKTESTS)
def backtest_list(request: HttpRequest) -> HttpResponse:
    """The runs, newest first, and (for a trader) the form that starts one."""
    return render(request, "trading/backtests.html", _runs_context(request))


@require_POST
@access.permission_required(access.RUN_BACKTESTS)
def backtest_start(request: HttpRequest) -> HttpResponse:
    """Start a run: to its page (progress), or the form again with a 400 naming the field."""
    form = BacktestForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            run = backtests.backtest_start(
                user=request.user,
                request=backtests.backtest_request(
                    start=data["start"],
                    end=data["end"],
                    seed=data["seed"],
                    index=data["index"],
                    strategies=data["strategies"],
                    data_source=data["data_source"],
                    overrides=backtests.parse_overrides(data["overrides"]),
                    name=data["name"],
                ),
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            return redirect("backtest-detail", run.pk)
    return render(request, "trading/backtests.html", _runs_context(request, form), status=400)


def _progress(run: BacktestRun) -> dict:
    return {
        "id": run.pk,
        "status": run.status,
        "bars_done": run.bars_done,
        "bars_total": run.bars_total,
        "progress": round(run.progress, 4),
        "error": run.error,
        "trades": run.trade_count,
        "net_pnl": None if run.net_pnl is None else str(run.net_pnl),
    }


@require_GET
@access.permission_required(access.VIEW_BACKTESTS)
def backtest_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One run: its settings, progress, figures, the analytics report of its trades and the trades."""
    run = get_object_or_404(BacktestRun, pk=pk)
    report = None
    if run.status == RunStatus.DONE:
        filters = report_filters({"backtest_run": run.pk})
        report = build_report(filters) if filters.is_valid() else None
    context = {
        "run": run,
        "progress": _progress(run),
        "report": report,
        "trades": Trade.objects.filter(backtest_run=run).order_by("exit_time")[:TRADES_LISTED],
        "runs": BacktestRun.objects.filter(status=RunStatus.DONE).exclude(pk=run.pk)[:RUNS_LISTED],
        "promoted_from": run.promoted_from.select_related("sweep").first(),
        "can_stop": _stoppable(request, run.status, run.requested_by_id),
    }
    return render(request, "trading/backtest_detail.html", context)


def _stoppable(request: HttpRequest, status: str, owner_id: int | None) -> bool:
    """Whether the page shows the Stop button: queued or running, and the user's to stop."""
    return status in (RunStatus.PENDING, RunStatus.RUNNING) and access.owns_or_operates(
        request.user, access.RUN_BACKTESTS, owner_id
    )


@require_POST
@access.permission_required(access.RUN_BACKTESTS)
def backtest_stop(request: HttpRequest, pk: int) -> HttpResponse:
    """Stop a queued or running run (its own user's, or any for an operator): it ends FAILED with
    nothing journaled (``backtests.backtest_stop``)."""
    run = get_object_or_404(BacktestRun.objects.only("pk"), pk=pk)
    backtests.backtest_stop(user=request.user, run_id=run.pk)
    return redirect("backtest-detail", run.pk)


@require_GET
@access.permission_required(access.VIEW_BACKTESTS)
def backtest_progress(request: HttpRequest, pk: int) -> JsonResponse:
    """A run's status and progress (the page polls it)."""
    return JsonResponse(_progress(get_object_or_404(BacktestRun, pk=pk)))


def _run_param(request: HttpRequest, name: str) -> BacktestRun | None:
    raw = request.GET.get(name, "")
    if not raw.isdigit():
        return None
    return BacktestRun.objects.filter(pk=int(raw)).first()


@require_GET
@access.permission_required(access.VIEW_BACKTESTS)
def backtest_compare(request: HttpRequest) -> HttpResponse:
    """Two runs side by side (``?a=<id>&b=<id>``): settings, key figures of their reports, equity."""
    runs = [_run_param(request, "a"), _run_param(request, "b")]
    for name, run in zip(("a", "b"), runs, strict=True):
        if run is None:
            return HttpResponse(
                f"{name}: give the id of a stored backtest run (?a=<id>&b=<id>)",
                status=400,
                content_type="text/plain; charset=utf-8",
            )
    sides = []
    for run in runs:
        filters = report_filters({"backtest_run": run.pk})
        sides.append({"run": run, "report": build_report(filters)})
    keys = [f.key for f in sides[0]["report"].key_figures]
    rows = []
    for key in keys:
        cells = [next((f for f in s["report"].key_figures if f.key == key), None) for s in sides]
        rows.append({"label": cells[0].label, "cells": cells})
    chart = _equity_chart([s["run"] for s in sides])
    return render(request, "trading/backtest_compare.html", {"sides": sides, "rows": rows, "chart": chart})


def _equity_chart(runs: list[BacktestRun], width: int = 800, height: int = 240) -> dict:
    """Each run's cumulative net after each of its trades (in exit order), as SVG polylines on one scale."""
    series = []
    for run in runs:
        nets = (
            Trade.objects.filter(backtest_run=run)
            .order_by("exit_time", "pk")
            .values_list("net_pnl", flat=True)
        )
        total, points = 0.0, [0.0]
        for net in nets:
            total += float(net)
            points.append(total)
        series.append(points)
    lo = min(min(s) for s in series)
    hi = max(max(s) for s in series)
    span = (hi - lo) or 1.0
    longest = max(len(s) for s in series) - 1 or 1

    def y(v: float) -> float:
        return round(height - 5 - (v - lo) / span * (height - 10), 1)

    lines = [
        {
            "run": run.pk,
            "colour": colour,
            "points": " ".join(f"{round(i / longest * width, 1)},{y(v)}" for i, v in enumerate(s)),
        }
        for run, s, colour in zip(runs, series, ("#1a73e8", "#e8710a"), strict=True)
    ]
    return {"width": width, "height": height, "zero": y(0.0), "lines": lines}


# --- Sweeps ----------------------------------------------------------------------------------------------


def _sweeps_context(request: HttpRequest, form: SweepForm | None = None) -> dict:
    return {
        "sweeps": Sweep.objects.defer("market_data")[:RUNS_LISTED],
        "form": form or SweepForm(initial={"start": market_calendar.previous_trading_day(date.today())}),
        "can_run": access.has(request.user, access.RUN_BACKTESTS),
        "bounds": {name: sweep_space.numeric_parameters(name) for name in strategy_registry.names()},
    }


@require_GET
@access.permission_required(access.VIEW_BACKTESTS)
def sweep_list(request: HttpRequest) -> HttpResponse:
    """The sweeps, newest first, and the form that starts one."""
    return render(request, "trading/sweeps.html", _sweeps_context(request))


@require_POST
@access.permission_required(access.RUN_BACKTESTS)
def sweep_start(request: HttpRequest) -> HttpResponse:
    """Start a sweep: to its page, or the form again with a 400 naming the field."""
    form = SweepForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            sweep = sweeps.sweep_start(
                user=request.user,
                request=sweeps.sweep_request(
                    strategy=data["strategy"],
                    start=data["start"],
                    end=data["end"],
                    axes=data["space"],
                    seed=data["seed"],
                    index=data["index"],
                    data_source=data["data_source"],
                    sample=data["sample"],
                    count=data["count"],
                    sample_seed=data["sample_seed"],
                    objective=data["objective"],
                    name=data["name"],
                ),
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            return redirect("sweep-detail", sweep.pk)
    return render(request, "trading/sweeps.html", _sweeps_context(request, form), status=400)


def _sweep_progress(sweep: Sweep) -> dict:
    return {
        "id": sweep.pk,
        "status": sweep.status,
        "done": sweep.done,
        "failed": sweep.failed,
        "total": sweep.total,
        "progress": round(sweep.progress, 4),
        "error": sweep.error,
        # its market still being built or hashed (a sweep started from a page: sweeps.sweep_prepare)
        "preparing": not sweep.data_version and sweep.status in (RunStatus.PENDING, RunStatus.RUNNING),
    }


@require_GET
@access.permission_required(access.VIEW_BACKTESTS)
def sweep_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A sweep: progress, the combinations sorted by ``?sort=`` (an objective), the heat map of two
    parameters (``?x=&y=``, a grid's axes), the button that promotes a combination to a run."""
    sweep = get_object_or_404(Sweep.objects.defer("market_data"), pk=pk)
    sort = request.GET.get("sort") or sweep.objective
    if sort not in sweeps.OBJECTIVES:
        return HttpResponse(
            f"sort: expected one of {', '.join(sweeps.OBJECTIVES)}",
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    axes = list(sweep.space)
    x = request.GET.get("x") or (axes[0] if axes else "")
    y = request.GET.get("y") or (axes[1] if len(axes) > 1 else "")
    for name, value in (("x", x), ("y", y)):
        if value and value not in axes:
            return HttpResponse(
                f"{name}: not a parameter of this sweep ({', '.join(axes)})",
                status=400,
                content_type="text/plain; charset=utf-8",
            )
    rows = sweeps.sweep_table(sweep, sort)
    best = next((c.number for c in sweeps.sweep_table(sweep) if c.status == "DONE"), None)
    context = {
        "sweep": sweep,
        "progress": _sweep_progress(sweep),
        "axes": axes,
        "rows": rows,
        # the deflated Sharpe ratio of the best by the sweep's objective (docs/research.md)
        "deflated": research.sweep_deflated_sharpe(user=request.user, sweep=sweep, best_number=best),
        "sort": sort,
        "objectives": SweepObjective.choices,
        "heatmap": sweeps.sweep_heatmap(sweep, x, y, sort) if x and y else None,
        "x": x,
        "y": y,
        "can_run": access.has(request.user, access.RUN_BACKTESTS),
        "can_stop": _stoppable(request, sweep.status, sweep.requested_by_id),
    }
    return render(request, "trading/sweep_detail.html", context)


@require_GET
@access.permission_required(access.VIEW_BACKTESTS)
def sweep_progress(request: HttpRequest, pk: int) -> JsonResponse:
    """A sweep's status and progress (the page polls it)."""
    return JsonResponse(_sweep_progress(get_object_or_404(Sweep.objects.defer("market_data"), pk=pk)))


@require_POST
@access.permission_required(access.RUN_BACKTESTS)
def sweep_stop(request: HttpRequest, pk: int) -> HttpResponse:
    """Stop a queued or running sweep (its own user's, or any for an operator): the combinations not
    begun are not run (``sweeps.sweep_stop``)."""
    sweep = get_object_or_404(Sweep.objects.only("pk"), pk=pk)
    sweeps.sweep_stop(user=request.user, sweep_id=sweep.pk)
    return redirect("sweep-detail", sweep.pk)


@require_POST
@access.permission_required(access.RUN_BACKTESTS)
def sweep_promote(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    """Make combination ``number`` of sweep ``pk`` a backtest run (which writes its trades)."""
    combination = get_object_or_404(SweepCombination, sweep_id=pk, number=number)
    try:
        run = sweeps.sweep_promote(user=request.user, combination_id=combination.pk)
    except ValidationError as exc:
        text = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
        return HttpResponse(text, status=400, content_type="text/plain; charset=utf-8")
    return redirect("backtest-detail", run.pk)
