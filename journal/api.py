"""The REST API of the journal. Views are thin: they parse the
request, call a selector (reads) or a service (writes), and shape the answer.

Trades are addressed by ``trade_id`` (``/api/trades/<trade_id>/``): it is the trade's identity across
installations and in the exports, where the database id is not.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from journal import export, selectors, services
from journal.filters import ComboFilterSet, FilterBackend, TradeFilterSet, refuse_empty_choices
from journal.models import Combo, Trade, TradeOrigin
from journal.pagination import KeysetCursorPagination, parse_page_size, parse_positive_int
from journal.serializers import (
    TRADE_COLUMNS,
    ComboSerializer,
    SpooledTradeSerializer,
    TradeHistorySerializer,
    TradeInputSerializer,
    TradePatchSerializer,
    TradeSerializer,
    TradeTotalsSerializer,
    check_trade_input,
    derive_checked,
    trade_representation,
    trade_values,
    validation_error_detail,
)
from trading import access, inputs

MAX_HISTORY_PAGE = 10**9
_EXIT_TIME = TRADE_COLUMNS.index("exit_time")


def _filter_parameters(filterset_class) -> list[OpenApiParameter]:
    """OpenAPI parameters of a FilterSet, for views that are not list views of a viewset."""
    types = {
        "DateFilter": OpenApiTypes.DATE,
        "IsoDateTimeFilter": OpenApiTypes.DATETIME,
        "BoundedIsoDateTimeFilter": OpenApiTypes.DATETIME,
        "NumberFilter": OpenApiTypes.NUMBER,
        "FloatNumberFilter": OpenApiTypes.NUMBER,
        "StrictBooleanFilter": OpenApiTypes.BOOL,
    }
    params = []
    for name, flt in filterset_class.base_filters.items():
        enum = [c for c, _ in flt.extra["choices"]] if "choices" in flt.extra else None
        params.append(
            OpenApiParameter(
                name,
                types.get(type(flt).__name__, OpenApiTypes.STR),
                OpenApiParameter.QUERY,
                description=str(flt.label or name),
                enum=enum,
            )
        )
    return params


def _valid_filterset(request: Request) -> TradeFilterSet:
    """The request's filters, or a 400 naming each bad parameter."""
    refuse_empty_choices(request.query_params, TradeFilterSet)
    filterset = TradeFilterSet(data=request.query_params, queryset=Trade.objects.all(), request=request)
    if not filterset.is_valid():
        raise ValidationError(filterset.errors)
    return filterset


def _filters_or_none(request: Request) -> TradeFilterSet | None:
    """As ``_valid_filterset``, but None when the query names no filter (the whole journal): the
    commonest page does not pay for building a FilterSet."""
    if not set(request.query_params).intersection(TradeFilterSet.base_filters):
        return None
    return _valid_filterset(request)


TRADE_FILTERS = _filter_parameters(TradeFilterSet)
_ERRORS = {
    400: OpenApiResponse(description="Bad input: the field is named"),
    401: OpenApiResponse(description="Not authenticated"),
}


@extend_schema_view(
    list=extend_schema(summary="Trades, newest exit first (cursor pages)"),
    retrieve=extend_schema(summary="One trade by its trade_id"),
    destroy=extend_schema(summary="Delete a trade (operator); audited, performance refreshed"),
)
class TradeViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The journal's trades. Filters: see ``journal.filters.TradeFilterSet``."""

    queryset = Trade.objects.all()
    serializer_class = TradeSerializer
    read_permission = access.VIEW_JOURNAL
    # PATCH of notes and tags; any other field also needs access.CORRECT_TRADE (partial_update).
    write_permissions = {
        "POST": access.RECORD_TRADE,
        "PATCH": access.ANNOTATE_TRADE,
        "DELETE": access.DELETE_TRADE,
    }
    filterset_class = TradeFilterSet
    pagination_class = KeysetCursorPagination
    keyset_ordering = selectors.HISTORY_ORDER
    filter_backends = [FilterBackend]
    # Pages are built from value tuples, not model instances (a third of a page's cost).
    keyset_row_key = staticmethod(lambda values: (values[_EXIT_TIME], values[0]))
    lookup_field = "trade_id"
    lookup_value_regex = inputs.TRADE_ID_PATTERN
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def list(self, request: Request) -> Response:
        queryset = self.filter_queryset(self.get_queryset()).values_list(*TRADE_COLUMNS)
        rows = self.paginate_queryset(queryset)
        return self.get_paginated_response([trade_representation(values) for values in rows])

    def get_object(self) -> Trade:
        # A trade_id no trade can have (PostgreSQL refuses NUL in text outright) is simply unknown.
        trade_id = self.kwargs.get("trade_id", "")
        if "\x00" in trade_id or len(trade_id) > 64:
            raise Http404
        return super().get_object()

    @extend_schema(
        summary="Record a manual trade (trader)",
        description="Validated exactly like record_trade: times inside a session of the exchange's "
        "calendar, not after the contract's expiry nor in the future. 201 when stored, 200 when that "
        "trade_id already exists (nothing changes), 503 when the database is unreachable (nothing "
        "stored: the caller's token cannot even be checked), 202 when it went away after the checks "
        "and the trade was spooled.",
        request=TradeInputSerializer,
        responses={201: TradeSerializer, 200: TradeSerializer, 202: SpooledTradeSerializer, **_ERRORS},
    )
    def create(self, request: Request) -> Response:
        now = timezone.now()
        fields = check_trade_input(request.data)
        values = derive_checked(fields, now=now)
        existed = Trade.objects.filter(trade_id=values["trade_id"]).exists()
        try:
            trade = services.record_trade(now=now, origin=TradeOrigin.MANUAL, **fields)
        except DjangoValidationError as exc:
            raise ValidationError(validation_error_detail(exc)) from None
        if getattr(trade, "spooled", False):
            return Response({"trade_id": trade.trade_id, "spooled": True}, status=status.HTTP_202_ACCEPTED)
        body = trade_representation(trade_values(trade))
        return Response(body, status=status.HTTP_200_OK if existed else status.HTTP_201_CREATED)

    @extend_schema(
        summary="Edit a trade: notes and tags (trader), or corrections (operator)",
        description="Every derived field is recomputed, the performance rows refreshed and each changed "
        "field audited (source api).",
        request=TradePatchSerializer,
        responses={200: TradeSerializer, **_ERRORS},
    )
    def partial_update(self, request: Request, trade_id: str | None = None) -> Response:
        trade = self.get_object()
        changes = check_trade_input(request.data)
        if not set(changes) <= access.ANNOTATION_FIELDS:
            access.require(request.user, access.CORRECT_TRADE)
        raw = services.raw_of(trade)
        raw.update(changes)
        derive_checked(raw)
        try:
            trade = services.trade_update(trade=trade, user=request.user, source="api", **changes)
        except DjangoValidationError as exc:
            raise ValidationError(validation_error_detail(exc)) from None
        except Trade.DoesNotExist:  # deleted by another request since get_object
            raise Http404 from None
        return Response(trade_representation(trade_values(trade)))

    def destroy(self, request: Request, trade_id: str | None = None) -> Response:
        try:
            services.trade_delete(trade=self.get_object(), user=request.user, source="api")
        except Trade.DoesNotExist:  # deleted by another request since get_object
            raise Http404 from None
        return Response(status=status.HTTP_204_NO_CONTENT)


class TradeHistoryView(APIView):
    """``GET /api/trades/history``: ``{"trades": [...], "total": N, "page": P, "page_size": S}``."""

    read_permission = access.VIEW_JOURNAL

    @extend_schema(
        summary="A numbered page of the journal, with the filtered total",
        parameters=[
            OpenApiParameter("page", OpenApiTypes.INT, description="1-based page number"),
            OpenApiParameter("page_size", OpenApiTypes.INT, description="1..500, default 50"),
            *TRADE_FILTERS,
        ],
        responses={200: TradeHistorySerializer, **_ERRORS},
    )
    def get(self, request: Request) -> Response:
        page = parse_positive_int(request.query_params, "page", default=1, maximum=MAX_HISTORY_PAGE)
        page_size = parse_page_size(request.query_params)
        filterset = _filters_or_none(request)
        trades, total = selectors.trade_history_page(
            filterset, page=page, page_size=page_size, columns=TRADE_COLUMNS
        )
        return Response(
            {
                "trades": [trade_representation(values) for values in trades],
                "total": total,
                "page": page,
                "page_size": page_size,
            }
        )


class TradeTotalsView(APIView):
    """``GET /api/trades/totals``: trades, wins, win rate, gross, charges and net of the filtered set."""

    read_permission = access.VIEW_JOURNAL

    @extend_schema(
        summary="Totals of the filtered journal",
        parameters=TRADE_FILTERS,
        responses={200: TradeTotalsSerializer, **_ERRORS},
    )
    def get(self, request: Request) -> Response:
        totals = selectors.trade_totals(_filters_or_none(request))
        return Response(TradeTotalsSerializer(totals.as_dict()).data)


class TradeExportCsvView(APIView):
    """``GET /api/trades/export.csv``: every filtered trade, streamed; the API's columns."""

    read_permission = access.VIEW_JOURNAL

    @extend_schema(
        summary="CSV export of the filtered journal",
        parameters=TRADE_FILTERS,
        responses={(200, "text/csv"): OpenApiTypes.STR, **_ERRORS},
    )
    def get(self, request: Request):
        return export.csv_response(_valid_filterset(request))


class TradeExportXlsxView(APIView):
    """``GET /api/trades/export.xlsx``: the filtered trades as an Excel sheet (400 past 1,048,575)."""

    read_permission = access.VIEW_JOURNAL

    @extend_schema(
        summary="Excel export of the filtered journal",
        parameters=TRADE_FILTERS,
        responses={
            (200, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"): OpenApiTypes.BINARY,
            **_ERRORS,
        },
    )
    def get(self, request: Request):
        filterset = _valid_filterset(request)
        try:
            return export.xlsx_response(filterset)
        except export.ExportTooLarge as exc:
            raise ValidationError({"detail": [str(exc)]}) from None


class ComboViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The journal's combos (multi-leg positions), newest entry first (read-only): each with its
    legs, figures and the ids of its legs' trades (``/api/trades/<trade_id>/``). Filters: strategy,
    mode, status, template."""

    queryset = Combo.objects.prefetch_related("trades")
    serializer_class = ComboSerializer
    read_permission = access.VIEW_JOURNAL
    filterset_class = ComboFilterSet
    filter_backends = [FilterBackend]
    pagination_class = KeysetCursorPagination
    keyset_ordering = ("-entry_time", "-id")
    lookup_field = "combo_id"
    lookup_value_regex = inputs.TRADE_ID_PATTERN
    http_method_names = ["get", "head", "options"]

    def get_object(self) -> Combo:
        combo_id = self.kwargs.get("combo_id", "")
        if "\x00" in combo_id or len(combo_id) > 64:
            raise Http404
        return super().get_object()
