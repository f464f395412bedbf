"""The engine's admin, one module per layer (Django looks here): strategies and signals, orders,
positions, backtest runs, control state and audit."""

from __future__ import annotations

import trading.execution.admin  # noqa: F401 - registers orders, positions, runs, state, audit
import trading.strategies.admin  # noqa: F401 - registers strategy configurations and signals
