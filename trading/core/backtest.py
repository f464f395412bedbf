"""Backtests: ``engine.run_cycle`` over a whole history at full speed. Pure.

The feature frame of the whole history is built at once (``features.feature_frame``) and every
strategy runs vectorised over it (``strategies.guard.run_guarded``); then the bars are walked in time
order and each one goes through the very ``engine.run_cycle`` the live loop calls, with that bar's
row and signals. Only the source of the rows and signals differs from paper trading (the live loop
builds them bar by bar), and features and strategies promise the same numbers either way, so a
paper run and a backtest over the same bars make the same trades (``tests/engine/test_parity.py``).

``warmup`` sessions run through the features (indicators settle) but are not traded: the live loop
warms its feature builder on the session before the first traded one, and so does the backtest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from trading.core import engine
from trading.core.bars import DayBars
from trading.core.features import feature_frame
from trading.core.live import closing_spot
from trading.core.order_flow import BrokerLike
from trading.core.results import ClosedTrade, CycleResult, OrderRecord, SignalOutcome
from trading.core.state import EngineConfig, EngineState, OpenCombo, SignalInput, StrategySlot
from trading.core.strategies.evaluate import signal_frame_all

BAR = timedelta(minutes=1)


@dataclass
class BacktestResult:
    """What a backtest produced: trades (journal facts), signals, orders, the realised equity curve."""

    trades: list[ClosedTrade] = field(default_factory=list)
    signals: list[SignalOutcome] = field(default_factory=list)
    orders: list[OrderRecord] = field(default_factory=list)
    equity: list[tuple[datetime, Decimal]] = field(default_factory=list)
    bars: int = 0
    sessions: int = 0
    combos: dict[str, OpenCombo] = field(
        default_factory=dict
    )  # multi-leg positions, by id (their legs are trades)

    def summary(self) -> dict:
        """Counts, P&L (rupees, net of charges), win rate (%, net > 0), and the max drawdown: the
        largest fall of the equity curve from its running peak, in rupees, >= 0 (as analytics.stats)."""
        nets = [t.net_pnl for t in self.trades]
        wins = [n for n in nets if n > 0]
        peak = Decimal(0)
        worst = Decimal(0)
        for _, eq in self.equity:
            peak = max(peak, eq)
            worst = min(worst, eq - peak)
        return {
            "sessions": self.sessions,
            "bars": self.bars,
            "signals": len(self.signals),
            "accepted_signals": sum(1 for s in self.signals if s.accepted),
            "trades": len(self.trades),
            "combos": len(self.combos),
            "wins": len(wins),
            "win_rate": round(100.0 * len(wins) / len(nets), 2) if nets else None,
            "gross_pnl": str(sum((t.gross_pnl for t in self.trades), Decimal(0))),
            "charges": str(sum((t.charges for t in self.trades), Decimal(0))),
            "net_pnl": str(sum(nets, Decimal(0))),
            "max_drawdown": str(-worst),
        }


def signals_by_bar(
    features: pd.DataFrame,
    strategies: Iterable[str],
    params: Mapping[str, Any] | None = None,
) -> dict[int, list[SignalInput]]:
    """Bar start (ns since the epoch, UTC) -> the signals on that bar, in the order of ``strategies``.

    One vectorised pass per strategy over the whole frame (``evaluate.signal_frame_all``, through the
    guard: a failing strategy gives no signals and stops no other).
    """
    names = list(strategies)
    frame = signal_frame_all([(n, (params or {}).get(n)) for n in names], features)
    out: dict[int, list[SignalInput]] = {}
    if len(frame) == 0:
        return out
    keys = _index_ns(frame)
    for key, name, direction, strength, reason in zip(
        keys, frame["strategy"], frame["direction"], frame["strength"], frame["reason"]
    ):
        out.setdefault(int(key), []).append(
            SignalInput(
                strategy=str(name), direction=str(direction), strength=float(strength), reason=str(reason)
            )
        )
    return out


def _index_ns(frame: pd.DataFrame) -> np.ndarray:
    idx = frame.index
    if isinstance(idx, pd.DatetimeIndex):
        if idx.tz is None:
            idx = idx.tz_localize(UTC)
        return idx.as_unit("ns").asi8
    return np.asarray([pd.Timestamp(t).value for t in idx], dtype=np.int64)


def run_backtest(
    days: Iterable[DayBars],
    *,
    strategies: Mapping[str, StrategySlot],
    broker: BrokerLike,
    config: EngineConfig,
    params: Mapping[str, Any] | None = None,
    iv_history: Any = None,
    warmup: Iterable[DayBars] = (),
    state: EngineState | None = None,
    on_cycle: Callable[[CycleResult], None] | None = None,
) -> BacktestResult:
    """Trade ``days`` (sessions in time order) through ``engine.run_cycle``, bar by bar.

    ``strategies``: the slots to trade, in the order their signals are taken on a bar (the registry
    order, as the live loop). ``params``: strategy parameters by name. Returns every trade, signal and
    order; ``on_cycle`` sees each cycle's result (progress, persistence).
    """
    days = list(days)
    warm = list(warmup)
    frame = feature_frame([*warm, *days], iv_history, index=config.index)
    names = [n for n, slot in strategies.items() if slot.enabled]
    by_bar = signals_by_bar(frame, names, params)
    frame_ns = _index_ns(frame)
    position = {int(ns): i for i, ns in enumerate(frame_ns)}
    records = frame.to_dict("records")

    state = state or EngineState(index=config.index)
    result = BacktestResult(sessions=len(days))
    sessions = {day.session: day for day in [*warm, *days]}

    def settlement(index: str, expiry: date) -> float | None:
        """The close of the expiry session's last minute among the backtested sessions."""
        day = sessions.get(expiry)
        return closing_spot(day) if day is not None and index.upper() == config.index.upper() else None

    realised = Decimal(0)
    for day in days:
        times = day.times.astype("datetime64[ns]").astype(np.int64)
        for i in range(len(day)):
            ns = int(times[i])
            j = position.get(ns)
            row = dict(records[j]) if j is not None else {}
            bar = day.bar(i)
            row["time"] = bar.time
            cycle = engine.run_cycle(
                at=bar.time + BAR,
                bar=bar,
                row=row,
                signals=by_bar.get(ns, []),
                state=state,
                broker=broker,
                strategies=dict(strategies),
                config=config,
                settlement=settlement,
            )
            result.bars += 1
            result.signals.extend(cycle.signals)
            result.orders.extend(cycle.orders)
            for closed in cycle.closed:
                realised += closed.net_pnl
                result.trades.append(closed)
                result.equity.append((closed.exit_time, realised))
            for combo in cycle.combos:
                result.combos[combo.combo_id] = combo
            if on_cycle is not None:
                on_cycle(cycle)
    return result
