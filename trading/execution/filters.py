"""FilterSets of the engine's read-only tables (``/api/orders/``, ``/api/positions/``,
``/api/signals/``): each by status, strategy and mode."""

from __future__ import annotations

import django_filters

from journal.filters import UpperChoiceFilter
from trading.choices import Mode
from trading.execution.models import Order, OrderStatus, Position, PositionStatus
from trading.strategies.models import Signal, SignalStatus


class _ByStrategyAndMode(django_filters.FilterSet):
    strategy = django_filters.CharFilter(field_name="strategy_name", max_length=64, label="Strategy")
    mode = UpperChoiceFilter(choices=Mode.choices, label="Mode")


class OrderFilterSet(_ByStrategyAndMode):
    """``/api/orders/``: by status, strategy and mode."""

    status = UpperChoiceFilter(choices=OrderStatus.choices, label="Status")

    class Meta:
        model = Order
        fields: list[str] = []


class PositionFilterSet(_ByStrategyAndMode):
    """``/api/positions/``: by status, strategy and mode."""

    status = UpperChoiceFilter(choices=PositionStatus.choices, label="Status")

    class Meta:
        model = Position
        fields: list[str] = []


class SignalFilterSet(_ByStrategyAndMode):
    """``/api/signals/``: by status, strategy and mode."""

    status = UpperChoiceFilter(choices=SignalStatus.choices, label="Status")

    class Meta:
        model = Signal
        fields: list[str] = []
