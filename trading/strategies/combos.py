"""Combo strategies saved from the strategy builder (``ComboStrategy``): the write and the reads.

Service: ``combo_strategy_save`` (operators: ``access.CONFIGURE_STRATEGIES``). Selector:
``combo_strategy_spec``. The combo is stored by rule (``trading.core.combos.spec_json``) so that a
backtest resolves it afresh on every session; the concrete legs it was built from are kept beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from django.db import transaction

from trading import access
from trading.audit import user_or_none
from trading.core.combos import TEMPLATES, ComboSpec, LegSpec, PricedLeg, build_template
from trading.core.combos.spec_json import combo_from_dict, combo_to_dict, leg_rules
from trading.inputs import text_problem
from trading.strategies.models import ComboStrategy

NAME_MAX = 64


class ComboStrategyError(ValueError):
    """A refused save: ``field`` and ``message``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _clean_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ComboStrategyError("name", "a combo strategy needs a name")
    name = name.strip()
    if len(name) > NAME_MAX:
        raise ComboStrategyError("name", f"at most {NAME_MAX} characters")
    problem = text_problem(name, label=True)
    if problem:
        raise ComboStrategyError("name", problem)
    return name


def combo_spec_of_legs(
    legs: Sequence[PricedLeg],
    *,
    name: str,
    index: str,
    on: date,
    spot: float,
    template: str = "",
    combo_options: dict[str, Any] | None = None,
) -> ComboSpec:
    """The rules of the concrete ``legs`` seen on ``on`` at ``spot`` (``spec_json.leg_rules``).

    With a ``template`` whose legs match ``legs`` one for one (type and side, in order), each leg
    keeps the template's own exits (the straddle's 25% stops, ...) and the combo its times and
    product; ``combo_options`` (``product``, ``entry_time``, ...) go to ``ComboSpec``.
    """
    if template and template not in TEMPLATES:
        raise ComboStrategyError(
            "template", f"unknown template {template!r}: expected one of {', '.join(TEMPLATES)}"
        )
    try:
        rules = leg_rules(legs, index=index, on=on, spot=spot)
    except ValueError as exc:
        field, _, message = str(exc).partition(": ")
        raise ComboStrategyError(field, message) from None
    base = build_template(template, index) if template else None
    same = base is not None and [(leg.instrument, leg.side) for leg in base.legs] == [
        (leg.instrument, leg.side) for leg in legs
    ]
    specs = []
    for i, (leg, (expiry_rule, strike_rule)) in enumerate(zip(legs, rules)):
        exits = {}
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
    options.update(combo_options or {})
    try:
        return ComboSpec(name, index, tuple(specs), **options)
    except ValueError as exc:
        raise ComboStrategyError("non_field_errors", str(exc)) from None


def combo_strategy_save(
    *,
    user: Any,
    name: str,
    legs: Sequence[PricedLeg],
    index: str,
    on: date,
    spot: float,
    iv: float,
    template: str = "",
    combo_options: dict[str, Any] | None = None,
) -> ComboStrategy:
    """Save (create, or replace by ``name``) the combo strategy of the concrete ``legs``, priced at
    ``spot`` (index points) and ``iv`` (fraction) on the session ``on``. Needs
    ``access.CONFIGURE_STRATEGIES`` (``PermissionDenied``); ``ComboStrategyError`` names a refused field."""
    access.require(user, access.CONFIGURE_STRATEGIES)
    name = _clean_name(name)
    spec = combo_spec_of_legs(
        legs, name=name, index=index, on=on, spot=spot, template=template, combo_options=combo_options
    )
    built = [
        {
            "type": leg.instrument,
            "side": leg.side,
            "strike": leg.strike,
            "expiry": leg.expiry.isoformat(),
            "lots": leg.lots,
            "premium": leg.premium,
        }
        for leg in legs
    ]
    values = dict(
        index=index,
        template=template,
        spec=combo_to_dict(spec),
        built_legs=built,
        built_spot=float(spot),
        built_iv=float(iv),
        built_on=on,
    )
    with transaction.atomic():
        strategy, created = ComboStrategy.objects.select_for_update().get_or_create(
            name=name, defaults={**values, "created_by": user_or_none(user)}
        )
        if not created:
            for field, value in values.items():
                setattr(strategy, field, value)
            strategy.save()
    return strategy


def combo_strategy_spec(strategy: ComboStrategy) -> ComboSpec:
    """The stored combo as a ``ComboSpec`` (``ValueError`` if it no longer validates)."""
    return combo_from_dict(strategy.spec)
