"""The research API: ``/api/research/drift/`` (and ``drift.csv``), ``/api/research/runs/<id>/monte-carlo/``,
``/api/research/deflated-sharpe/?runs=...`` and ``/api/research/walk-forward/``. Each is one call to a
service of ``execution.drift`` / ``execution.research``; bad input is a 400 naming its field."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.http import Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.drift import ROW_FIELDS, SUMMARY_FIELDS
from journal import spreadsheet
from trading import access
from trading.core import calendar as market_calendar
from trading.execution import drift, research
from trading.execution.models import BacktestRun
from trading.execution.research_forms import (
    DriftForm,
    MonteCarloForm,
    RunsForm,
    WalkForwardForm,
    form_errors,
)

_DRIFT_PARAMS = [
    OpenApiParameter("start", OpenApiTypes.DATE, required=True, description="first session, YYYY-MM-DD"),
    OpenApiParameter(
        "end", OpenApiTypes.DATE, description="last session (default start; at most 31 days on)"
    ),
    OpenApiParameter("index", OpenApiTypes.STR, description="NIFTY (default), BANKNIFTY, ..."),
    OpenApiParameter("mode", OpenApiTypes.STR, description="PAPER or LIVE (default both)"),
    OpenApiParameter("tolerance", OpenApiTypes.INT, description="minutes between entries to match (15)"),
    OpenApiParameter("table", OpenApiTypes.STR, description="CSV only: rows (default) or summary"),
]


def _plain(value: Any) -> Any:
    """A cell for JSON/CSV: times in IST ISO form, dates ISO, rupees as strings (exact)."""
    if isinstance(value, datetime):
        return value.astimezone(market_calendar.IST).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _plain_dict(row: dict[str, Any]) -> dict[str, Any]:
    return {k: _plain(v) for k, v in row.items()}


def drift_payload(result: drift.DriftResult) -> dict[str, Any]:
    """The drift report as the API returns it (the page renders the same)."""
    return {
        "index": result.index,
        "start": result.start.isoformat(),
        "end": result.end.isoformat(),
        "modes": list(result.modes),
        "sessions": [d.isoformat() for d in result.sessions],
        "skipped": {d.isoformat(): why for d, why in sorted(result.skipped.items())},
        "sources": {d.isoformat(): what for d, what in sorted(result.sources.items())},
        "totals": _plain_dict(result.report.totals),
        "summary": [_plain_dict(s) for s in result.report.summary],
        "rows": [_plain_dict(r) for r in result.report.rows],
        "note": drift.risk_note(),
    }


def drift_from(query, user) -> drift.DriftResult | dict[str, list[str]]:
    """The drift report of a query's parameters, or the form's errors."""
    form = DriftForm(query)
    if not form.is_valid():
        return form_errors(form)
    data = form.cleaned_data
    return drift.drift_report_build(
        user=user,
        start=data["start"],
        end=data["end"],
        index=data["index"],
        modes=data["modes"],
        tolerance=data["tolerance"],
    )


class DriftView(APIView):
    """Backtest vs paper vs live, trade by trade, for the sessions asked."""

    read_permission = access.VIEW_JOURNAL

    @extend_schema(
        summary="Drift report: traded vs backtested on the recorded market data",
        parameters=_DRIFT_PARAMS,
        responses={
            200: OpenApiResponse(
                description="totals, summary per session and strategy, rows (matched / missed / extra with "
                "price, time, charges and P&L differences), sessions compared and skipped"
            ),
            400: OpenApiResponse(description="A bad parameter, named"),
        },
    )
    def get(self, request: Request) -> Response:
        result = drift_from(request.query_params, request.user)
        if isinstance(result, dict):
            return Response(result, status=400)
        return Response(drift_payload(result))


class _Echo:
    def write(self, value: str) -> str:
        return value


def drift_csv_lines(result: drift.DriftResult, table: str = "rows") -> Iterator[str]:
    """The report as CSV lines, header first: its ``rows`` (``ROW_FIELDS``) or its ``summary`` per
    session and strategy (session, strategy, ``SUMMARY_FIELDS``)."""
    writer = csv.writer(_Echo())
    if table == "summary":
        fields, lines = ("session", "strategy", *SUMMARY_FIELDS), result.report.summary
    else:
        fields, lines = ROW_FIELDS, result.report.rows
    yield writer.writerow(fields)
    for line in lines:
        yield writer.writerow([_csv_cell(line[f]) for f in fields])


def _csv_cell(value: Any) -> Any:
    """A CSV cell: numbers and times as written, text escaped as the journal's exports escape it."""
    if value is None:
        return ""
    if isinstance(value, str):
        return spreadsheet.escape(value)
    return _plain(value)


class DriftCsvView(APIView):
    """The drift report's rows as CSV."""

    read_permission = access.VIEW_JOURNAL

    @extend_schema(
        summary="Drift report as CSV: its rows, or its summary per session and strategy",
        parameters=_DRIFT_PARAMS,
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="one row per trade"),
            400: OpenApiResponse(description="A bad parameter, named"),
        },
    )
    def get(self, request: Request):
        result = drift_from(request.query_params, request.user)
        if isinstance(result, dict):
            return Response(result, status=400)
        table = request.query_params.get("table") or "rows"
        lines = drift_csv_lines(result, table)
        response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
        name = f"drift_{table}_{result.index}_{result.start:%Y%m%d}_{result.end:%Y%m%d}.csv"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


def run_or_404(pk: str) -> BacktestRun:
    if not str(pk).isdigit() or len(str(pk)) > 18:
        raise Http404
    return get_object_or_404(BacktestRun, pk=int(pk))


class MonteCarloView(APIView):
    """Monte Carlo of a stored backtest run's trades."""

    read_permission = access.VIEW_JOURNAL

    @extend_schema(
        summary="Monte Carlo of a backtest run",
        parameters=[
            OpenApiParameter(
                "method", OpenApiTypes.STR, description="shuffle (default), resample, bootstrap"
            ),
            OpenApiParameter("runs", OpenApiTypes.INT, description="paths (1000)"),
            OpenApiParameter("seed", OpenApiTypes.INT, description="random seed (0)"),
            OpenApiParameter("floor", OpenApiTypes.NUMBER, description="capital floor in rupees of equity"),
        ],
        responses={
            200: OpenApiResponse(
                description="bands p5/p50/p95, final P&L and max drawdown percentiles, "
                "the probability of touching the floor"
            ),  # fmt: skip
            400: OpenApiResponse(description="A bad parameter, named"),
            404: OpenApiResponse(description="No such run"),
        },
    )
    def get(self, request: Request, pk: str) -> Response:
        run = run_or_404(pk)
        form = MonteCarloForm(request.query_params)
        if not form.is_valid():
            return Response(form_errors(form), status=400)
        try:
            result = research.run_monte_carlo(user=request.user, run=run, **form.cleaned_data)
        except ValueError as exc:
            return Response({"runs": [str(exc).partition(": ")[2]]}, status=400)
        return Response({"run": run.pk, **result.as_dict()})


class DeflatedSharpeView(APIView):
    """The deflated Sharpe ratio of the best of several backtest runs (a sweep's trials)."""

    read_permission = access.VIEW_JOURNAL

    @extend_schema(
        summary="Deflated Sharpe ratio of the best of several runs",
        parameters=[OpenApiParameter("runs", OpenApiTypes.STR, required=True, description="run ids, 1,2,3")],
        responses={
            200: OpenApiResponse(description="the best run, every run's per-day Sharpe ratio, the DSR"),
            400: OpenApiResponse(description="A bad parameter, named"),
        },
    )
    def get(self, request: Request) -> Response:
        form = RunsForm(request.query_params)
        if not form.is_valid():
            return Response(form_errors(form), status=400)
        ids = form.cleaned_data["runs"]
        runs = list(BacktestRun.objects.filter(pk__in=ids).order_by("pk"))
        missing = sorted(set(ids) - {r.pk for r in runs})
        if missing:
            return Response({"runs": [f"no backtest run {', '.join(map(str, missing))}"]}, status=400)
        return Response(research.runs_deflated_sharpe(user=request.user, runs=runs))


class WalkForwardView(APIView):
    """A walk-forward study of one strategy's parameters on the simulated market (nothing stored)."""

    read_permission = access.VIEW_STRATEGIES

    @extend_schema(
        summary="Walk-forward study of a strategy's parameters",
        parameters=[
            OpenApiParameter("strategy", OpenApiTypes.STR, required=True),
            OpenApiParameter(
                "grid", OpenApiTypes.STR, required=True, description='JSON: {"param": [v1, v2]}'
            ),
            OpenApiParameter("start", OpenApiTypes.DATE, required=True),
            OpenApiParameter("end", OpenApiTypes.DATE, required=True),
            OpenApiParameter("in_sample", OpenApiTypes.INT, required=True, description="sessions"),
            OpenApiParameter("out_of_sample", OpenApiTypes.INT, required=True, description="sessions"),
            OpenApiParameter("step", OpenApiTypes.INT, description="sessions (default out_of_sample)"),
            OpenApiParameter("anchored", OpenApiTypes.BOOL),
            OpenApiParameter("score", OpenApiTypes.STR, description="sharpe (default) or net"),
            OpenApiParameter("seed", OpenApiTypes.INT, description="the simulated market's seed (7)"),
            OpenApiParameter(
                "source", OpenApiTypes.STR, description="sim (default) or store (recorded sessions)"
            ),
            OpenApiParameter("index", OpenApiTypes.STR),
        ],
        responses={
            200: OpenApiResponse(
                description="windows and their choices, the stitched out-of-sample P&L, "
                "the stability of the choices, the best candidate's deflated Sharpe"
            ),  # fmt: skip
            400: OpenApiResponse(description="A bad parameter, named"),
        },
    )
    def get(self, request: Request) -> Response:
        form = WalkForwardForm(request.query_params)
        if not form.is_valid():
            return Response(form_errors(form), status=400)
        try:
            study = research.walk_forward_study(user=request.user, **form.cleaned_data)
        except ValueError as exc:
            field, _, message = str(exc).partition(": ")
            if field not in form.fields:
                field, message = "__all__", str(exc)
            return Response({field: [message]}, status=400)
        return Response(study.as_dict())
