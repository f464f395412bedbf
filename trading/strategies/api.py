"""REST API of the strategy configurations: ``/api/strategies/`` (list: viewers) and
``/api/strategies/<name>/`` (read; PATCH for operators, through ``strategy_config_update``)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from trading import access
from trading.core.strategies import registry
from trading.core.strategies.base import ParamError
from trading.strategies.models import StrategyConfig
from trading.strategies.services import (
    CONFIG_FIELDS,
    FIELD_BOUNDS,
    ensure_strategy_configs,
    param_rows,
    strategy_config_update,
    with_last_signal,
)


class StrategyConfigSerializer(serializers.ModelSerializer):
    """A strategy's configuration, its description and its effective parameters with their bounds."""

    last_signal_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="bar start of the latest accepted PAPER/LIVE signal"
    )
    description = serializers.SerializerMethodField()
    parameter_table = serializers.SerializerMethodField()
    lookback = serializers.SerializerMethodField()

    class Meta:
        model = StrategyConfig
        fields = (
            "name",
            *CONFIG_FIELDS,
            "last_signal_at",
            "updated_at",
            "lookback",
            "description",
            "parameter_table",
        )
        read_only_fields = fields

    def get_description(self, obj: StrategyConfig) -> str:
        return registry.get(obj.name).description

    def get_lookback(self, obj: StrategyConfig) -> int:
        return registry.get(obj.name).lookback

    def get_parameter_table(self, obj: StrategyConfig) -> list[dict[str, Any]]:
        return param_rows(obj)


class StrategyConfigPatchSerializer(serializers.Serializer):
    """What a PATCH may change (documentation of the request body; validation is the service's)."""

    enabled = serializers.BooleanField(required=False)
    parameters = serializers.DictField(
        required=False, help_text="merged into the stored values; null = default"
    )
    capital_allocation = serializers.DecimalField(max_digits=14, decimal_places=2, required=False)
    max_open_positions = serializers.IntegerField(
        required=False,
        min_value=FIELD_BOUNDS["max_open_positions"][0],
        max_value=FIELD_BOUNDS["max_open_positions"][1],
    )
    cooldown_minutes = serializers.IntegerField(
        required=False,
        min_value=FIELD_BOUNDS["cooldown_minutes"][0],
        max_value=FIELD_BOUNDS["cooldown_minutes"][1],
        help_text="minutes after an accepted signal before the strategy may enter again",
    )
    index = serializers.CharField(required=False)
    combo = serializers.DictField(
        required=False,
        help_text='the combo a signal trades instead of one option: {"template": "short_straddle"}, '
        '{"call": "bull_put_spread", "put": "bear_call_spread", "params": {"lots": 2}}, '
        '{"spec": {...}}; {} or null: the single option',
    )


class StrategyConfigViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Strategy configurations. PATCH (operators) takes any of ``enabled``, ``parameters`` (merged into
    the stored values; a null value drops that parameter back to its default), ``capital_allocation``,
    ``max_open_positions``, ``cooldown_minutes``, ``index``, ``combo`` (the template a signal trades
    instead of one option). An invalid value is refused with 400
    ``{field: [message]}`` naming the bound, and nothing is saved; every change is audited."""

    serializer_class = StrategyConfigSerializer
    read_permission = access.VIEW_STRATEGIES
    write_permissions = {"PATCH": access.CONFIGURE_STRATEGIES}
    lookup_field = "name"
    lookup_value_regex = r"[A-Za-z0-9_]+"
    http_method_names = ["get", "patch", "head", "options"]
    filter_backends: list = []

    def get_queryset(self):
        return with_last_signal(StrategyConfig.objects.filter(name__in=registry.names()).order_by("name"))

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        ensure_strategy_configs()
        return super().list(request, *args, **kwargs)

    @extend_schema(request=StrategyConfigPatchSerializer, responses=StrategyConfigSerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        config = self.get_object()
        data = request.data
        if not hasattr(data, "items"):
            raise ValidationError({"non_field_errors": ["expected a JSON object"]})
        changes = dict(data.items())
        unknown = sorted(set(changes) - set(CONFIG_FIELDS))
        if unknown:
            raise ValidationError(
                {unknown[0]: [f"not a configuration field (known: {', '.join(CONFIG_FIELDS)})"]}
            )
        if "parameters" in changes:
            patch = changes["parameters"]
            if not isinstance(patch, dict):
                raise ValidationError({"parameters": ["expected an object of parameter -> value"]})
            merged = {**(config.parameters or {}), **patch}
            changes["parameters"] = {k: v for k, v in merged.items() if v is not None}
        try:
            strategy_config_update(config=config, user=request.user, **changes)
        except ParamError as e:
            raise ValidationError({e.field: [e.message]}) from None
        return Response(self.get_serializer(config).data)
