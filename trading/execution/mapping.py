"""The one mapping between the execution tables and the engine's dataclasses (and the spool's JSON).

Rows -> engine: ``order_request_of``, ``broker_order_of``, ``pending_order_of``, ``open_position_of``.
Engine -> rows: ``order_fields``, ``position_fields``. Engine <-> spool: ``record_payload``,
``record_from_payload``. Nothing here writes: the writers are in ``orders`` and ``persistence``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.utils.dateparse import parse_date, parse_datetime

from trading.choices import InstrumentType
from trading.core import contracts, orders
from trading.core.order_types import BrokerOrder, OrderRequest
from trading.core.results import OrderRecord
from trading.core.serialize import json_safe
from trading.core.state import OpenPosition, PendingOrder, SignalInput
from trading.execution.models import Order, OrderStatus, Position, PositionStatus


def instrument_type_of(option_type: str) -> str:
    """The journal's CALL/PUT of an option type (CE/PE, or already CALL/PUT)."""
    return InstrumentType.CALL if option_type in (contracts.CALL, "CALL") else InstrumentType.PUT


def option_type_of(instrument_type: str) -> str:
    """The exchange's CE/PE of an instrument type (CALL/PUT, or already CE/PE)."""
    return contracts.CALL if instrument_type in (InstrumentType.CALL, contracts.CALL) else contracts.PUT


def _decimal_or_none(value) -> Decimal | None:
    return Decimal(value) if value is not None else None


# --- orders ------------------------------------------------------------------------------------------------


def order_request_of(order: Order) -> OrderRequest:
    """The ``OrderRequest`` a stored order was placed with."""
    return OrderRequest(
        client_order_id=order.client_order_id,
        index=order.index,
        tradingsymbol=order.tradingsymbol,
        exchange=order.exchange,
        option_type=option_type_of(order.instrument_type),
        strike=Decimal(order.strike_price),
        expiry=order.expiry_date,
        transaction_type=order.transaction_type,
        quantity=order.quantity,
        order_type=order.order_type,
        price=order.price,
        created_at=order.created_at,
    )


def broker_order_of(order: Order) -> BrokerOrder:
    """The stored order as a ``BrokerOrder`` (what the broker said last), children included."""
    children = [broker_order_of(child) for child in order.children.all().order_by("id")]
    fills = []
    if order.filled_quantity and order.average_price is not None:
        fills = [(order.filled_quantity, Decimal(order.average_price), order.filled_at or order.updated_at)]
    return BrokerOrder(
        client_order_id=order.client_order_id,
        broker_order_id=order.broker_order_id,
        status=order.status,
        filled_quantity=order.filled_quantity,
        average_price=_decimal_or_none(order.average_price),
        fills=fills,
        reason=order.status_reason if order.status == OrderStatus.REJECTED else "",
        children=children,
        quantity=order.quantity,
        price=order.price,
        updated_at=order.filled_at or order.updated_at,
    )


def pending_order_of(order: Order) -> PendingOrder:
    """A stored order still in flight (or finished but not yet applied) as the engine keeps it."""
    signal = order.signal
    exit_type = order.exit_type or ("SQUARE_OFF" if order.purpose == orders.EXIT else "")
    return PendingOrder(
        **_record_fields(order),
        filled_quantity=order.filled_quantity,
        signal=SignalInput(signal.strategy_name, signal.direction, signal.strength, signal.reason)
        if signal
        else None,
        signal_bar_time=signal.bar_time if signal else None,
        plan={"position_id": order.position_ref},
        exit_type=exit_type,
        exit_reason=order.status_reason,
        known=broker_order_of(order) if orders.is_terminal(order.status) else None,
    )


def _record_fields(order: Order) -> dict:
    """What an ``OrderRecord`` (and a ``PendingOrder``, which is one) takes from a stored order."""
    return {
        "request": order_request_of(order),
        "purpose": order.purpose,
        "strategy": order.strategy_name,
        "position_id": order.position_ref,
        "status": order.status,
        "created_at": order.created_at,
    }


def order_record_of(order: Order) -> OrderRecord:
    """A stored order as a record at its stored status, ready to take the broker's next answer."""
    return OrderRecord(**_record_fields(order))


def order_fields(record: OrderRecord) -> dict:
    """The columns of a new order row taken from the engine's record of it."""
    request = record.request
    return {
        "client_order_id": request.client_order_id,
        "strategy_name": record.strategy,
        "position_ref": record.position_id,
        "purpose": record.purpose,
        "exit_type": record.exit_type,
        "index": request.index,
        "tradingsymbol": request.tradingsymbol,
        "exchange": request.exchange,
        "instrument_type": instrument_type_of(request.option_type),
        "strike_price": Decimal(str(request.strike)),
        "expiry_date": request.expiry,
        "transaction_type": request.transaction_type,
        "order_type": request.order_type,
        "quantity": request.quantity,
        "price": request.price,
    }


# --- positions -------------------------------------------------------------------------------------------------


def engine_context(position: OpenPosition) -> dict:
    """What the engine needs back of an open position after a restart (kept in ``entry_context``)."""
    return {
        "entry_order_id": position.entry_order_id,
        "entry_orders": position.entry_orders,
        "lot_size": position.lot_size,
        "trail_fraction": position.trail_fraction,
        "trail_activation": str(position.trail_activation),
        "signal_bar_time": position.signal_bar_time.isoformat() if position.signal_bar_time else None,
        "signal_direction": position.signal_direction,
        "signal_strength": position.signal_strength,
        "signal_reason": position.signal_reason,
        "combo_id": position.combo_id,
        "leg": position.leg,
        "product": position.product,
    }


def position_fields(position: OpenPosition, *, mode: str, data_source: str) -> dict:
    """The columns of a new position row taken from the engine's open position."""
    context = position.entry_context
    return {
        "strategy_name": position.strategy,
        "mode": mode,
        "data_source": data_source,
        "index": position.index,
        "tradingsymbol": position.tradingsymbol,
        "exchange": position.exchange,
        "instrument_type": instrument_type_of(position.option_type),
        "strike_price": Decimal(str(position.strike)),
        "expiry_date": position.expiry,
        "side": "LONG" if position.sign > 0 else "SHORT",
        "quantity": position.quantity,
        "entry_price": position.entry_price,
        "entry_time": position.entry_time,
        "stop_loss_price": position.stop,
        "target_price": position.target,
        "trail_price": position.trail,
        "last_price": position.last_price,
        "high_water": position.high_water,
        "low_water": position.low_water,
        "status": PositionStatus.OPEN,
        "entry_context": {
            **json_safe({key: value for key, value in context.items() if key != "features"}),
            "features": context.get("features", {}),
            "engine": engine_context(position),
        },
    }


def open_position_of(row: Position) -> OpenPosition:
    """A stored open position as the engine holds it (exits filled in part included)."""
    context = dict(row.entry_context or {})
    kept = context.get("engine", {})
    signal_bar = kept.get("signal_bar_time")
    position = OpenPosition(
        position_id=row.position_id,
        strategy=row.strategy_name,
        index=row.index,
        tradingsymbol=row.tradingsymbol,
        exchange=row.exchange,
        option_type=option_type_of(row.instrument_type),
        strike=float(row.strike_price),
        expiry=row.expiry_date,
        quantity=row.quantity,
        lot_size=int(kept.get("lot_size") or contracts.lot_size(row.index, row.expiry_date)),
        entry_price=Decimal(row.entry_price),
        entry_time=row.entry_time,
        stop=_decimal_or_none(row.stop_loss_price),
        target=_decimal_or_none(row.target_price),
        trail_fraction=float(kept.get("trail_fraction", 0.2)),
        trail_activation=Decimal(str(kept.get("trail_activation", row.entry_price))),
        trail=_decimal_or_none(row.trail_price),
        high_water=_decimal_or_none(row.high_water),
        low_water=_decimal_or_none(row.low_water),
        last_price=_decimal_or_none(row.last_price),
        entry_order_id=kept.get("entry_order_id", ""),
        entry_orders=int(kept.get("entry_orders", 1)),
        signal_bar_time=datetime.fromisoformat(signal_bar) if signal_bar else None,
        signal_direction=kept.get("signal_direction", ""),
        signal_strength=kept.get("signal_strength"),
        signal_reason=kept.get("signal_reason", ""),
        entry_context={key: value for key, value in context.items() if key != "engine"},
        side="BUY" if row.side == "LONG" else "SELL",
        combo_id=str(kept.get("combo_id") or ""),
        leg=int(kept.get("leg", -1)),
        product=str(kept.get("product") or ""),
    )
    # Exits that filled in part and were then cancelled (the rest is still open).
    for order in row.orders.filter(
        purpose=orders.EXIT,
        status__in=[OrderStatus.CANCELLED, OrderStatus.EXPIRED],
        filled_quantity__gt=0,
        parent__isnull=True,
    ):
        position.exit_fills.append(
            (order.filled_quantity, Decimal(order.average_price), order.filled_at or order.updated_at)
        )
        position.exit_orders += 1
    return position


# --- the spool's JSON of an order record --------------------------------------------------------------------


_REQUEST_FIELDS = (
    "index",
    "tradingsymbol",
    "exchange",
    "option_type",
    "strike",
    "expiry",
    "transaction_type",
    "quantity",
    "order_type",
    "price",
)
_RECORD_FIELDS = (
    "purpose",
    "exit_type",
    "strategy",
    "position_id",
    "status",
    "reason",
    "broker_order_id",
    "filled_quantity",
    "average_price",
    "created_at",
    "filled_at",
)


def record_payload(record: OrderRecord) -> dict:
    """An order record as the spool keeps it (JSON-ready once the spool encodes dates/Decimals)."""
    return {
        "client_order_id": record.request.client_order_id,
        **{name: getattr(record, name) for name in _RECORD_FIELDS},
        "request": {name: getattr(record.request, name) for name in _REQUEST_FIELDS},
        "children": [record_payload(child) for child in record.children],
    }


def _datetime_or_none(text: str | None) -> datetime | None:
    return parse_datetime(text) if text else None


def record_from_payload(data: dict) -> OrderRecord:
    """An order record back from the spool's JSON."""
    fields = data["request"]
    created = _datetime_or_none(data.get("created_at"))
    request = OrderRequest(
        client_order_id=data["client_order_id"],
        index=fields["index"],
        tradingsymbol=fields["tradingsymbol"],
        exchange=fields["exchange"],
        option_type=fields["option_type"],
        strike=Decimal(str(fields["strike"])),
        expiry=parse_date(fields["expiry"]),
        transaction_type=fields["transaction_type"],
        quantity=int(fields["quantity"]),
        order_type=fields["order_type"],
        price=Decimal(fields["price"]) if fields.get("price") else None,
        created_at=created,
    )
    return OrderRecord(
        request=request,
        purpose=data["purpose"],
        exit_type=data.get("exit_type", ""),
        strategy=data["strategy"],
        position_id=data["position_id"],
        status=data["status"],
        reason=data.get("reason", ""),
        broker_order_id=data.get("broker_order_id", ""),
        filled_quantity=int(data.get("filled_quantity") or 0),
        average_price=Decimal(data["average_price"]) if data.get("average_price") else None,
        created_at=created,
        filled_at=_datetime_or_none(data.get("filled_at")),
        children=[record_from_payload(child) for child in data.get("children", [])],
    )
