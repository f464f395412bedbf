"""The trading app's tables, for Django's app registry only: each layer defines its own
(``trading.audit``, ``trading.outbox``, ``trading.strategies.models``, ``trading.market.models``,
``trading.execution.models``). Nothing in the project imports this module: import a model from
its layer."""

from __future__ import annotations

from trading.audit import ControlAudit
from trading.execution.models import (
    BacktestRun,
    Order,
    OrderEvent,
    Position,
    Sweep,
    SweepCombination,
    TradingState,
)
from trading.market.models import MarketSnapshot
from trading.outbox import OutboxCursor, OutboxEvent
from trading.strategies.models import Signal, StrategyConfig, StrategyConfigAudit

__all__ = [
    "BacktestRun",
    "ControlAudit",
    "MarketSnapshot",
    "Order",
    "OrderEvent",
    "OutboxCursor",
    "OutboxEvent",
    "Position",
    "Signal",
    "StrategyConfig",
    "StrategyConfigAudit",
    "Sweep",
    "SweepCombination",
    "TradingState",
]
