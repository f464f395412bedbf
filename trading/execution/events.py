"""What the execution layer tells the outbox (``trading.outbox``): the payload of each event, built
once here and used by the writers (persistence, orders, controls, the desk) and by the live desk's
snapshot, so that a snapshot and the events after it describe things the same way.

Every ``emit_*`` runs inside the caller's transaction (the one that writes the change). Prices are
rupees per unit (Decimal strings on the wire), P&L in rupees, Greeks per one long option
(``trading.core.context`` units), times ISO 8601 UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from journal.models import Trade
from trading import outbox
from trading.core import calendar as market_calendar
from trading.core.bars import MarketBar
from trading.core.market_context import finite, market_context
from trading.core.results import CycleResult
from trading.core.state import OpenPosition
from trading.execution.mapping import option_type_of
from trading.execution.models import Order, OrderStatus, Position
from trading.strategies.models import Signal

PAISA = Decimal("0.01")
BAR = timedelta(minutes=1)
FILL_STATES = (OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED)


@dataclass(frozen=True)
class CycleView:
    """What a cycle's events need beyond its result: the bar's feature row and the positions still
    open after it."""

    row: dict | None
    open_positions: tuple[OpenPosition, ...] = ()


# --- payloads ---------------------------------------------------------------------------------------------


def _money(value: Decimal | float | None) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(PAISA)


def levels(
    *,
    last: Decimal | None,
    stop: Decimal | None,
    target: Decimal | None,
    trail: Decimal | None,
    short: bool = False,
) -> dict[str, Any]:
    """The exit levels of a position and the distance from the mark to each, in rupees of premium
    and in percent of the mark (positive: the level is not reached). A long option's stop and trail
    are below the mark and its target above; a sold leg's (``short``) the other way round."""

    def gap(level: Decimal | None, above: bool) -> tuple[Decimal | None, float | None]:
        if level is None or last is None or not last:
            return None, None
        points = (Decimal(level) - last) if above else (last - Decimal(level))
        return points.quantize(PAISA), round(float(points / last) * 100, 2)

    to_stop, to_stop_pct = gap(stop, above=short)
    to_target, to_target_pct = gap(target, above=not short)
    to_trail, to_trail_pct = gap(trail, above=short)
    return {
        "stop": stop,
        "target": target,
        "trail": trail,
        "to_stop": to_stop,
        "to_stop_pct": to_stop_pct,
        "to_target": to_target,
        "to_target_pct": to_target_pct,
        "to_trail": to_trail,
        "to_trail_pct": to_trail_pct,
    }


def position_data(row: Position) -> dict[str, Any]:
    """A stored position as the desk shows it (its last mark included)."""
    last = row.last_price
    unrealised = None
    if last is not None and row.status == "OPEN":
        sign = -1 if row.side == "SHORT" else 1
        unrealised = _money(sign * (Decimal(last) - Decimal(row.entry_price)) * row.quantity)
    return {
        "position_id": row.position_id,
        "trade_id": row.position_id,
        "strategy": row.strategy_name,
        "index": row.index,
        "mode": row.mode,
        "tradingsymbol": row.tradingsymbol,
        "option_type": option_type_of(row.instrument_type),
        "strike": row.strike_price,
        "expiry": row.expiry_date,
        "side": row.side,
        "quantity": row.quantity,
        "entry_price": row.entry_price,
        "entry_time": row.entry_time,
        "status": row.status,
        "last_price": last,
        "high_water": row.high_water,
        "low_water": row.low_water,
        "unrealised": unrealised,
        "exit_time": row.exit_time,
        **levels(
            last=last,
            stop=row.stop_loss_price,
            target=row.target_price,
            trail=row.trail_price,
            short=row.side == "SHORT",
        ),
    }


def mark_data(position: OpenPosition, *, bar: MarketBar, row: dict | None, at: datetime) -> dict[str, Any]:
    """An open position marked on ``bar``: its mark, unrealised P&L (gross, on the open quantity), the
    option's IV and Greeks now, and the distance to each exit level."""
    last = position.last_price
    context = market_context(
        bar=bar,
        row=row,
        at=at,
        expiry=position.expiry,
        strike=position.strike,
        option_type=position.option_type,
        price=last,
    )
    unrealised = None
    if last is not None:
        unrealised = _money(position.sign * (last - position.entry_price) * position.open_quantity)
    return {
        "position_id": position.position_id,
        "strategy": position.strategy,
        "tradingsymbol": position.tradingsymbol,
        "quantity": position.open_quantity,
        "entry_price": position.entry_price,
        "last_price": last,
        "high_water": position.high_water,
        "low_water": position.low_water,
        "unrealised": unrealised,
        "greeks": {name: context.get(name) for name in ("iv", "delta", "gamma", "theta", "vega")},
        "side": "LONG" if position.sign > 0 else "SHORT",
        **levels(
            last=last,
            stop=position.stop,
            target=position.target,
            trail=position.trail,
            short=position.sign < 0,
        ),
    }


def order_data(order: Order, *, from_status: str = "") -> dict[str, Any]:
    """A stored order as the desk shows it; ``from_status`` when it just moved."""
    return {
        "client_order_id": order.client_order_id,
        "parent": order.parent.client_order_id if order.parent_id else "",
        "broker_order_id": order.broker_order_id,
        "strategy": order.strategy_name,
        "purpose": order.purpose,
        "position_id": order.position_ref,
        "exit_type": order.exit_type,
        "tradingsymbol": order.tradingsymbol,
        "transaction_type": order.transaction_type,
        "order_type": order.order_type,
        "quantity": order.quantity,
        "price": order.price,
        "filled_quantity": order.filled_quantity,
        "average_price": order.average_price,
        "from_status": from_status,
        "status": order.status,
        "reason": order.status_reason,
        "created_at": order.created_at,
        "filled_at": order.filled_at,
    }


def signal_data(signal: Signal, *, client_order_id: str = "") -> dict[str, Any]:
    """A stored signal with what the engine did with it (ACCEPTED, or REJECTED with its reason code)."""
    return {
        "signal_id": signal.pk,
        "strategy": signal.strategy_name,
        "index": signal.index,
        "mode": signal.mode,
        "bar_time": signal.bar_time,
        "direction": signal.direction,
        "strength": signal.strength,
        "reason": signal.reason,
        "status": signal.status,
        "reject_reason": signal.reject_reason,
        "reject_detail": signal.reject_detail,
        "client_order_id": client_order_id,
    }


def day_realised(index: str, mode: str, session: date) -> Decimal:
    """The net P&L of the session's closed trades of ``index`` in ``mode`` (rupees), from the journal."""
    total = Trade.objects.filter(symbol=index, entry_mode=mode, trade_date=session).aggregate(
        total=Sum("net_pnl")
    )["total"]
    return _money(total or Decimal(0))


def bar_data(
    bar: MarketBar, *, row: dict | None, open_positions: tuple[OpenPosition, ...], mode: str
) -> dict[str, Any]:
    """The market strip and today's P&L point of one bar: spot, India VIX, PCR (OI), max pain, ATM IV
    (fraction), nearest expiry and minutes to it; realised net + unrealised gross = the day's P&L."""
    row = row or {}
    session = market_calendar.ist_date(bar.time)
    realised = day_realised(bar.index.upper(), mode, session)
    unrealised = sum(
        (
            (p.last_price - p.entry_price) * p.open_quantity
            for p in open_positions
            if p.last_price is not None
        ),
        Decimal(0),
    )
    nearest = min((chain.expiry for chain in bar.chains), default=None)
    return {
        "time": bar.time,
        "session": session,
        "spot": finite(bar.close),
        "vix": finite(bar.vix),
        "pcr": finite(row.get("pcr_oi")),
        "max_pain": finite(row.get("max_pain")),
        "atm_iv": finite(row.get("atm_iv")),
        "expiry": nearest,
        "minutes_to_expiry": finite(row.get("minutes_to_expiry")),
        "realised": realised,
        "unrealised": _money(unrealised),
        "day_pnl": _money(realised + unrealised),
        "open_positions": len(open_positions),
    }


# --- writers (inside the caller's transaction) -------------------------------------------------------------


def emit_order(order: Order, *, from_status: str, at: datetime | None = None) -> None:
    """An order moved (or was created: ``from_status`` ""): its event, and a fill event when the move
    filled some of it."""
    data = order_data(order, from_status=from_status)
    outbox.emit(outbox.ORDER, key=order.client_order_id, index=order.index, at=at, data=data)
    if order.status in FILL_STATES and order.filled_quantity:
        outbox.emit(
            outbox.FILL,
            key=order.client_order_id,
            index=order.index,
            at=order.filled_at or at,
            data={
                "client_order_id": order.client_order_id,
                "position_id": order.position_ref,
                "strategy": order.strategy_name,
                "purpose": order.purpose,
                "tradingsymbol": order.tradingsymbol,
                "transaction_type": order.transaction_type,
                "quantity": order.filled_quantity,
                "price": order.average_price,
                "complete": order.status == OrderStatus.FILLED,
                "mode": order.mode,
            },
        )


def emit_signal(signal: Signal, *, client_order_id: str = "") -> None:
    """A signal stored, or its outcome changed (accepted, or refused with the reason)."""
    outbox.emit(
        outbox.SIGNAL,
        key=signal.pk,
        index=signal.index,
        at=signal.bar_time,
        data=signal_data(signal, client_order_id=client_order_id),
    )


def emit_position(kind: str, row: Position, *, at: datetime | None = None, **extra: Any) -> None:
    """A position opened or closed (``outbox.POSITION_OPENED`` / ``POSITION_CLOSED``)."""
    outbox.emit(kind, key=row.position_id, index=row.index, at=at, data={**position_data(row), **extra})


def emit_cycle(result: CycleResult, *, index: str, mode: str, bar: MarketBar, view: CycleView) -> None:
    """The bar (market strip, today's P&L point) and the marks of the positions still open."""
    closed = {c.position.position_id for c in result.closed}
    for position in view.open_positions:
        if position.position_id in closed:
            continue
        outbox.emit(
            outbox.POSITION_MARKED,
            key=position.position_id,
            index=index,
            at=result.at,
            data=mark_data(position, bar=bar, row=view.row, at=result.at),
        )
    outbox.emit(
        outbox.BAR,
        key=bar.time.isoformat(),
        index=index,
        at=bar.time,
        data=bar_data(bar, row=view.row, open_positions=view.open_positions, mode=mode),
    )
    session = market_calendar.ist_date(bar.time)
    if bar.time + BAR >= market_calendar.session_close(session):
        outbox.emit(outbox.SESSION_CLOSED, key=session, index=index, at=bar.time, data={"session": session})


def emit_control(kind: str, *, index: str, on: bool, reason: str = "", user: str = "") -> None:
    """The breaker or the kill switch turned on or off."""
    outbox.emit(
        kind,
        key=index,
        index=index,
        at=timezone.now(),
        data={"index": index, "on": on, "reason": reason, "user": user},
    )


def emit_mode(*, index: str, mode: str, detail: str = "") -> None:
    """The desk's mode changed (PAPER/LIVE; a LIVE confirmation)."""
    outbox.emit(
        outbox.MODE,
        key=index,
        index=index,
        at=timezone.now(),
        data={"index": index, "mode": mode, "detail": detail},
    )


def mode_seen(*, index: str, mode: str) -> None:
    """Record the desk's mode when it differs from the last one in the outbox (a desk starting in
    another mode than before); in its own transaction."""
    last = outbox.latest(outbox.MODE, index=index)
    if last is not None and last.data.get("mode") == mode:
        return
    with transaction.atomic():
        emit_mode(index=index, mode=mode, detail="desk started" if last is None else "mode changed")


# --- the feed ----------------------------------------------------------------------------------------------


class FeedWatch:
    """The state of a desk's market feed - up, down (no bar), stale (a bar older than ``stale_after``
    behind the clock) - written to the outbox when it changes (each change in its own transaction;
    a database error is left to the cycle)."""

    def __init__(self, index: str, *, stale_after: timedelta = timedelta(minutes=3)) -> None:
        self.index = index
        self.stale_after = stale_after
        self.state = "up"

    def _set(self, state: str, detail: str, at: datetime | None) -> None:
        if state == self.state:
            return
        previous, self.state = self.state, state
        with transaction.atomic():
            outbox.emit(
                outbox.FEED,
                key=self.index,
                index=self.index,
                at=at,
                data={"index": self.index, "state": state, "previous": previous, "detail": detail[:200]},
            )

    def failed(self, exc: BaseException, at: datetime | None) -> None:
        """The feed gave no bar at ``at``."""
        self._set("down", f"{type(exc).__name__}: {exc}", at)

    def bar(self, bar: MarketBar, at: datetime, *, live: bool) -> None:
        """A bar arrived for the clock ``at``; on the wall clock (``live``) an old one is stale."""
        behind = at - (bar.time + BAR)
        if live and behind > self.stale_after:
            self._set("stale", f"latest bar {bar.time.isoformat()} is {behind} behind", at)
        else:
            self._set("up", "", at)
