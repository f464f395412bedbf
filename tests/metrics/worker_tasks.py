"""Test-only Celery tasks for the cross-process metrics tests (a worker loads them with ``-I``)."""

from __future__ import annotations

import os
from decimal import Decimal

from celery import shared_task


@shared_task(name="tests.metrics.record_trade")
def record_trade_task(n: int, strategy: str) -> int:
    """Record a trade and its two orders, and move a few process counters, in this worker child."""
    from tests.metrics.helpers import make_order, make_trade
    from trading import metrics

    trade = make_trade(n, strategy, exit_price=Decimal("120") if n % 3 else Decimal("90"))
    make_order(2 * n, strategy, "FILLED")
    make_order(
        2 * n + 1, strategy, "FILLED", transaction_type="SELL", order_type="LIMIT", price=trade.exit_price
    )
    metrics.signal_seen(strategy, "ACCEPTED", direction="CALL")
    metrics.broker_call("place_order", 0.02, broker="paper")
    return os.getpid()
