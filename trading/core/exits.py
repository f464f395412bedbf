"""Exits first, pure: every open position is marked and checked (expiry, kill switch, square-off
time, stop loss, trailing stop, target - ``core.risk``), its exit order sent, and a position whose
exit filled is closed into the facts of its journal trade, moving the risk figures. An expired option
is not sold: it settles on the expiry session's closing spot (``settlement_spot``).
"""

from __future__ import annotations

import math
from datetime import date, datetime
from decimal import Decimal

from trading.core import calendar as market_calendar
from trading.core import charges, orders, risk
from trading.core.market_context import finite, mark_price, market_context, quote_of, trade_facts
from trading.core.order_flow import (
    BAR,
    Cycle,
    average_price,
    executed_orders,
    fills_or_average,
    keep_in_flight,
    new_record,
    order_request,
    submit,
)
from trading.core.order_types import BrokerOrder
from trading.core.results import ClosedTrade, OrderRecord
from trading.core.state import OpenPosition


def run_exits(cycle: Cycle) -> None:
    """Mark every open position and exit those a rule (or ``cycle.force_exit``) closes now."""
    exiting = {order.position_id for order in cycle.state.pending.values() if order.purpose == orders.EXIT}
    for position in list(cycle.state.positions.values()):
        if position.combo_id:
            continue  # a combo's legs exit by its own rules (``core.combo_exits``)
        quote = quote_of(cycle.bar, position.expiry, position.strike, position.option_type)
        mark = _mark(position, mark_price(quote))
        cycle.result.marked.append(position)
        if position.position_id in exiting:
            continue
        decision = _exit_decision(cycle, position, mark)
        if decision is None:
            continue
        if decision.exit_type == risk.EXPIRY:
            expire(cycle, position, decision)
        else:
            place_exit(cycle, position, decision, quote)


def _mark(position: OpenPosition, mark: Decimal | None) -> Decimal | None:
    """Move the position's last price, high and low water and trailing stop to ``mark``."""
    if mark is None:
        return None
    position.last_price = mark
    position.high_water = mark if position.high_water is None else max(position.high_water, mark)
    position.low_water = mark if position.low_water is None else min(position.low_water, mark)
    trail = risk.trail_level(position.high_water, position.trail_fraction, position.trail_activation)
    if trail is not None and (position.trail is None or trail > position.trail):
        position.trail = trail
    return mark


def _exit_decision(cycle: Cycle, position: OpenPosition, mark: Decimal | None) -> risk.ExitDecision | None:
    if risk.is_expired(position.expiry, cycle.at):  # an expired option settles: nothing can be sold
        return risk.ExitDecision(risk.EXPIRY, f"contract expired {position.expiry}")
    if cycle.force_exit:
        return risk.ExitDecision(cycle.force_exit, f"{cycle.force_exit.lower().replace('_', ' ')} ordered")
    return risk.exit_check(
        at=cycle.at,
        mark=mark,
        stop=position.stop,
        target=position.target,
        trail=position.trail,
        expiry=position.expiry,
        entry_time=position.entry_time,
        kill_switch=cycle.state.risk.kill_switch,
        cfg=cycle.config.risk,
    )


def settlement_spot(cycle: Cycle, index: str, expiry: date) -> float | None:
    """The spot options of ``index`` expiring on ``expiry`` settle on: the caller's lookup (the
    exchange's settlement price, or the expiry session's last minute bar), else this cycle's bar when
    it is the expiry session's last minute; None when unknown - never a later session's spot."""
    if cycle.settlement is not None:
        spot = cycle.settlement(index, expiry)
        if spot is not None and math.isfinite(float(spot)) and float(spot) > 0:
            return float(spot)
    close = market_calendar.session_close(expiry)
    bar = cycle.bar
    if market_calendar.ist_date(bar.time) == expiry and bar.time + BAR >= close:
        return float(bar.close)
    return None


def expire(cycle: Cycle, position: OpenPosition, decision: risk.ExitDecision) -> None:
    """An expired option settles at its intrinsic value on the expiry session's closing spot (or the
    exchange's settlement price), at that session's close - whenever the engine notices. While the
    price is unknown the position stays open (noted every cycle) rather than settle on another spot."""
    spot = settlement_spot(cycle, position.index, position.expiry)
    if spot is None:
        cycle.note(
            f"{position.position_id}: expired {position.expiry}, no settlement price for it yet: kept open"
        )
        return
    settle = market_calendar.session_close(position.expiry)
    value = risk.intrinsic_value(position.option_type, position.strike, spot)
    position.exit_fills.append((position.open_quantity, value, settle))
    close_position(
        cycle,
        position,
        exit_time=max(settle, position.entry_time),
        exit_type=risk.EXPIRY,
        reason=f"{decision.reason}; settled on spot {spot:.2f}",
        exit_order_id="",
    )


def _bid(quote: dict | None) -> Decimal | None:
    """The quote's bid, None when there is no positive one."""
    bid = finite(quote.get("bid")) if quote else None
    return None if bid is None or bid <= 0 else Decimal(repr(bid))


def _ask(quote: dict | None) -> Decimal | None:
    """The quote's ask, None when there is no positive one."""
    ask = finite(quote.get("ask")) if quote else None
    return None if ask is None or ask <= 0 else Decimal(repr(ask))


def _touch(quote: dict | None, side: str) -> Decimal | None:
    """The price an exit on ``side`` meets: the bid for a sell, the ask for a buy (a short bought back)."""
    return _ask(quote) if side == "BUY" else _bid(quote)


def _exit_price(cycle: Cycle, quote: dict | None, side: str = "SELL") -> tuple[str, Decimal | None]:
    """The exit's order type and price: a sell a few ticks under the bid, a buy (a short leg bought
    back) a few ticks over the ask, as LIMIT orders; MARKET without that quote."""
    if cycle.config.order_type != "LIMIT":
        return cycle.config.order_type, None
    buffer = risk.TICK * cycle.config.limit_buffer_ticks
    touch = _touch(quote, side)
    if touch is None:
        return "MARKET", None
    if side == "BUY":
        return "LIMIT", risk.to_tick(touch) + buffer
    return "LIMIT", max(risk.to_tick(touch) - buffer, risk.TICK)


def exit_side(position: OpenPosition) -> str:
    """The side of the order that closes ``position``: SELL a long, BUY a short back."""
    return "SELL" if position.sign > 0 else "BUY"


def place_exit(cycle: Cycle, position: OpenPosition, decision: risk.ExitDecision, quote: dict | None) -> None:
    """Send the order that closes ``position`` for ``decision``; apply its fills (or keep it in flight)."""
    side = exit_side(position)
    order_type, price = _exit_price(cycle, quote, side)
    request = order_request(
        cycle,
        client_order_id=orders.exit_order_id(position_id=position.position_id, bar_time=cycle.bar.time),
        index=position.index,
        contract=position,
        side=side,
        quantity=position.open_quantity,
        order_type=order_type,
        price=price,
    )
    record = new_record(
        request,
        purpose=orders.EXIT,
        strategy=position.strategy,
        position_id=position.position_id,
        at=cycle.at,
        reason=decision.reason,
        exit_type=decision.exit_type,
        reference_price=_touch(quote, side),
    )
    answer = submit(cycle, record, exit_reason=decision.reason)
    if answer is None:
        return  # the exit is retried from the order in flight
    if record.status == orders.FILLED or (orders.is_terminal(record.status) and record.filled_quantity > 0):
        apply_exit_fill(cycle, position, answer, record, decision.exit_type, decision.reason)
    elif not orders.is_terminal(record.status):
        keep_in_flight(cycle, record, exit_reason=decision.reason)
    else:
        cycle.note(f"exit of {position.position_id} {record.status}: {record.reason}")


def apply_exit_fill(
    cycle: Cycle,
    position: OpenPosition,
    answer: BrokerOrder,
    record: OrderRecord,
    exit_type: str,
    reason: str,
) -> None:
    """Take an exit order's fills into the position; close it once nothing is left open."""
    fills = fills_or_average(answer, record, cycle.at)
    if sum(quantity for quantity, _, _ in fills) <= 0:
        return
    position.exit_fills.extend(fills)
    position.exit_orders += executed_orders(answer)
    if position.open_quantity <= 0:
        close_position(
            cycle,
            position,
            exit_time=max(time for _, _, time in position.exit_fills),
            exit_type=exit_type,
            reason=reason,
            exit_order_id=record.request.client_order_id,
        )


def _round_trip(
    cycle: Cycle, position: OpenPosition, exit_price: Decimal, exit_time: datetime, exit_type: str
):
    """Gross P&L and itemised charges of a closed position (each leg at its own date's rates)."""
    side = "LONG" if position.sign > 0 else "SHORT"
    fees = charges.round_trip_charges(
        side=side,
        entry_price=position.entry_price,
        exit_price=exit_price,
        quantity=position.quantity,
        entry_date=market_calendar.ist_date(position.entry_time),
        exit_date=market_calendar.ist_date(exit_time),
        exchange=charges.exchange_of(position.index),
        entry_orders=position.entry_orders,
        exit_orders=max(position.exit_orders, 1),
        exit_type=exit_type,
        brokerage_per_order=cycle.config.brokerage_per_order,
    )
    gross = charges.round_trip_pnl(
        side=side, entry_price=position.entry_price, exit_price=exit_price, quantity=position.quantity
    )
    return gross, fees


def close_position(
    cycle: Cycle,
    position: OpenPosition,
    *,
    exit_time: datetime,
    exit_type: str,
    reason: str,
    exit_order_id: str,
) -> None:
    """Close ``position`` at the average of its exit fills (on the tick; to the paisa for an expiry
    settlement): its trade facts, P&L, the risk figures."""
    exit_price = average_price(position.exit_fills, on_tick=exit_type != risk.EXPIRY) or Decimal(0)
    context = market_context(
        bar=cycle.bar,
        row=cycle.row,
        at=cycle.at,
        expiry=position.expiry,
        strike=position.strike,
        option_type=position.option_type,
        price=exit_price,
    )
    facts = trade_facts(
        position,
        exit_price=exit_price,
        exit_time=exit_time,
        exit_type=exit_type,
        exit_reason=reason,
        exit_order_id=exit_order_id,
        exit_context=context,
        config=cycle.config,
    )
    gross, fees = _round_trip(cycle, position, exit_price, exit_time, exit_type)
    net = gross - fees.total
    cycle.state.positions.pop(position.position_id, None)
    if not position.combo_id:  # a combo's legs count once, as the combo, when its last leg closes
        account_close(cycle, net)
    cycle.result.closed.append(
        ClosedTrade(
            position=position,
            exit_price=exit_price,
            exit_time=exit_time,
            exit_type=exit_type,
            exit_reason=reason,
            exit_order_id=exit_order_id,
            gross_pnl=gross,
            charges=fees.total,
            net_pnl=net,
            trade=facts,
        )
    )


def account_close(cycle: Cycle, net: Decimal) -> None:
    """Move the risk figures by one closed trade's net P&L (rupees); may trip the circuit breaker."""
    cycle.state.risk.roll_session(market_calendar.ist_date(cycle.at))
    tripped = risk.record_close(cycle.state.risk, net, cycle.config.risk)
    if tripped:
        cycle.result.breaker_tripped = tripped
