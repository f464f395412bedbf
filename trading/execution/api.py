"""The engine's read-only tables on the REST API: ``/api/orders/``, ``/api/positions/``,
``/api/signals/`` - cursor pages, newest first, filtered by status, strategy and mode."""

from __future__ import annotations

from django.http import Http404
from rest_framework import viewsets

from journal.filters import FilterBackend
from journal.pagination import KeysetCursorPagination
from trading import access
from trading.execution.filters import OrderFilterSet, PositionFilterSet, SignalFilterSet
from trading.execution.models import Order, Position
from trading.execution.serializers import OrderSerializer, PositionSerializer, SignalSerializer
from trading.strategies.models import Signal


class _ReadOnlyViewSet(viewsets.ReadOnlyModelViewSet):
    filter_backends = [FilterBackend]
    pagination_class = KeysetCursorPagination

    def get_object(self):
        # A non-numeric id is simply not one of ours: 404, not a 500 from the integer lookup.
        if not str(self.kwargs.get("pk", "")).isdigit() or len(self.kwargs["pk"]) > 18:
            raise Http404
        return super().get_object()


class OrderViewSet(_ReadOnlyViewSet):
    """Orders, newest first (read-only). Filters: status, strategy, mode."""

    queryset = Order.objects.all()
    read_permission = access.VIEW_ORDERS
    serializer_class = OrderSerializer
    filterset_class = OrderFilterSet
    keyset_ordering = ("-created_at", "-id")


class PositionViewSet(_ReadOnlyViewSet):
    """Positions, newest entry first (read-only). Filters: status, strategy, mode."""

    queryset = Position.objects.all()
    read_permission = access.VIEW_POSITIONS
    serializer_class = PositionSerializer
    filterset_class = PositionFilterSet
    keyset_ordering = ("-entry_time", "-id")


class SignalViewSet(_ReadOnlyViewSet):
    """Signals, newest bar first (read-only). Filters: status, strategy, mode."""

    queryset = Signal.objects.all()
    read_permission = access.VIEW_SIGNALS
    serializer_class = SignalSerializer
    filterset_class = SignalFilterSet
    keyset_ordering = ("-bar_time", "-id")
