"""The builder's API: ``POST /api/builder/payoff`` and ``/api/builder/template`` (viewers: they only
compute). Each is one call to
``trading.builder.services``; a refused field is a 400 ``{field: [message]}`` (a leg's field as
``legs[i].field``, i from 0)."""

from __future__ import annotations

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
