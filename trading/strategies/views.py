"""The strategies page: each strategy with its rules, parameters, switch, recent signals and
performance. Writes go through ``trading.strategies.services``."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from journal.models import StrategyPerformance
from trading import access
from trading.core.strategies import registry
from trading.core.strategies.base import ParamError
from trading.strategies.models import Signal, StrategyConfig
from trading.strategies.services import (
    combo_label,
    ensure_strategy_configs,
    param_rows,
    strategy_config_update,
    with_last_signal,
)

RECENT_SIGNALS = 8
DETAIL_SIGNALS = 100


def _card(config: StrategyConfig, signals: list[Signal], performance: list[StrategyPerformance]) -> dict:
    strategy = registry.get(config.name)
    description = strategy.description
    title, _, rules = description.partition("\n")
    return {
        "config": config,
        "title": title,
        "rules": rules.strip(),
        "lookback": strategy.lookback,
        "params": param_rows(config),
        "trades_as": combo_label(config.combo),
        "signals": signals,
        "performance": performance,
    }


def _comparison(cards: list[dict], mode: str) -> list[dict]:
    """One row per strategy for the comparison table: its switch, cooldown and allocation, last signal,
    and its performance in ``mode`` (None before its first closed trade)."""
    rows = []
    for card in cards:
        perf = next((p for p in card["performance"] if p.mode == mode), None)
        rows.append({"card": card, "config": card["config"], "perf": perf})
    return rows


@access.permission_required(access.VIEW_STRATEGIES)
def strategy_list(request: HttpRequest) -> HttpResponse:
    """Every registered strategy, in registry order: a comparison table, then a folded card each."""
    ensure_strategy_configs()
    by_name = {c.name: c for c in with_last_signal(StrategyConfig.objects.filter(name__in=registry.names()))}
    configs = [by_name[name] for name in registry.names() if name in by_name]
    perf: dict[str, list[StrategyPerformance]] = {}
    for row in StrategyPerformance.objects.filter(strategy_name__in=registry.names()):
        perf.setdefault(row.strategy_name, []).append(row)
    cards = []
    for config in configs:
        recent = list(
            Signal.objects.filter(strategy_name=config.name).order_by("-bar_time", "-id")[:RECENT_SIGNALS]
        )
        cards.append(_card(config, recent, perf.get(config.name, [])))
    mode = settings.TRADING_MODE
    context = {"cards": cards, "rows": _comparison(cards, mode), "mode": mode}
    return render(request, "trading/strategies.html", context)


@access.permission_required(access.VIEW_STRATEGIES)
def strategy_detail(request: HttpRequest, name: str) -> HttpResponse:
    """One strategy: its rules, parameters, its configuration's audit trail and its last signals."""
    if name not in registry.names():
        raise Http404(f"no strategy {name}")
    ensure_strategy_configs()
    config = with_last_signal(StrategyConfig.objects.all()).get(name=name)
    signals = list(Signal.objects.filter(strategy_name=name).order_by("-bar_time", "-id")[:DETAIL_SIGNALS])
    performance = list(StrategyPerformance.objects.filter(strategy_name=name))
    card = _card(config, signals, performance)
    audits = config.audits.select_related("user")[:100]
    return render(request, "trading/strategies_detail.html", {"card": card, "audits": audits})


@access.permission_required(access.CONFIGURE_STRATEGIES)
@require_POST
def strategy_toggle(request: HttpRequest, name: str) -> HttpResponse:
    """Switch a strategy on or off (operators): the form posts ``enabled`` = "1" or "0"."""
    if name not in registry.names():
        raise Http404(f"no strategy {name}")
    ensure_strategy_configs()
    config = StrategyConfig.objects.get(name=name)
    enabled = request.POST.get("enabled") == "1"
    try:
        strategy_config_update(config=config, user=request.user, enabled=enabled)
    except ParamError as e:  # pragma: no cover - enabled is always a bool here
        messages.error(request, str(e))
    else:
        messages.success(request, f"{name} {'enabled' if enabled else 'disabled'}.")
    target = request.POST.get("next", "")
    return redirect(target if target.startswith("/strategies/") else "strategies")
