"""Backtests: ``engine.run_cycle`` over a whole history at full speed, in flat memory. Pure.

Sessions stream through: each one's feature rows are computed when it comes (``FeatureStream``,
the rows the whole-history ``feature_frame`` would give) and every strategy runs vectorised over
them after the last ``lookback`` rows before them (``SessionSignals``, through the guard); then the
session's bars are walked in time order and each bar with something to do goes through the very
``engine.run_cycle`` the live loop calls, with that bar's row and signals. Only the source of the rows and signals differs from paper trading (the live loop
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
from trading.core.features import COLUMNS, FeatureStream
from trading.core.live import closing_spot
from trading.core.order_flow import BrokerLike
from trading.core.results import ClosedTrade, CycleResult, OrderRecord, SignalOutcome
from trading.core.state import EngineConfig, EngineState, SignalInput, StrategySlot
from trading.core.strategies.evaluate import signal_frame_all, strategy_pairs
from trading.core.strategies.guard import compute_guarded

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
    cycles: int = 0  # bars that went through the engine (the others had nothing to do)
    signal_count: int = 0
    accepted_count: int = 0
    keep_signals: bool = True

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
            "cycles": self.cycles,
            "signals": self.signal_count,
            "accepted_signals": self.accepted_count,
            "trades": len(self.trades),
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


class SessionSignals:
    """The strategies' signals one session at a time, equal to ``signals_by_bar`` over the whole
    history: each session's rows are evaluated after the last ``lookback - 1`` rows before them (the
    strategies' contract: a signal depends on at most ``lookback`` rows), so only that tail is kept."""

    def __init__(self, names: Iterable[str], params: Mapping[str, Any] | None = None) -> None:
        self.pairs = strategy_pairs([(n, (params or {}).get(n)) for n in names])
        self.columns = tuple(dict.fromkeys(c for s, _ in self.pairs for c in s.columns))
        self.keep = max((s.lookback for s, _ in self.pairs), default=1) - 1
        self._tail: dict[str, np.ndarray] = {c: np.empty(0) for c in self.columns}

    def session(self, cols: Mapping[str, np.ndarray]) -> dict[int, list[SignalInput]]:
        """Row of the session (0-based) -> its signals, in the order of the strategies."""
        rows = len(cols["_ns"])
        if not self.pairs or rows == 0:
            return {}
        first = len(next(iter(self._tail.values()))) if self._tail else 0
        window = {c: np.concatenate((self._tail[c], np.asarray(cols[c], dtype=float))) for c in self.columns}
        out: dict[int, list[SignalInput]] = {}
        for strategy, params in self.pairs:
            arrays = compute_guarded(strategy, {c: window[c] for c in strategy.columns}, params)
            if arrays is None:
                continue
            fired = np.flatnonzero(arrays.direction[first:])
            for row in fired.tolist():
                at = first + row
                out.setdefault(row, []).append(
                    SignalInput(
                        strategy=strategy.name,
                        direction="CALL" if arrays.direction[at] > 0 else "PUT",
                        strength=float(arrays.strength[at]),
                        reason=str(arrays.reasons.get(at, "")),
                    )
                )
        self._tail = {c: w[max(0, len(w) - self.keep) :] for c, w in window.items()}
        return out


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
    on_session: Callable[[date, int], None] | None = None,
    keep_signals: bool = True,
) -> BacktestResult:
    """Trade ``days`` (sessions in time order) through ``engine.run_cycle``, bar by bar.

    ``strategies``: the slots to trade, in the order their signals are taken on a bar (the registry
    order, as the live loop). ``params``: strategy parameters by name. Returns every trade, signal and
    order (``keep_signals=False``: only their counts in ``summary()``); ``on_cycle`` sees each cycle's
    result (persistence), ``on_session(session, bars)`` each session done (progress).

    Streaming, in flat memory: ``days`` is consumed one session at a time (a generator is never held
    whole); each session's feature rows (``FeatureStream``) and signals (``SessionSignals``) are
    computed when it comes, equal to the whole-history frame's. A bar with nothing to do - no
    signal, no open position, no order in flight - skips the cycle, which would change nothing on it
    (the risk figures roll to a new session at the next cycle, which reads only the session's date).
    """
    stream = FeatureStream(iv_history, index=config.index)
    names = [n for n, slot in strategies.items() if slot.enabled]
    signals = SessionSignals(names, params)
    slots = dict(strategies)
    closes: dict[date, float | None] = {}  # one float per session: the settlement lookup's memory
    for day in warmup:
        closes[day.session] = closing_spot(day)
        cols = stream.day(day)
        if cols is not None:
            signals.session(cols)

    state = state or EngineState(index=config.index)
    result = BacktestResult()
    result.keep_signals = keep_signals

    def settlement(index: str, expiry: date) -> float | None:
        """The close of the expiry session's last minute among the sessions backtested so far."""
        return closes.get(expiry) if index.upper() == config.index.upper() else None

    realised = Decimal(0)
    for day in days:
        result.sessions += 1
        closes[day.session] = closing_spot(day)
        cols = stream.day(day)
        if cols is None:
            continue
        by_row = signals.session(cols)
        signal_rows = sorted(by_row)
        values = {name: cols[name].tolist() for name in COLUMNS}
        n = len(day)
        result.bars += n
        k = 0
        i = 0
        while i < n:
            if not state.positions and not state.pending:
                while k < len(signal_rows) and signal_rows[k] < i:
                    k += 1
                if k == len(signal_rows):
                    break
                i = signal_rows[k]  # the next bar with something to do
            bar = day.bar(i)
            row = {name: values[name][i] for name in COLUMNS}
            row["time"] = bar.time
            cycle = engine.run_cycle(
                at=bar.time + BAR,
                bar=bar,
                row=row,
                signals=by_row.get(i, []),
                state=state,
                broker=broker,
                strategies=slots,
                config=config,
                settlement=settlement,
            )
            result.cycles += 1
            result.signal_count += len(cycle.signals)
            result.accepted_count += sum(1 for s in cycle.signals if s.accepted)
            if keep_signals:
                result.signals.extend(cycle.signals)
                result.orders.extend(cycle.orders)
            for closed in cycle.closed:
                realised += closed.net_pnl
                result.trades.append(closed)
                result.equity.append((closed.exit_time, realised))
            if on_cycle is not None:
                on_cycle(cycle)
            i += 1
        if on_session is not None:
            on_session(day.session, n)
    return result
