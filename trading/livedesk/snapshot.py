"""What a client of the live desk gets on connect: the state of an index's desk now, with the outbox
position it is consistent with. Every event after that position is sent next.

The position is read **before** the tables, so whatever committed up to it is in the snapshot; an
event after it may describe something the snapshot already shows - a client applies events by their
ids (position, order, signal, bar time), so seeing a change twice changes nothing.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.conf import settings
from django.utils import timezone

from journal.models import Trade
from journal.services import trade_event_data
from trading import outbox
from trading.core import calendar as market_calendar
from trading.execution.config import trading_mode
from trading.execution.events import order_data, position_data, signal_data
from trading.execution.models import Order, Position, PositionStatus, TradingState
from trading.outbox import OutboxEvent
from trading.strategies.models import Signal

ORDERS_SHOWN = 200
SIGNALS_SHOWN = 100


def desk_session(index: str) -> date:
    """The session the desk is trading (or last traded): that of its latest bar, else today (IST)."""
    last_bar = outbox.latest(outbox.BAR, index=index)
    if last_bar is not None and last_bar.at is not None:
        return market_calendar.ist_date(last_bar.at)
    state = TradingState.objects.filter(index=index).first()
    moment = (state.last_bar_time if state and state.last_bar_time else None) or timezone.now()
    return market_calendar.ist_date(moment)


def pnl_curve(index: str, session: date) -> list[dict[str, Any]]:
    """Today's P&L points, one per bar (from the bar events of the session)."""
    rows = OutboxEvent.objects.filter(
        kind=outbox.BAR,
        index=index,
        seq__isnull=False,
        at__gte=market_calendar.session_open(session),
        at__lt=market_calendar.session_close(session),
    ).order_by("seq")
    points: dict[str, dict] = {}
    for data in rows.values_list("data", flat=True).iterator():
        points[data["time"]] = {k: data.get(k) for k in ("time", "day_pnl", "realised", "unrealised")}
    return sorted(points.values(), key=lambda point: point["time"])


def open_positions(index: str, mode: str) -> list[dict[str, Any]]:
    """The open positions, each with its latest mark (Greeks, levels) from the outbox."""
    rows = list(
        Position.objects.filter(index=index, mode=mode, status=PositionStatus.OPEN).order_by("entry_time")
    )
    ids = [row.position_id for row in rows]
    marks: dict[str, dict] = {}
    for key, data in (
        OutboxEvent.objects.filter(kind=outbox.POSITION_MARKED, key__in=ids, seq__isnull=False)
        .order_by("seq")
        .values_list("key", "data")
    ):
        marks[key] = data
    out = []
    for row in rows:
        item = outbox.plain(position_data(row))
        item.update(marks.get(row.position_id, {}))
        item["status"] = row.status
        out.append(item)
    return out


def desk_snapshot(index: str | None = None) -> dict[str, Any]:
    """The snapshot message of ``index`` (default ``TRADING_INDEX``), JSON-ready."""
    index = (index or settings.TRADING_INDEX).upper()
    position = outbox.head()
    mode = trading_mode()
    session = desk_session(index)
    state = TradingState.objects.filter(index=index).first()
    last_bar = outbox.latest(outbox.BAR, index=index)
    feed = outbox.latest(outbox.FEED, index=index)
    since = market_calendar.session_open(session)
    orders = Order.objects.filter(index=index, mode=mode, created_at__gte=since).select_related("parent")
    signals = Signal.objects.filter(index=index, mode=mode).order_by("-bar_time", "-id")[:SIGNALS_SHOWN]
    order_of_signal = dict(
        Order.objects.filter(signal__in=[s.pk for s in signals], parent__isnull=True).values_list(
            "signal_id", "client_order_id"
        )
    )
    trades = Trade.objects.filter(symbol=index, entry_mode=mode, trade_date=session).order_by(
        "exit_time", "id"
    )
    return {
        "type": "snapshot",
        "position": position,
        "index": index,
        "mode": mode,
        "session": session.isoformat(),
        "retention_days": settings.OUTBOX_RETENTION_DAYS,
        "market": last_bar.data if last_bar else None,
        "pnl_curve": pnl_curve(index, session),
        "positions": open_positions(index, mode),
        "orders": [outbox.plain(order_data(o)) for o in orders.order_by("-created_at", "-id")[:ORDERS_SHOWN]],
        "signals": [
            outbox.plain(signal_data(s, client_order_id=order_of_signal.get(s.pk, ""))) for s in signals
        ],
        "trades": [outbox.plain(trade_event_data(t)) for t in trades],
        "controls": {
            "kill_switch": bool(state and state.kill_switch),
            "breaker": bool(state and state.circuit_breaker),
            "breaker_reason": state.circuit_breaker_reason if state else "",
            "last_bar_time": state.last_bar_time.isoformat() if state and state.last_bar_time else None,
        },
        "feed": feed.data if feed else {"state": "up"},
    }
