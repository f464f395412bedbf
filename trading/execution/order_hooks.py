"""The engine's order hooks on the live path: every order is written ahead of the broker, and every
broker answer is stored right after it, before the engine acts on it - so a process killed at any
point loses nothing the broker did, and a re-run finds its orders by client order id."""

from __future__ import annotations

from typing import Protocol

from django.db import InterfaceError, OperationalError, transaction

from trading.core import orders
from trading.core.order_flow import OrderHooks
from trading.core.order_types import BrokerOrder, NotWrittenAhead
from trading.core.results import OrderRecord, SignalOutcome
from trading.execution.mapping import broker_order_of
from trading.execution.models import Order
from trading.execution.orders import order_create, order_sync
from trading.execution.pausepoints import pause_point
from trading.execution.persistence import signal_upsert

DB_ERRORS = (OperationalError, InterfaceError)


class HookOwner(Protocol):
    """The desk the hooks write for (``execution.desk.Desk``)."""

    index: str
    mode: str
    broker_name: str
    db_ok: bool

    def database_lost(self, exc: BaseException) -> None: ...


class DatabaseOrderHooks(OrderHooks):
    """Write-ahead order rows around the broker calls of one desk's cycle."""

    def __init__(self, desk: HookOwner) -> None:
        self.desk = desk

    def before_submit(self, record: OrderRecord) -> BrokerOrder | None:
        # An entry is sent only once its row is stored; an exit goes out whatever the database does
        # (exits from memory while it is away; the close is spooled with its orders).
        entry = record.purpose == orders.ENTRY
        if not self.desk.db_ok:
            if entry:
                raise NotWrittenAhead("the database is unreachable")
            return None
        if entry:
            pause_point("before_write_ahead")
        try:
            order = Order.objects.filter(client_order_id=record.request.client_order_id).first()
            if order is not None and orders.is_terminal(order.status):
                # Already sent and answered (a re-run after a crash): the stored answer, not a resend.
                return broker_order_of(order)
            if order is None:
                # One commit for the signal and its order, before anything is sent.
                with transaction.atomic():
                    self._create(record)
        except DB_ERRORS as exc:
            self.desk.database_lost(exc)
            if entry:
                raise NotWrittenAhead(f"the database went away: {exc}") from exc
            return None
        pause_point("order_created")
        return None

    def _create(self, record: OrderRecord) -> None:
        signal = None
        if record.purpose == orders.ENTRY and record.signal is not None:
            signal = signal_upsert(
                outcome=SignalOutcome(
                    signal=record.signal,
                    bar_time=record.signal_bar_time,
                    accepted=True,
                    client_order_id=record.request.client_order_id,
                    features=record.features or {},
                ),
                index=self.desk.index,
                mode=self.desk.mode,
            )
        order_create(record=record, mode=self.desk.mode, broker_name=self.desk.broker_name, signal=signal)

    def after_broker(self, record: OrderRecord) -> None:
        if not self.desk.db_ok:
            return
        pause_point("broker_answered")
        try:
            with transaction.atomic():  # every transition of this answer in one commit
                order_sync(record=record, mode=self.desk.mode, broker_name=self.desk.broker_name)
        except DB_ERRORS as exc:
            self.desk.database_lost(exc)
            return
        pause_point("after_broker")
