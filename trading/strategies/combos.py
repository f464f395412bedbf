"""The strategy builder's save: a combo designed on concrete legs becomes a strategy's configuration
(``StrategyConfig.combo = {"spec": ...}``, the combo its signals trade, docs/multileg.md), written by
``strategy_config_update`` (operators, validated, audited).

The combo is stored **by rule** (``trading.core.combos.from_legs.leg_rules``: expiry and strike
rules), so that a backtest or the desk resolves it afresh on every signal.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from trading.core.combo_store import spec_to_dict
from trading.core.combos import TEMPLATES, ComboSpec, LegSpec, PricedLeg, build_template
from trading.core.combos.from_legs import leg_rules
from trading.core.strategies import registry
from trading.core.strategies.base import ParamError
from trading.inputs import text_problem
from trading.strategies.models import StrategyConfig
from trading.strategies.services import ensure_strategy_configs, strategy_config_update

NAME_MAX = 40


def combo_spec_of_legs(
    legs: Sequence[PricedLeg],
    *,
    name: str,
    index: str,
    on: date,
    spot: float,
    template: str = "",
) -> ComboSpec:
    """The rules of the concrete ``legs`` seen on ``on`` at ``spot`` (``from_legs.leg_rules``).

    With a ``template`` whose legs match ``legs`` one for one (type and side, in order), each leg
    keeps the template's own exits (the straddle's 25% stops, ...) and the combo its times, product
    and combo exits. Raises ``ParamError`` naming the field (``legs[i].expiry``, ``template``).
    """
    if template and template not in TEMPLATES:
        raise ParamError("template", f"unknown template {template!r}: expected one of {', '.join(TEMPLATES)}")
    try:
        rules = leg_rules(legs, index=index, on=on, spot=spot)
    except ValueError as exc:
        field, _, message = str(exc).partition(": ")
        raise ParamError(field, message) from None
    base = build_template(template, index) if template else None
    same = base is not None and [(leg.instrument, leg.side) for leg in base.legs] == [
        (leg.instrument, leg.side) for leg in legs
    ]
    specs = []
    for i, (leg, (expiry_rule, strike_rule)) in enumerate(zip(legs, rules)):
        exits: dict[str, Any] = {}
        if same:
            t = base.legs[i]
            exits = dict(
                stop_loss=t.stop_loss,
                target=t.target,
                trailing_stop=t.trailing_stop,
                re_entry=t.re_entry,
                momentum=t.momentum,
            )
        kwargs = {"strike": strike_rule} if strike_rule is not None else {}
        specs.append(LegSpec(leg.instrument, leg.side, leg.lots, expiry_rule, **kwargs, **exits))
    options: dict[str, Any] = {}
    if same:
        options = dict(
            product=base.product,
            entry_time=base.entry_time,
            exit_time=base.exit_time,
            stop_loss=base.stop_loss,
            target=base.target,
            lock_and_trail=base.lock_and_trail,
        )
    try:
        return ComboSpec(name, index, tuple(specs), **options)
    except ValueError as exc:
        raise ParamError("legs", str(exc)) from None


def _clean_name(name: Any, default: str) -> str:
    if name in (None, ""):
        return default
    if not isinstance(name, str):
        raise ParamError("name", f"{name!r} is not text")
    name = name.strip()
    if len(name) > NAME_MAX:
        raise ParamError("name", f"at most {NAME_MAX} characters")
    problem = text_problem(name, label=True)
    if problem:
        raise ParamError("name", problem)
    return name or default


def strategy_combo_save(
    *,
    user: Any,
    strategy: Any,
    legs: Sequence[PricedLeg],
    index: str,
    on: date,
    spot: float,
    template: str = "",
    name: str = "",
) -> StrategyConfig:
    """Make the concrete ``legs`` (priced at ``spot`` on the session ``on``) the combo that
    ``strategy``'s signals trade: ``StrategyConfig.combo = {"spec": ...}`` through
    ``strategy_config_update`` (``access.CONFIGURE_STRATEGIES``, audited). ``ParamError`` names a
    refused field: ``strategy`` (not registered, or trading another index), ``legs[i].expiry``,
    ``template``, ``name``."""
    if not isinstance(strategy, str) or strategy not in registry.names():
        raise ParamError("strategy", f"{strategy!r} is not a strategy (known: {', '.join(registry.names())})")
    ensure_strategy_configs()
    config = StrategyConfig.objects.get(name=strategy)
    if config.index != index:
        raise ParamError("strategy", f"{strategy} trades {config.index}, the legs are {index}")
    spec = combo_spec_of_legs(
        legs, name=_clean_name(name, template or "custom"), index=index, on=on, spot=spot, template=template
    )
    return strategy_config_update(config=config, user=user, combo={"spec": spec_to_dict(spec)})
