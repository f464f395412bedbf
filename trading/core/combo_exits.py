"""Combos after entry, pure: every cycle each combo's legs are marked and checked, first as a whole
then leg by leg, and a combo whose last leg closed becomes the facts of its journal ``Combo``.

Whole combo (checked first, in this order; all legs close, the sold legs bought back first):

* kill switch -> ``KILL_SWITCH``; a desk-wide ``SQUARE_OFF`` closes an intraday (MIS) combo only;
* time: an MIS combo at its ``exit_time`` (``TIME_EXIT``) or at the desk's square-off time
  (``SQUARE_OFF``, whichever comes first; also the next session if the desk was down); an NRML
  combo is carried overnight and held to its **nearest leg's expiry**: there (or at its
  ``exit_time`` on that day) the legs expiring settle (``EXPIRY``: a long ITM option exercised, a
  short ITM option assigned, ``core.exits.expire``) and later legs are sold or bought back on that
  session's last bar (``TIME_EXIT``);
* combo stop and target in rupees of the combo's P&L (``STOP_LOSS``, ``TARGET``) and the
  lock-and-trail floor (``TRAILING_STOP``). The combo's P&L here is the **gross mark-to-market**:
  the realised gross of its closed legs plus each open leg's ``sign x (mark - entry) x quantity``
  (charges are not in it; the journal's combo net is).

Each leg (when the combo holds): its stop, trailing stop and target from its ``LegSpec`` in premium
terms - a bought leg stops when the premium falls to its stop, a sold leg when it rises to it; the
trail follows the best premium since entry (the highest for a bought leg, the lowest for a sold
one). A leg closed by its stop (a trailing stop counts) or target is entered again on the next cycle
at the same strike when its ``ReEntry`` allows (``combos.model.may_reenter``), never after the
desk's entry cutoff or the combo's exit time.

The combo counts as **one trade for the risk figures** (daily loss, consecutive losses): its net
P&L is accounted when its last leg closes.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from trading.core import calendar as market_calendar
from trading.core import combo_entries, exits, orders, risk
from trading.core.combos import model as combo_model
from trading.core.combos.model import MIS, NRML
from trading.core.market_context import mark_price, quote_of
from trading.core.order_flow import Cycle
from trading.core.state import (
    COMBO_CLOSED,
    COMBO_CLOSING,
    COMBO_ENTERING,
    COMBO_OPEN,
    LEG_CLOSED,
    LEG_OPEN,
    LEG_SENT,
    LEG_WAITING,
    OpenCombo,
    OpenPosition,
)


def run_combos(cycle: Cycle) -> None:
    """Every combo of the state through one cycle: legs closed since the last one, the entering
    combos moved on, the open ones marked and checked, the closing ones closed, the finished ones
    accounted and handed to the caller."""
    for combo in list(cycle.state.combos.values()):
        take_closed_legs(cycle, combo)
        _forget_vanished_legs(cycle, combo)
        if combo.status == COMBO_ENTERING:
            combo_entries.advance(cycle, combo)
        if combo.status in (COMBO_ENTERING, COMBO_OPEN):
            _watch(cycle, combo)  # an entering combo (a momentum leg waiting) is watched too
        if combo.status == COMBO_CLOSING:
            _close_all(cycle, combo)
        take_closed_legs(cycle, combo)
        finish_if_done(cycle, combo)


def account_combos(cycle: Cycle) -> None:
    """After the entries: the leg trades this cycle's entries closed (an unwind) into their
    combos, and the combos finished by them closed."""
    for combo in list(cycle.state.combos.values()):
        take_closed_legs(cycle, combo)
        finish_if_done(cycle, combo)


# --- marks -------------------------------------------------------------------------------------------------


def _open_legs(cycle: Cycle, combo: OpenCombo) -> list[OpenPosition]:
    out = []
    for i in sorted(combo.leg_positions):
        position = cycle.state.positions.get(combo.leg_positions[i])
        if position is not None:
            out.append(position)
    return out


def mark_leg(position: OpenPosition, mark: Decimal | None, trail: combo_model.Threshold | None) -> None:
    """Move a leg's last price, high and low water to ``mark``; ratchet its trailing stop (up for a
    bought leg, down for a sold one)."""
    if mark is None:
        return
    position.last_price = mark
    position.high_water = mark if position.high_water is None else max(position.high_water, mark)
    position.low_water = mark if position.low_water is None else min(position.low_water, mark)
    if trail is None:
        return
    best = position.high_water if position.sign > 0 else position.low_water
    level = risk.to_tick(combo_model.trailing_stop_price(position.side, float(best), trail))
    if position.trail is None:
        position.trail = level
    elif position.sign > 0:
        position.trail = max(position.trail, level)
    else:
        position.trail = min(position.trail, level)


def combo_pnl(combo: OpenCombo, legs: list[OpenPosition]) -> Decimal:
    """The combo's gross mark-to-market P&L, rupees: its closed legs' gross plus every open leg's
    ``sign x (last price - entry) x open quantity``."""
    total = combo.gross
    for p in legs:
        price = p.last_price if p.last_price is not None else p.entry_price
        total += p.sign * (price - p.entry_price) * p.open_quantity
    for p in legs:  # a leg partly exited: its exited part is realised on the close, not before
        for quantity, price, _ in p.exit_fills:
            total += p.sign * (price - p.entry_price) * quantity
    return total.quantize(risk.PAISA, ROUND_HALF_UP)


# --- decisions -----------------------------------------------------------------------------------------------


def _ist_time(at: datetime):
    return at.astimezone(market_calendar.IST).time()


def combo_decision(cycle: Cycle, combo: OpenCombo, pnl: Decimal) -> risk.ExitDecision | None:
    """Whether the whole combo closes now (module doc for the order of the rules)."""
    spec = combo.spec
    if cycle.state.risk.kill_switch or cycle.force_exit == risk.KILL_SWITCH:
        return risk.ExitDecision(risk.KILL_SWITCH, "kill switch: square off everything")
    at, today = cycle.at, market_calendar.ist_date(cycle.at)
    nearest = min(leg.expiry for leg in combo.legs)
    if spec.product == NRML:
        if risk.is_expired(nearest, at):
            return risk.ExitDecision(risk.EXPIRY, f"held to the nearest expiry {nearest}")
        if spec.exit_time is not None and today >= nearest and _ist_time(at) >= spec.exit_time:
            return risk.ExitDecision(risk.TIME_EXIT, f"exit time {spec.exit_time:%H:%M} IST on expiry day")
    else:
        if cycle.force_exit:
            return risk.ExitDecision(
                cycle.force_exit, f"{cycle.force_exit.lower().replace('_', ' ')} ordered"
            )
        square_off = cycle.config.risk.square_off_at
        exit_time = spec.exit_time or square_off
        if today > market_calendar.ist_date(combo.opened_at):
            return risk.ExitDecision(risk.SQUARE_OFF, "intraday combo carried past its session")
        if _ist_time(at) >= min(exit_time, square_off):
            if exit_time < square_off:
                return risk.ExitDecision(risk.TIME_EXIT, f"combo exit time {exit_time:%H:%M} IST")
            return risk.ExitDecision(risk.SQUARE_OFF, f"square-off at {square_off:%H:%M} IST")
    if spec.stop_loss is not None and pnl <= -spec.stop_loss:
        return risk.ExitDecision(risk.STOP_LOSS, f"combo P&L {pnl} <= stop -{spec.stop_loss}")
    if spec.target is not None and pnl >= spec.target:
        return risk.ExitDecision(risk.TARGET, f"combo P&L {pnl} >= target {spec.target}")
    if spec.lock_and_trail is not None:
        floor = combo_model.locked_profit(spec.lock_and_trail, combo.peak_pnl)
        if floor is not None and pnl <= floor:
            return risk.ExitDecision(
                risk.TRAILING_STOP, f"combo P&L {pnl} <= locked profit {floor} (peak {combo.peak_pnl})"
            )
    return None


def leg_decision(position: OpenPosition, at: datetime) -> risk.ExitDecision | None:
    """Whether one leg closes by its own rules: expiry, stop, trailing stop, target (by its side)."""
    if risk.is_expired(position.expiry, at):
        return risk.ExitDecision(risk.EXPIRY, f"contract expired {position.expiry}")
    mark = position.last_price
    if mark is None:
        return None
    s = position.sign
    if position.stop is not None and s * (mark - position.stop) <= 0:
        return risk.ExitDecision(
            risk.STOP_LOSS, f"premium {mark} {'<=' if s > 0 else '>='} stop {position.stop}"
        )
    if position.trail is not None and s * (mark - position.trail) <= 0:
        return risk.ExitDecision(
            risk.TRAILING_STOP, f"premium {mark} {'<=' if s > 0 else '>='} trailing stop {position.trail}"
        )
    if position.target is not None and s * (mark - position.target) >= 0:
        return risk.ExitDecision(
            risk.TARGET, f"premium {mark} {'>=' if s > 0 else '<='} target {position.target}"
        )
    return None


def _exiting(cycle: Cycle) -> set[str]:
    return {o.position_id for o in cycle.state.pending.values() if o.purpose == orders.EXIT}


def _watch(cycle: Cycle, combo: OpenCombo) -> None:
    legs = _open_legs(cycle, combo)
    for p in legs:
        quote = quote_of(cycle.bar, p.expiry, p.strike, p.option_type)
        mark_leg(p, mark_price(quote), combo.spec.legs[p.leg].trailing_stop)
        cycle.result.marked.append(p)
    pnl = combo_pnl(combo, legs)
    combo.peak_pnl = max(combo.peak_pnl, pnl)
    decision = combo_decision(cycle, combo, pnl)
    if decision is not None:
        combo.status = COMBO_CLOSING
        combo.exit_type, combo.exit_reason = decision.exit_type, decision.reason
        cycle.result.combos.append(combo)
        return
    exiting = _exiting(cycle)
    for p in legs:
        if p.position_id in exiting:
            continue
        decision = leg_decision(p, cycle.at)
        if decision is None:
            continue
        if decision.exit_type == risk.EXPIRY:
            exits.expire(cycle, p, decision)
        else:
            exits.place_exit(cycle, p, decision, quote_of(cycle.bar, p.expiry, p.strike, p.option_type))
    if combo.status == COMBO_OPEN:
        _reenter(cycle, combo)


def _close_all(cycle: Cycle, combo: OpenCombo) -> None:
    """Every leg closed with the combo's exit (``combo_entries.close_all_legs``: shorts first)."""
    for i, status in combo.leg_status.items():
        if status == LEG_WAITING:
            combo.leg_status[i] = LEG_CLOSED
    combo_entries.close_all_legs(cycle, combo)


def _reentry_allowed(cycle: Cycle, combo: OpenCombo) -> bool:
    t = _ist_time(cycle.at)
    if not cycle.entries_allowed or t >= cycle.config.risk.no_entry_after:
        return False
    exit_time = combo.spec.exit_time
    return not (combo.spec.product == MIS and exit_time is not None and t >= exit_time)


def _reenter(cycle: Cycle, combo: OpenCombo) -> None:
    """Send the legs waiting for their re-entry (at the strike and expiry the combo entered with)."""
    waiting = [i for i, s in combo.leg_status.items() if s == LEG_WAITING]
    if not waiting:
        return
    if not _reentry_allowed(cycle, combo):
        for i in waiting:
            combo.leg_status[i] = LEG_CLOSED
        return
    for i in waiting:
        combo_entries.send_leg(cycle, combo, i)


# --- closed legs, a finished combo ---------------------------------------------------------------------------


def take_closed_legs(cycle: Cycle, combo: OpenCombo) -> None:
    """Account the leg trades closed in this cycle into their combo; mark a leg to re-enter."""
    for closed in cycle.result.closed:
        position = closed.position
        if position.combo_id != combo.combo_id or position.position_id in combo.trades:
            continue
        combo.trades.append(position.position_id)
        combo.gross += closed.gross_pnl
        combo.charges += closed.charges
        combo.realised += closed.net_pnl
        combo.closed_at = max(combo.closed_at or closed.exit_time, closed.exit_time)
        i = position.leg
        if combo.leg_status.get(i) != LEG_OPEN or combo.leg_positions.get(i) != position.position_id:
            continue
        combo.leg_status[i] = LEG_CLOSED
        done = combo.reentries.get(i, 0)
        if combo.status == COMBO_OPEN and combo_model.may_reenter(
            combo.spec.legs[i].re_entry, closed.exit_type, done
        ):
            combo.reentries[i] = done + 1
            combo.leg_status[i] = LEG_WAITING
        combo.last_leg_exit = (closed.exit_type, closed.exit_reason)
        cycle.result.combos.append(combo)


def _forget_vanished_legs(cycle: Cycle, combo: OpenCombo) -> None:
    """A leg the combo holds open whose position is gone and has no order in flight was closed
    outside this state (its close spooled while the database was away, then a restart): closed."""
    exiting = _exiting(cycle)
    for i, status in combo.leg_status.items():
        position_id = combo.leg_positions.get(i, "")
        if status == LEG_OPEN and position_id not in cycle.state.positions and position_id not in exiting:
            combo.leg_status[i] = LEG_CLOSED
            cycle.note(f"{combo.combo_id}: leg {i + 1} ({position_id}) is no longer open: taken as closed")


def _busy(cycle: Cycle, combo: OpenCombo) -> bool:
    if any(s in (LEG_OPEN, LEG_SENT, LEG_WAITING) for s in combo.leg_status.values()):
        return True
    if any(p.combo_id == combo.combo_id for p in cycle.state.positions.values()):
        return True
    return any(
        o.plan.get("combo_id") == combo.combo_id or o.position_id.startswith(combo.combo_id)
        for o in cycle.state.pending.values()
    )


def finish_if_done(cycle: Cycle, combo: OpenCombo) -> None:
    """Close a combo with nothing open, in flight or waiting: its figures, the risk figures (one
    trade), out of the state, to the caller."""
    if combo.status == COMBO_ENTERING or _busy(cycle, combo):
        return
    if not combo.exit_type:
        combo.exit_type, combo.exit_reason = combo.last_leg_exit or ("", "")
        combo.exit_reason = f"every leg closed by its own exit (last: {combo.exit_reason})"
    combo.status = COMBO_CLOSED
    combo.closed_at = combo.closed_at or cycle.at
    cycle.state.combos.pop(combo.combo_id, None)
    if combo.trades:
        exits.account_close(cycle, combo.realised)
    cycle.result.combos.append(combo)


def combo_facts(combo: OpenCombo, *, mode: str, data_source: str) -> dict:
    """The facts of the journal's ``Combo`` row for ``combo`` as it stands (open or closed):
    ``journal.combos.combo_record`` takes them (the money totals it sums from the legs itself)."""
    spec = combo.spec
    return {
        "combo_id": combo.combo_id,
        "strategy_name": combo.strategy,
        "symbol": combo.index,
        "template": spec.name,
        "product": spec.product,
        "direction": combo.direction,
        "entry_mode": mode,
        "data_source": data_source,
        "status": combo.status,
        "entry_time": combo.opened_at,
        "exit_time": combo.closed_at if combo.status == COMBO_CLOSED else None,
        "exit_type": combo.exit_type if combo.status == COMBO_CLOSED else "",
        "exit_reason": combo.exit_reason,
        "policy_note": combo.note,
        "gross_pnl": combo.gross.quantize(risk.PAISA),
        "total_charges": combo.charges.quantize(risk.PAISA),
        "net_pnl": combo.realised.quantize(risk.PAISA),
        "payoff_known": combo.payoff_known,
        "max_profit": combo.max_profit,
        "max_loss": combo.max_loss,
        "breakevens": list(combo.breakevens),
        "margin": combo.margin,
        "margin_is_estimate": combo.margin_is_estimate,
        "legs": [
            {
                **leg.facts(i + 1, iv=leg.iv),
                "status": combo.leg_status.get(i, ""),
                "reentries": combo.reentries.get(i, 0),
            }
            for i, leg in enumerate(combo.legs)
        ],
    }
