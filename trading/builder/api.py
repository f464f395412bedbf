"""The builder's API: ``POST /api/builder/payoff`` and ``/api/builder/template`` (viewers: they only
compute), ``GET/POST /api/builder/strategies`` (read: viewers; save: operators) and
``POST /api/builder/strategies/<id>/backtest`` (operators). Each is one call to
``trading.builder.services``; a refused field is a 400 ``{field: [message]}`` (a leg's field as
``legs[i].field``, i from 0)."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from trading import access
from trading.builder import services
from trading.builder.legs import BuilderInputError
from trading.strategies.models import ComboStrategy

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


class ComboStrategySerializer(serializers.ModelSerializer):
    """A saved combo strategy: its rules (``spec``) and the legs it was built from."""

    class Meta:
        model = ComboStrategy
        fields = (
            "id",
            "name",
            "index",
            "template",
            "spec",
            "built_legs",
            "built_spot",
            "built_iv",
            "built_on",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


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


class ComboStrategyListView(APIView):
    """The saved combo strategies (viewers); POST saves one (operators): a payoff request plus
    ``name`` and optionally ``template``."""

    read_permission = access.VIEW_STRATEGIES
    write_permissions = {"POST": access.CONFIGURE_STRATEGIES}

    @extend_schema(summary="Saved combo strategies", responses=ComboStrategySerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(ComboStrategySerializer(ComboStrategy.objects.all(), many=True).data)

    @extend_schema(
        summary="Save a combo strategy",
        request=OpenApiTypes.OBJECT,
        examples=[OpenApiExample("save", value={**PAYOFF_EXAMPLE, "name": "straddle"}, request_only=True)],
        responses={
            201: ComboStrategySerializer,
            400: OpenApiResponse(description="A refused field, named"),
        },
    )
    def post(self, request: Request) -> Response:
        try:
            strategy = services.combo_save(user=request.user, data=request.data, clock=timezone.now())
        except BuilderInputError as exc:
            return _refused(exc)
        return Response(ComboStrategySerializer(strategy).data, status=status.HTTP_201_CREATED)


class ComboBacktestView(APIView):
    """Backtest a saved combo strategy: ``{"start", "end", "seed"}`` -> the run (201), or 409 while
    the backtest service cannot run combos (the multi-leg engine)."""

    read_permission = access.VIEW_STRATEGIES
    write_permissions = {"POST": access.CONFIGURE_STRATEGIES}

    @extend_schema(
        summary="Backtest a saved combo strategy",
        request=OpenApiTypes.OBJECT,
        examples=[
            OpenApiExample("a month", value={"start": "2026-04-01", "end": "2026-04-30"}, request_only=True)
        ],
        responses={
            201: OpenApiResponse(description="id, status, summary of the run"),
            400: OpenApiResponse(description="A refused field, named"),
            404: OpenApiResponse(description="No such combo strategy"),
            409: OpenApiResponse(description="The backtest service cannot run combos yet"),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        strategy = get_object_or_404(ComboStrategy, pk=pk)
        try:
            run = services.combo_backtest(user=request.user, strategy=strategy, data=request.data)
        except BuilderInputError as exc:
            return _refused(exc)
        except services.BacktestUnavailable as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        body: dict[str, Any] = {"id": run.pk, "status": run.status, "summary": run.summary}
        return Response(body, status=status.HTTP_201_CREATED)
