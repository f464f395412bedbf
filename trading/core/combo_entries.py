"""Signals -> combos, pure: a strategy whose slot maps the signal's direction to a ``ComboSpec``
enters several legs instead of one bought option (docs/multileg.md, "The engine").

After the same risk gate as a single option (``entries.gate``), an accepted signal

1. resolves its legs on the bar's chains (``combos.resolve_combo``: expiry and strike rules, the
   premium = the LTP); a rule the chain cannot meet refuses the signal (``no_contract``);
2. asks for the **margin**: in LIVE the broker's basket margin when it offers one
   (``basket_margin(requests)``), else the documented estimate (``combos.estimate_margin``, its
   parameters ``EngineConfig.margin``), labelled an estimate; an entry needing more than the capital
   available (the strategy's allocation, and the desk's capital, less the margin its open combos
   block) is refused with reason ``margin`` and both figures;
3. sends the legs **bought legs first** (a hedged short needs less margin): every BUY leg at once,
   then, once all of them filled, every SELL leg; a leg with a momentum rule waits until its premium
   has moved by its threshold from the premium at the combo's entry;
4. applies the **leg-failure policy, unwind**: when a leg's entry is rejected, cancelled or fills
   only in part, nothing more is sent and every leg already filled (the partial one included) is
   closed at once (exit type ``UNWIND``); the combo keeps the reason (``OpenCombo.note``). A combo is
   never left with some of its legs: a hedge without its short, or worse, a short without its hedge.

Each leg is an ``OpenPosition`` (side BUY or SELL, ``combo_id``, ``leg``) whose stop, target and
trail come from its ``LegSpec``; ``core.combo_exits`` watches them and the combo.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from trading.core import calendar as market_calendar
from trading.core import contracts, exits, orders, risk
from trading.core.bars import MarketBar
from trading.core.combos import model as combo_model
from trading.core.combos.margin import estimate_margin
from trading.core.combos.model import BUY, FUT, MIS, ComboSpec, PricedLeg
from trading.core.combos.payoff import breakevens, extremes
from trading.core.combos.resolve import ChainSnapshot, resolve_combo
from trading.core.market_context import market_context, quote_of
from trading.core.options import year_fraction
from trading.core.order_flow import (
    Cycle,
    average_price,
    contract_fields,
    executed_orders,
    fills_or_average,
    keep_in_flight,
    new_record,
    order_request,
    submit,
)
from trading.core.order_types import BrokerOrder, OrderRequest
from trading.core.results import OrderRecord, SignalOutcome
from trading.core.state import (
    COMBO_CLOSING,
    COMBO_ENTERING,
    COMBO_OPEN,
    LEG_CLOSED,
    LEG_FAILED,
    LEG_OPEN,
    LEG_SENT,
    LEG_WAITING,
    EngineConfig,
    OpenCombo,
    OpenPosition,
    PendingOrder,
    SignalInput,
)

R_MARGIN = "margin"  # the combo's margin is beyond the capital available
UNWIND = "UNWIND"  # exit type of the legs closed because another leg failed


def combo_id_for(config: EngineConfig, strategy: str, bar_time: datetime, direction: str) -> str:
    """Readable, deterministic id of the combo a signal opens (the journal's ``Combo.combo_id``); with
    a backtest prefix, the longest index and a leg's re-entry suffix it stays within the journal's
    64 characters."""
    stamp = bar_time.astimezone(market_calendar.IST).strftime("%Y%m%d-%H%M")
    return (
        f"{config.position_prefix}{config.mode[:1]}-{config.index}-{stamp}-{strategy[:20]}-{direction[:1]}-C"
    )


def leg_position_id(combo_id: str, leg: int, attempt: int = 0) -> str:
    """The id of leg ``leg`` (0-based) of a combo - its journal trade id; a re-entry adds ``R<n>``."""
    return f"{combo_id}-L{leg + 1}" + (f"R{attempt}" if attempt else "")


def leg_order_id(combo_id: str, leg: int, attempt: int = 0) -> str:
    """The deterministic client order id of a leg's entry (attempt 0; re-entries count up)."""
    return orders.client_order_id(orders.ENTRY, combo_id, leg, attempt)


# --- the chain as the resolver sees it -----------------------------------------------------------------


def chain_snapshots(bar: MarketBar, at: datetime, index: str) -> dict[date, ChainSnapshot]:
    """Every chain of ``bar`` as a ``ChainSnapshot`` (LTPs, IVs, deltas at ``at``; the strike step and
    risk-free rate of the session, both dated configuration)."""
    session = market_calendar.ist_date(at)
    step = contracts.strike_step(index, session)
    r = contracts.risk_free_rate(session)
    out: dict[date, ChainSnapshot] = {}
    for chain in bar.chains:
        if len(chain.strikes) == 0:
            continue
        t = year_fraction(at, chain.expiry)
        out[chain.expiry] = ChainSnapshot.from_prices(
            spot=bar.close,
            step=step,
            strikes=chain.strikes,
            call_ltp=chain.call_ltp,
            put_ltp=chain.put_ltp,
            call_iv=chain.call_iv,
            put_iv=chain.put_iv,
            t=t if t > 0 else None,
            r=r,
        )
    return out


# --- margin -----------------------------------------------------------------------------------------------


def margin_blocked(cycle: Cycle, strategy: str | None = None) -> Decimal:
    """Rupees of margin the open combos block (all of them, or one strategy's)."""
    return sum(
        (c.margin for c in cycle.state.combos.values() if strategy is None or c.strategy == strategy),
        Decimal(0),
    )


def combo_margin(
    cycle: Cycle, legs: tuple[PricedLeg, ...], requests: list[OrderRequest]
) -> tuple[Decimal, bool]:
    """The margin of a combo about to enter, rupees, and whether it is an estimate.

    LIVE asks the broker (``basket_margin(requests)``: Kite's ``basket_order_margins``); paper,
    backtests and a broker that cannot answer get the estimate of ``combos.margin``."""
    if cycle.config.mode == "LIVE":
        basket = getattr(cycle.broker, "basket_margin", None)
        if callable(basket):
            try:
                value = basket(requests)
            except Exception as exc:  # noqa: BLE001 - no answer: the estimate, and say so
                cycle.note(f"basket margin unavailable ({type(exc).__name__}: {exc}): using the estimate")
                value = None
            if value is not None:
                return Decimal(str(value)).quantize(risk.PAISA, ROUND_HALF_UP), False
    estimate = estimate_margin(legs, spot=cycle.bar.close, params=cycle.config.margin)
    return Decimal(repr(estimate.total)).quantize(risk.PAISA, ROUND_HALF_UP), True


def margin_gate(
    cycle: Cycle, strategy: str, allocation: Decimal, margin: Decimal, estimate: bool
) -> risk.Decision:
    """Refuse a combo whose margin is beyond the capital available: the strategy's allocation and
    the desk's capital, each less the margin of the open combos it already has."""
    available = min(
        Decimal(allocation) - margin_blocked(cycle, strategy),
        Decimal(cycle.config.risk.capital) - margin_blocked(cycle),
    )
    if margin > available:
        label = "margin estimate" if estimate else "broker's basket margin"
        return risk.refuse(R_MARGIN, f"{label} Rs {margin:,.2f} > capital available Rs {available:,.2f}")
    return risk.ALLOW


# --- entering -----------------------------------------------------------------------------------------------


def _contract(index: str, leg: PricedLeg, bar: MarketBar) -> orders.Contract:
    quote = quote_of(bar, leg.expiry, float(leg.strike), leg.instrument) or {}
    return orders.Contract(
        index=index,
        expiry=leg.expiry,
        strike=float(leg.strike),
        option_type=leg.instrument,
        tradingsymbol=contracts.tradingsymbol(index, leg.expiry, float(leg.strike), leg.instrument),
        exchange=contracts.index_spec(index).fo_exchange,
        lot_size=leg.lot_size,
        ltp=float(quote.get("ltp", leg.premium)),
        bid=float(quote.get("bid", leg.premium)),
        ask=float(quote.get("ask", leg.premium)),
        iv=float(quote.get("iv", leg.iv or float("nan"))),
    )


class _WithProduct:
    """A contract with the product its orders go as (a combo's: MIS or NRML)."""

    def __init__(self, contract: orders.Contract, product: str) -> None:
        self._contract, self.product = contract, product

    def __getattr__(self, name: str):
        return getattr(self._contract, name)


def _leg_request(cycle: Cycle, combo: OpenCombo, i: int, attempt: int) -> OrderRequest:
    leg = combo.legs[i]
    contract = _contract(combo.index, leg, cycle.bar)
    price = None
    order_type = cycle.config.order_type
    if order_type == "LIMIT":
        buffer = risk.TICK * cycle.config.limit_buffer_ticks
        if leg.side == BUY:
            price = risk.to_tick(contract.ask) + buffer
        else:
            price = max(risk.to_tick(contract.bid) - buffer, risk.TICK)
    return order_request(
        cycle,
        client_order_id=leg_order_id(combo.combo_id, i, attempt),
        index=combo.index,
        contract=_WithProduct(contract, combo.spec.product),
        side=leg.side,
        quantity=leg.quantity,
        order_type=order_type,
        price=price,
    )


def enter_combo(cycle: Cycle, signal: SignalInput, outcome: SignalOutcome, spec: ComboSpec) -> None:
    """Resolve, price the margin of and send the combo ``spec`` for an accepted ``signal``."""
    slot = cycle.strategies[signal.strategy]
    combo_id = combo_id_for(cycle.config, signal.strategy, cycle.bar.time, signal.direction)
    if combo_id in cycle.state.combos:
        outcome.reject_reason, outcome.reject_detail = risk.R_DUPLICATE, f"{combo_id} is already open"
        return
    now = cycle.at.astimezone(market_calendar.IST).time()
    if now < spec.entry_time:
        outcome.reject_reason = risk.R_BEFORE_ENTRY_START
        outcome.reject_detail = f"{spec.name} enters from {spec.entry_time:%H:%M} IST (now {now:%H:%M})"
        return
    if spec.product == MIS and spec.exit_time is not None and now >= spec.exit_time:
        outcome.reject_reason = risk.R_AFTER_CUTOFF
        outcome.reject_detail = f"{spec.name} exits at {spec.exit_time:%H:%M} IST (now {now:%H:%M})"
        return
    if any(leg.instrument == FUT for leg in spec.legs):
        outcome.reject_reason = risk.R_NO_CONTRACT
        outcome.reject_detail = "future legs are not traded yet: the bars carry no futures prices"
        return
    session = market_calendar.ist_date(cycle.at)
    try:
        legs = resolve_combo(spec, on=session, chains=chain_snapshots(cycle.bar, cycle.at, spec.index))
        for expiry in {leg.expiry for leg in legs}:
            market_calendar.ensure_covered(
                expiry,
                contracts.index_spec(spec.index).fo_exchange,
                live=cycle.config.mode == "LIVE",
                expiries_from_broker=cycle.config.expiries_from_broker,
            )
    except market_calendar.CalendarNotCovered as refused:
        outcome.reject_reason, outcome.reject_detail = risk.R_CALENDAR, str(refused)
        cycle.note(str(refused))
        return
    except ValueError as refused:
        outcome.reject_reason, outcome.reject_detail = risk.R_NO_CONTRACT, f"{spec.name}: {refused}"
        return
    combo = OpenCombo(
        combo_id=combo_id,
        strategy=signal.strategy,
        index=spec.index,
        spec=spec,
        legs=legs,
        direction=signal.direction,
        opened_at=cycle.at,
        margin=Decimal(0),
        signal=signal,
        signal_bar_time=cycle.bar.time,
        leg_status={i: LEG_WAITING for i in range(len(legs))},
    )
    requests = [_leg_request(cycle, combo, i, 0) for i in range(len(legs))]
    combo.margin, combo.margin_is_estimate = combo_margin(cycle, legs, requests)
    decision = margin_gate(
        cycle, signal.strategy, slot.capital_allocation, combo.margin, combo.margin_is_estimate
    )
    if not decision:
        outcome.reject_reason, outcome.reject_detail = decision.reason, decision.detail
        return
    for i, leg_spec in enumerate(spec.legs):
        if leg_spec.momentum is not None:
            combo.momentum_reference[i] = risk.to_tick(legs[i].premium)
    cycle.state.combos[combo_id] = combo
    cycle.result.combos.append(combo)
    cycle.state.last_signal_at[signal.strategy] = cycle.bar.time
    outcome.accepted, outcome.client_order_id = True, leg_order_id(combo_id, 0)
    outcome.features = {**outcome.features, "combo_id": combo_id}
    advance(cycle, combo)
    if combo.status == COMBO_CLOSING and not combo.leg_positions and not _in_flight(cycle, combo):
        # The first leg sent failed: nothing was traded, the signal is refused like a single order.
        outcome.accepted = False
        outcome.reject_reason, outcome.reject_detail = risk.R_ORDER_REJECTED, combo.note
        del cycle.state.combos[combo_id]
        cycle.result.combos[:] = [c for c in cycle.result.combos if c is not combo]


def _in_flight(cycle: Cycle, combo: OpenCombo) -> bool:
    return any(o.plan.get("combo_id") == combo.combo_id for o in cycle.state.pending.values())


def momentum_ready(cycle: Cycle, combo: OpenCombo, i: int) -> bool:
    """Whether leg ``i`` may be sent now: at once without a momentum rule, else once its premium
    crossed the trigger from its reference (``combos.model.momentum_trigger``)."""
    rule = combo.spec.legs[i].momentum
    if rule is None or i not in combo.momentum_reference:
        return True
    leg = combo.legs[i]
    quote = quote_of(cycle.bar, leg.expiry, float(leg.strike), leg.instrument)
    ltp = quote.get("ltp") if quote else None
    if ltp is None or not ltp > 0:
        return False
    trigger = combo_model.momentum_trigger(float(combo.momentum_reference[i]), rule)
    return ltp >= trigger if rule.direction == combo_model.UP else ltp <= trigger


def send_leg(cycle: Cycle, combo: OpenCombo, i: int) -> None:
    """Send leg ``i``'s entry (its re-entry count in the ids): opened at once when it fills, kept in
    flight otherwise, failed when refused."""
    attempt = combo.reentries.get(i, 0)
    request = _leg_request(cycle, combo, i, attempt)
    position_id = leg_position_id(combo.combo_id, i, attempt)
    signal = combo.signal
    record = new_record(
        request,
        purpose=orders.ENTRY,
        strategy=combo.strategy,
        position_id=position_id,
        at=cycle.at,
        signal_bar_time=combo.signal_bar_time,
        signal_direction=combo.direction,
        signal=signal,
        features={"combo_id": combo.combo_id, "leg": i + 1},
    )
    plan = {
        "combo_id": combo.combo_id,
        "leg": i,
        "position_id": position_id,
        "lots": combo.legs[i].lots,
        "planned_entry": str(risk.to_tick(combo.legs[i].premium)),
        "side": combo.legs[i].side,
    }
    combo.leg_orders[i] = request.client_order_id
    combo.leg_status[i] = LEG_SENT
    answer = submit(cycle, record, plan=plan)
    if answer is None:
        return  # in flight as NEW: looked up by its tag next cycle
    if not orders.is_terminal(record.status):
        keep_in_flight(cycle, record, plan=plan)
        return
    leg_entry_finished(cycle, combo, i, plan, request, answer, record)


def leg_entry_finished(
    cycle: Cycle,
    combo: OpenCombo,
    i: int,
    plan: dict,
    request: OrderRequest,
    answer: BrokerOrder,
    record: OrderRecord,
) -> None:
    """A leg's entry order is finished: open the leg with what filled; a leg not wholly filled fails
    (the unwind policy, ``advance``)."""
    if record.filled_quantity > 0:
        open_leg(cycle, combo, i, plan, request, answer, record)
    if record.filled_quantity < request.quantity:
        combo.leg_status[i] = LEG_FAILED
        what = (
            f"filled {record.filled_quantity} of {request.quantity}"
            if record.filled_quantity
            else record.status
        )
        detail = f": {record.reason}" if record.reason else ""
        why = f"leg {i + 1} {combo.legs[i].side} {request.tradingsymbol} {what}{detail}"
        if combo.status == COMBO_OPEN:  # a re-entry: the rest of the combo stands
            combo.note = f"{combo.note + '; ' if combo.note else ''}{why} on its re-entry: not entered again"
        else:
            _fail(combo, why)
    elif combo.status == COMBO_CLOSING:
        close_leg(cycle, combo, i)


def finished_from_pending(
    cycle: Cycle, pending: PendingOrder, answer: BrokerOrder | None, record: OrderRecord
) -> None:
    """A combo leg's entry settled in a later cycle (``engine.settle_orders``)."""
    combo = cycle.state.combos.get(str(pending.plan.get("combo_id")))
    if combo is None:
        return
    i = int(pending.plan.get("leg", -1))
    if answer is None:
        combo.leg_status[i] = LEG_FAILED
        _fail(combo, f"leg {i + 1} {record.status}: {record.reason or 'never reached the broker'}")
    else:
        leg_entry_finished(cycle, combo, i, pending.plan, pending.request, answer, record)
    advance(cycle, combo)


def _fail(combo: OpenCombo, why: str) -> None:
    if not combo.note:
        combo.note = f"{why}; policy unwind: the legs filled are closed, nothing more is sent"


def open_leg(
    cycle: Cycle,
    combo: OpenCombo,
    i: int,
    plan: dict,
    request: OrderRequest,
    answer: BrokerOrder,
    record: OrderRecord,
) -> OpenPosition | None:
    """Open leg ``i`` with its entry fills: the averaged price, the leg's own stop and target (its
    ``LegSpec`` thresholds from that price, on the tick), the market around the fill."""
    fills = fills_or_average(answer, record, cycle.at)
    quantity = sum(q for q, _, _ in fills)
    if quantity <= 0:
        return None
    entry = average_price(fills)
    leg_spec = combo.spec.legs[i]
    side = combo.legs[i].side
    stop = target = None
    if leg_spec.stop_loss is not None:
        stop = risk.to_tick(combo_model.stop_price(side, float(entry), leg_spec.stop_loss))
    if leg_spec.target is not None:
        target = risk.to_tick(combo_model.target_price(side, float(entry), leg_spec.target))
    context = market_context(
        bar=cycle.bar,
        row=cycle.row,
        at=cycle.at,
        expiry=request.expiry,
        strike=float(request.strike),
        option_type=request.option_type,
        price=entry,
    )
    signal = combo.signal
    position = OpenPosition(
        position_id=str(plan.get("position_id") or record.position_id),
        strategy=combo.strategy,
        **contract_fields(request, fills),
        quantity=quantity,
        entry_price=entry,
        stop=stop,
        target=target,
        trail_fraction=0.0,
        trail_activation=Decimal(0),
        high_water=entry,
        low_water=entry,
        last_price=entry,
        entry_order_id=request.client_order_id,
        entry_orders=executed_orders(answer),
        signal_bar_time=combo.signal_bar_time,
        signal_direction=combo.direction,
        signal_strength=signal.strength if signal else None,
        signal_reason=signal.reason if signal else "",
        entry_context={
            **context,
            "features": cycle.features(),
            "lots": quantity // int(request.lot_size),
            "combo_id": combo.combo_id,
            "leg": i + 1,
        },
        side=side,
        combo_id=combo.combo_id,
        leg=i,
        product=combo.spec.product,
    )
    if leg_spec.trailing_stop is not None:
        position.trail = risk.to_tick(
            combo_model.trailing_stop_price(side, float(entry), leg_spec.trailing_stop)
        )
    cycle.state.positions[position.position_id] = position
    combo.leg_positions[i] = position.position_id
    combo.leg_status[i] = LEG_OPEN
    cycle.result.opened.append(position)
    return position


def close_leg(cycle: Cycle, combo: OpenCombo, i: int, exit_type: str = "", reason: str = "") -> None:
    """Close leg ``i`` now with ``exit_type`` (default: the combo's own exit): an expired leg
    settles, another gets its exit order (unless one is in flight already)."""
    position = cycle.state.positions.get(combo.leg_positions.get(i, ""))
    if position is None:
        return
    if any(
        o.purpose == orders.EXIT and o.position_id == position.position_id
        for o in cycle.state.pending.values()
    ):
        return
    if risk.is_expired(position.expiry, cycle.at):
        exits.expire(cycle, position, risk.ExitDecision(risk.EXPIRY, f"contract expired {position.expiry}"))
        return
    exit_type, reason = exit_type or combo.exit_type, reason or combo.exit_reason
    if exit_type == risk.EXPIRY:  # a later leg of a combo held to its nearest expiry: sold, not settled
        exit_type, reason = risk.TIME_EXIT, f"{reason}: a later leg closed then"
    decision = risk.ExitDecision(exit_type, reason)
    quote = quote_of(cycle.bar, position.expiry, position.strike, position.option_type)
    exits.place_exit(cycle, position, decision, quote)


def advance(cycle: Cycle, combo: OpenCombo) -> None:
    """Move an entering combo on: unwind it after a failed leg; send the next legs (the bought ones
    first, the sold ones once every bought leg is open; a momentum leg once triggered); OPEN once
    every leg is."""
    for _ in range(len(combo.legs) + 1):  # each pass sends at most one wave
        if combo.status != COMBO_ENTERING:
            return
        for i, status in combo.leg_status.items():  # a leg whose order vanished (cancelled unsent)
            if status == LEG_SENT and combo.leg_orders.get(i) not in cycle.state.pending:
                if i not in combo.leg_positions:
                    combo.leg_status[i] = LEG_FAILED
                    _fail(combo, f"leg {i + 1} entry ended without a fill")
        if any(s == LEG_FAILED for s in combo.leg_status.values()):
            unwind(cycle, combo)
            return
        if all(s in (LEG_OPEN, LEG_CLOSED) for s in combo.leg_status.values()):
            combo.status = COMBO_OPEN
            settle_payoff(combo, cycle)
            cycle.result.combos.append(combo)
            return
        if any(s == LEG_SENT for s in combo.leg_status.values()):
            return  # wait for the wave in flight
        waiting = [i for i, s in combo.leg_status.items() if s == LEG_WAITING]
        buys = [i for i in waiting if combo.legs[i].side == BUY]
        wave = [i for i in (buys or waiting) if momentum_ready(cycle, combo, i)]
        if not wave:
            return
        for i in wave:
            send_leg(cycle, combo, i)
            if combo.leg_status[i] == LEG_FAILED:
                break  # nothing more is sent after a failed leg


def unwind(cycle: Cycle, combo: OpenCombo) -> None:
    """The leg-failure policy: nothing more is sent; every open leg is closed now (``UNWIND``)."""
    combo.status = COMBO_CLOSING
    combo.exit_type = UNWIND
    combo.exit_reason = combo.note
    close_all_legs(cycle, combo)
    cycle.result.combos.append(combo)


def close_all_legs(cycle: Cycle, combo: OpenCombo) -> None:
    """Close every leg holding a position with the combo's exit: the sold legs bought back first,
    then the bought legs sold (a hedge outlives its short, as margin wants); legs not entered yet
    are dropped."""
    for i, status in combo.leg_status.items():
        if status == LEG_WAITING:
            combo.leg_status[i] = LEG_FAILED
    held = [i for i in combo.leg_status if i in combo.leg_positions]
    for i in sorted(held, key=lambda i: combo.legs[i].side == BUY):
        close_leg(cycle, combo, i)


def settle_payoff(combo: OpenCombo, cycle: Cycle) -> None:
    """The combo's maximum profit and loss and breakevens at the nearest expiry, on its legs' entry
    fills (``combos.payoff``); unlimited stays None."""
    priced = []
    for i, leg in enumerate(combo.legs):
        position = cycle.state.positions.get(combo.leg_positions.get(i, ""))
        premium = float(position.entry_price) if position is not None else leg.premium
        quantity = position.quantity if position is not None else leg.quantity
        priced.append(replace(leg, premium=premium, lots=max(quantity // leg.lot_size, 1)))
    r = contracts.risk_free_rate(market_calendar.ist_date(cycle.at))
    try:
        ext = extremes(priced, r=r)
        combo.breakevens = tuple(round(b, 2) for b in breakevens(priced, r=r))
    except ValueError as exc:  # a leg without the IV its later expiry needs
        cycle.note(f"{combo.combo_id}: payoff not computed ({exc})")
        return
    combo.max_profit = None if ext.max_profit is None else Decimal(repr(ext.max_profit)).quantize(risk.PAISA)
    combo.max_loss = None if ext.max_loss is None else Decimal(repr(ext.max_loss)).quantize(risk.PAISA)
    combo.payoff_known = True
