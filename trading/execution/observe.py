"""The ``trading_*`` metrics one desk cycle moves (each helper of ``trading.metrics`` swallows its
own errors, so observing never breaks a cycle)."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from trading import metrics
from trading.core import orders
from trading.core.bars import MarketBar
from trading.core.results import CycleResult, OrderRecord


def _observe_signals(result: CycleResult) -> None:
    for outcome in result.signals:
        metrics.signal_seen(
            outcome.signal.strategy,
            "ACCEPTED" if outcome.accepted else "REJECTED",
            outcome.reject_reason,
            outcome.signal.direction,
        )


def slippage(record: OrderRecord) -> float | None:
    """Rupees per unit the fill was worse than the quote the order was decided on (a BUY's fill minus
    the ask, a SELL's bid minus the fill; negative: price improvement), None without both prices."""
    reference = record.reference_price
    if record.average_price is None or reference is None:
        return None
    worse = record.average_price - reference
    return float(worse if record.request.transaction_type == "BUY" else -worse)


def _observe_fills(result: CycleResult) -> None:
    for record in result.orders:
        if record.status == orders.FILLED and record.filled_at and record.created_at:
            metrics.order_filled(
                record.strategy,
                record.request.order_type,
                (record.filled_at - record.created_at).total_seconds(),
                slippage(record),
            )


def observe_cycle(
    *,
    index: str,
    data_source: str,
    outcome: str,
    result: CycleResult | None,
    bar: MarketBar,
    at: datetime,
    seconds: float,
    row: dict | None,
    stages: dict[str, float],
    strategy_timings: dict[str, float],
) -> None:
    """Cycle duration and outcome, market data, stage timings, strategy timings, signals, fills, exits
    and a breaker trip of one cycle."""
    # Kite's market clock is the wall clock: the lag is how late the cycle ended after its bar's
    # close. A simulated or replayed market waits for the cycle: its lag is the cycle's own time.
    lag = (timezone.now() - at).total_seconds() if data_source == "KITE" else seconds
    metrics.cycle_observed(seconds, lag_seconds=lag, index=index, outcome=outcome)
    if result is None:
        return
    metrics.market_updated(bar, row, source=data_source)
    for stage, stage_seconds in stages.items():
        metrics.stage_observed(stage, stage_seconds)
    for name, strategy_seconds in strategy_timings.items():
        metrics.strategy_evaluated(name, strategy_seconds)
    _observe_signals(result)
    _observe_fills(result)
    for closed in result.closed:
        metrics.exit_triggered(closed.position.strategy, closed.exit_type)
    if result.breaker_tripped:
        metrics.circuit_breaker_tripped(index, result.breaker_tripped.split(":")[0])
