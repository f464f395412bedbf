"""Writes and reads of the journal's combos (multi-leg positions, docs/multileg.md).

A combo's legs are ordinary trades written by ``journal.services.record_trade`` with the combo's
``combo_id``; ``combo_record`` stores what the engine knows of the combo (its legs as resolved,
margin, payoff, status, exit) and ``combo_refresh_totals`` sums its legs' trades into its gross,
charges and net P&L - the journal's own figures, never the engine's copy of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Sum

from journal.models import Combo, ComboStatus, Trade
from trading.choices import ExitType
from trading.core.combos import payoff
from trading.core.combos.model import PricedLeg

# The facts ``combo_record`` takes (``trading.core.combo_exits.combo_facts``).
COMBO_FIELDS = (
    "combo_id",
    "strategy_name",
    "symbol",
    "template",
    "product",
    "direction",
    "entry_mode",
    "data_source",
    "status",
    "entry_time",
    "exit_time",
    "exit_type",
    "exit_reason",
    "policy_note",
    "payoff_known",
    "max_profit",
    "max_loss",
    "breakevens",
    "margin",
    "margin_is_estimate",
    "legs",
    "engine",
    "backtest_run_id",
)
# What the engine reports of the money: the journal sums its trades instead.
COMBO_TOTALS = ("gross_pnl", "total_charges", "net_pnl")


def combo_record(*, now: datetime, **facts) -> Combo:
    """Store (or update, by ``combo_id``) one combo's facts; return the row.

    ``now`` is the caller's clock (the engine's: the bar's), which no time of the combo may pass.
    Unknown fields, a status or exit type outside their choices, or an exit before the entry raise
    ``ValidationError`` naming the field. The money totals are the legs' (``combo_refresh_totals``).
    """
    for name in COMBO_TOTALS:
        facts.pop(name, None)
    unknown = sorted(set(facts) - set(COMBO_FIELDS))
    if unknown:
        raise ValidationError({unknown[0]: f"unknown field(s): {', '.join(unknown)}"})
    combo_id = str(facts.get("combo_id") or "").strip()
    if not combo_id:
        raise ValidationError({"combo_id": "this field is required"})
    if facts.get("status", ComboStatus.OPEN) not in ComboStatus.values:
        raise ValidationError({"status": f"{facts['status']!r} is not a combo status"})
    if facts.get("exit_type") and facts["exit_type"] not in ExitType.values:
        raise ValidationError({"exit_type": f"{facts['exit_type']!r} is not an exit type"})
    entry, exit_ = facts.get("entry_time"), facts.get("exit_time")
    if entry is None:
        raise ValidationError({"entry_time": "this field is required"})
    if exit_ is not None and exit_ < entry:
        raise ValidationError({"exit_time": "the exit is before the entry"})
    if max(entry, exit_ or entry) > now:
        raise ValidationError({"exit_time" if exit_ else "entry_time": "after the caller's clock"})
    values = {name: value for name, value in facts.items() if name != "combo_id"}
    with transaction.atomic():
        combo, created = Combo.objects.select_for_update().get_or_create(combo_id=combo_id, defaults=values)
        if not created:
            for name, value in values.items():
                setattr(combo, name, value)
            combo.save()
    return combo


def combo_refresh_totals(combo_ids: Iterable[str]) -> None:
    """Sum each combo's leg trades into its gross P&L, charges and net P&L (rupees)."""
    ids = list(dict.fromkeys(combo_ids))
    if not ids:
        return
    sums = {
        row["combo_id"]: row
        for row in Trade.objects.filter(combo_id__in=ids)
        .values("combo_id")
        .annotate(gross=Sum("gross_pnl"), fees=Sum("total_charges"), net=Sum("net_pnl"), n=Count("id"))
    }
    for combo_id in ids:
        row = sums.get(combo_id)
        zero = Decimal(0)
        Combo.objects.filter(combo_id=combo_id).update(
            gross_pnl=row["gross"] if row else zero,
            total_charges=row["fees"] if row else zero,
            net_pnl=row["net"] if row else zero,
        )


# --- reads -------------------------------------------------------------------------------------------------


def combo_legs_priced(combo: Combo) -> list[PricedLeg]:
    """The combo's legs as ``PricedLeg`` at their entry fills (the first trade of each leg, else the
    premium resolved at the signal), for the payoff."""
    firsts = {t.trade_id: t for t in combo.trades.all()}
    out = []
    for i, leg in enumerate(combo.legs or []):
        trade = firsts.get(f"{combo.combo_id}-L{i + 1}")
        premium = float(trade.entry_price) if trade is not None else float(leg["premium"])
        out.append(
            PricedLeg(
                instrument=leg["instrument"],
                side=leg["side"],
                strike=leg["strike"],
                expiry=date.fromisoformat(leg["expiry"]),
                lots=int(leg["lots"]),
                premium=premium,
                lot_size=int(leg["lot_size"]),
                iv=leg.get("iv"),
            )
        )
    return out


def combo_payoff(combo: Combo, *, spot: float | None = None) -> dict:
    """The combo's P&L at its nearest expiry over a spot grid (rupees against index points), for
    the trade page's chart; ``spot`` marks the entry (default: the first leg trade's entry spot)."""
    legs = combo_legs_priced(combo)
    if not legs:
        return {"points": []}
    if spot is None:
        first = combo.trades.exclude(spot_price_entry=None).order_by("entry_time").first()
        spot = float(first.spot_price_entry) if first else sum(leg.strike or 0 for leg in legs) / len(legs)
    spots = payoff.spot_grid(legs, spot)
    try:
        pnl = payoff.expiry_pnl(legs, spots)
    except ValueError:  # a later leg without its IV
        return {"points": []}
    return {
        "points": [{"x": round(float(s), 2), "y": round(float(p), 2)} for s, p in zip(spots, pnl)],
        "spot": round(spot, 2),
        "breakevens": combo.breakevens,
        "expiry": payoff.evaluation_expiry(legs).isoformat(),
    }


def combos_of(trades: Iterable[Trade]) -> dict[str, Combo]:
    """The combos of ``trades`` (the legs among them), by ``combo_id``, in one query."""
    ids = {t.combo_id for t in trades if t.combo_id}
    return {c.combo_id: c for c in Combo.objects.filter(combo_id__in=ids)} if ids else {}


def grouped_rows(trades: list[Trade]) -> list[dict]:
    """The journal page's rows: a single trade as it is; the legs of a combo on the page under one
    combo row (at the place of its first leg), each leg marked with its combo."""
    combos = combos_of(trades)
    rows: list[dict] = []
    groups: dict[str, dict] = {}
    for trade in trades:
        combo = combos.get(trade.combo_id or "")
        if combo is None:
            rows.append({"trade": trade})
            continue
        group = groups.get(combo.combo_id)
        if group is None:
            group = groups[combo.combo_id] = {"combo": combo, "legs": []}
            rows.append(group)
        group["legs"].append(trade)
    return rows
