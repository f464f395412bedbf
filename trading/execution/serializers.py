"""Serializers of the engine's read-only tables on the REST API."""

from __future__ import annotations

from rest_framework import serializers

from trading.execution.models import Order, Position
from trading.strategies.models import Signal


class OrderSerializer(serializers.ModelSerializer):
    """An order and its state (read-only)."""

    class Meta:
        model = Order
        fields = "__all__"


class PositionSerializer(serializers.ModelSerializer):
    """A position, open or closed (read-only)."""

    class Meta:
        model = Position
        fields = "__all__"


class SignalSerializer(serializers.ModelSerializer):
    """A strategy signal, taken or rejected with its reason (read-only)."""

    class Meta:
        model = Signal
        fields = "__all__"
