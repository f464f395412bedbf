"""The builder's API: ``POST /api/builder/payoff`` and ``/api/builder/template`` (viewers: they only
compute), ``GET/POST /api/builder/strategies`` (read: viewers; save a combo as a strategy's
configuration: operators) and ``POST /api/builder/strategies/<name>/backtest`` (traders: a
backtest run). Each is one call to
``trading.builder.services``; a refused field is a 400 ``{field: [message]}`` (a leg's field as
``legs[i].field``, i from 0)."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from trading import access
from trading.builder import services
from trading.builder.legs import BuilderInputError
from trading.core.strategies import registry
from trading.strategies.models import StrategyConfig
from trading.strategies.services import ensure_strategy_configs

PAYOFF_EXAMPLE = {
    "index": "NIFTY",
    "spot": 24000,
    "days_to_expiry": 3,
    "iv": 0.14,
    "legs": [
        {"type": "CE", "side": "SELL", "strike": 24000, "expiry": "2026-05-12", "lots": 1, "premium": 150},
        {"type": "PE", "side": "SELL", "strike": 24000, "expiry": "2026-05-12", "lots": 1, "premium": 140},
    ],
}


def _refused(exc: BuilderInputError) -> Response:
    return Response({exc.field: [exc.message]}, status=status.HTTP_400_BAD_REQUEST)


def strategy_combo_json(config: StrategyConfig) -> dict[str, Any]:
    """A strategy and the combo its signals trade (``StrategyConfig.combo``; {} for single options)."""
    return {
        "name": config.name,
        "index": config.index,
        "enabled": config.enabled,
        "combo": config.combo or {},
    }


class PayoffView(APIView):
    """The payoff of a combo of concrete legs: maximum profit and loss (rupees for the whole combo,
    None when unlimited), breakevens (index points, ascending), the curve at expiry and today, net and
    per-leg Greeks, probability of profit and the margin estimate."""

    read_permission = access.VIEW_STRATEGIES
    write_permissions = {"POST": access.VIEW_STRATEGIES}

    @extend_schema(
        summary="Payoff, Greeks and margin of a combo",
        request=OpenApiTypes.OBJECT,
        examples=[OpenApiExample("short straddle", value=PAYOFF_EXAMPLE, request_only=True)],
        responses={
            200: OpenApiResponse(
                description="max_profit, max_loss (rupees, null when unlimited), breakevens, net_premium, "
                "probability_of_profit, greeks, legs (with lot_size, quantity, greeks), margin "
                "(an estimate), curve {spot, at_expiry, today}"
            ),
            400: OpenApiResponse(description="A refused field, named: spot, iv, legs[i].strike, ..."),
        },
    )
    def post(self, request: Request) -> Response:
        try:
            return Response(
                services.payoff_compute(user=request.user, data=request.data, clock=timezone.now())
            )
        except BuilderInputError as exc:
            return _refused(exc)


class TemplateView(APIView):
    """A template's legs on the model chain (strikes, expiries, premiums at the given IV)."""

    read_permission = access.VIEW_STRATEGIES
    write_permissions = {"POST": access.VIEW_STRATEGIES}

    @extend_schema(
        summary="The legs of a template",
        request=OpenApiTypes.OBJECT,
        examples=[
            OpenApiExample(
                "iron condor",
                value={"template": "iron_condor", "index": "NIFTY", "spot": 24000, "iv": 0.14, "lots": 1},
                request_only=True,
            )
        ],
        responses={
            200: OpenApiResponse(description="template, product, entry_time, exit_time, legs"),
            400: OpenApiResponse(description="A refused field, named"),
        },
    )
    def post(self, request: Request) -> Response:
        try:
            return Response(
                services.template_legs(user=request.user, data=request.data, clock=timezone.now())
            )
        except BuilderInputError as exc:
            return _refused(exc)


class StrategyCombosView(APIView):
    """The strategies and the combo each trades (viewers); POST (operators) saves the builder's combo
    as a strategy's configuration: a payoff request plus ``strategy``, optionally ``template`` and
    ``name``. The strategy's signals trade it from then on, in backtests, paper and LIVE."""

    read_permission = access.VIEW_STRATEGIES
    write_permissions = {"POST": access.CONFIGURE_STRATEGIES}

    @extend_schema(
        summary="Strategies and their combos",
        responses={200: OpenApiResponse(description="[{name, index, enabled, combo}] in registry order")},
    )
    def get(self, request: Request) -> Response:
        ensure_strategy_configs()
        configs = {c.name: c for c in StrategyConfig.objects.filter(name__in=registry.names())}
        return Response([strategy_combo_json(configs[n]) for n in registry.names() if n in configs])

    @extend_schema(
        summary="Save a combo as a strategy's configuration",
        request=OpenApiTypes.OBJECT,
        examples=[
            OpenApiExample(
                "save",
                value={**PAYOFF_EXAMPLE, "strategy": "PCRStrategy", "name": "straddle"},
                request_only=True,
            )
        ],
        responses={
            200: OpenApiResponse(description="{name, index, enabled, combo}: the strategy as saved"),
            400: OpenApiResponse(description="A refused field, named"),
        },
    )
    def post(self, request: Request) -> Response:
        try:
            config = services.combo_save(user=request.user, data=request.data, clock=timezone.now())
        except BuilderInputError as exc:
            return _refused(exc)
        return Response(strategy_combo_json(config))


class ComboBacktestView(APIView):
    """Backtest a strategy whose signals trade a combo: ``{"start", "end", "seed"}`` -> the run (201,
    with its page), started by the backtest service like any other run."""

    read_permission = access.VIEW_STRATEGIES
    write_permissions = {"POST": access.RUN_BACKTESTS}

    @extend_schema(
        summary="Backtest a strategy's combo",
        request=OpenApiTypes.OBJECT,
        examples=[
            OpenApiExample("a week", value={"start": "2025-11-17", "end": "2025-11-21"}, request_only=True)
        ],
        responses={
            201: OpenApiResponse(description="id, status, summary and page (url) of the run"),
            400: OpenApiResponse(description="A refused field, named (strategy: it trades no combo)"),
            404: OpenApiResponse(description="No such strategy"),
        },
    )
    def post(self, request: Request, name: str) -> Response:
        if name not in registry.names():
            raise Http404(f"no strategy {name}")
        try:
            run = services.combo_backtest(user=request.user, strategy=name, data=request.data)
        except BuilderInputError as exc:
            return _refused(exc)
        body: dict[str, Any] = {
            "id": run.pk,
            "status": run.status,
            "summary": run.summary,
            "url": reverse("backtest-detail", args=[run.pk]),
        }
        return Response(body, status=status.HTTP_201_CREATED)
