"""Test-only Celery task of the panel check (the worker loads it with ``-I``): broker events the
simulated session rarely makes on its own, caused in the worker on the desk's own paper broker and
stored through the engine's order hooks, as a cycle stores them."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task


@shared_task(name="tests.metrics.broker_event")
def broker_event(event: str, n: int) -> str:
    """One broker event at the desk's market clock; returns the order's status.

    ``rest``: a BUY LIMIT under the ask, which rests at the broker (a working order);
    ``cancel``: the resting order ``n`` cancelled; ``reject``: a BUY LIMIT far over the ask, which
    the exchange's price band refuses; ``unknown``: a cancel of an order the broker never had (a
    failed broker call: ``OrderNotFound``)."""
    from trading.core import orders, risk
    from trading.core.order_flow import new_record, record_from_broker
    from trading.core.order_types import OrderNotFound, OrderRequest
    from trading.execution.desk import desk_for, market_now
    from trading.execution.order_hooks import DatabaseOrderHooks

    desk = desk_for("NIFTY")
    hooks = DatabaseOrderHooks(desk)
    at = market_now("NIFTY")
    coid = f"PANELS{n:04d}"
    if event == "unknown":
        try:
            desk.broker.cancel_order("PANELSNONE")
        except OrderNotFound:
            return "not found"
        raise AssertionError("the paper broker cancelled an order it never had")
    if event == "cancel":
        stored = desk.broker.order_status(coid)
        record = new_record(
            stored_request[coid], purpose=orders.ENTRY, strategy="PCRStrategy", position_id="", at=at
        )
        record.status = stored.status
        answer = desk.broker.cancel_order(coid)
        record_from_broker(record, answer, at + timedelta(seconds=1), current=stored.status)
        hooks.after_broker(record)
        return record.status
    bar = desk.source.snapshot(at)
    contract = orders.select_contract(
        index="NIFTY", direction="CALL", bar=bar, at=at, rule=desk.config.contract
    )
    assert contract is not None, "no quoted contract on the bar"
    # Over the ask by 200%: outside the exchange's band (40% over 50 rupees, 20 rupees under it).
    # Resting: 10% under the ask (not marketable, inside the band).
    price = risk.to_tick(contract.ask * 3 + 25) if event == "reject" else risk.to_tick(contract.ask * 0.9)
    request = OrderRequest(
        client_order_id=coid,
        index="NIFTY",
        tradingsymbol=contract.tradingsymbol,
        exchange=contract.exchange,
        option_type=contract.option_type,
        strike=contract.strike,
        expiry=contract.expiry,
        transaction_type="BUY",
        quantity=contract.lot_size,
        order_type="LIMIT",
        price=price,
        lot_size=contract.lot_size,
        created_at=at,
    )
    stored_request[coid] = request
    record = new_record(request, purpose=orders.ENTRY, strategy="PCRStrategy", position_id="", at=at)
    hooks.before_submit(record)
    answer = desk.broker.place_order(request, market=bar)
    record_from_broker(record, answer, at, current=orders.NEW)
    hooks.after_broker(record)
    return record.status


stored_request: dict = {}
