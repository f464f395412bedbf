"""The research mode: one strategy over plain OHLCV bars of the index, long or flat, 1 unit. Pure.

``manage.py backtest --bars FILE.csv --strategy ema_cross --instrument FUT`` (``docs/plain-bars.md``).
What the desk's engine checks and the research mode leaves out, on purpose: no session rules, no
calendar checks, no risk gate, no lot check; the instrument - the index future, ``FUT`` - is priced at
the bar's own prices, with no expiry and no roll, and no charges; every bar given is traded.

What it keeps of the engine's event loop (``core.engine.run_cycle``): the order of the steps on a bar
- orders in flight settle first, then exits, then entries - and its clock: a strategy's signal is
known at its bar's close, so a market order sent then fills at the **next** bar's open; an order
still in flight after the last bar never fills, and a position still open at the end is not a trade.
Bars with nothing to do - no signal, no order in flight - never enter the loop: it visits only the
bars with a signal and the bar after each order.

Two implementations of the same trades, held equal round trip for round trip by
``tests/core/test_research.py``:

* ``run_research`` - the event loop above (the engine path);
* ``long_flat_trips`` - numpy over the whole signal array: the signals that change the position
  (a CALL while flat, a PUT while long) alternate, so entries and exits pair up by position.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trading.core.state import SignalInput
from trading.core.strategies.base import Strategy
from trading.core.strategies.guard import compute_guarded

__all__ = [
    "INSTRUMENTS",
    "PlainBars",
    "ResearchResult",
    "RoundTrip",
    "long_flat_trips",
    "research_signals",
    "run_research",
]

INSTRUMENTS: tuple[str, ...] = ("FUT",)
"""What the research mode trades: the index future at the bar's prices (no expiry, no roll)."""


@dataclass(frozen=True)
class PlainBars:
    """OHLCV bars of the index, oldest first: ``times`` as the input wrote them (labels, never
    parsed again), the prices in index points, ``volume`` as given."""

    times: Sequence[str]
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        return int(self.close.shape[0])


@dataclass(frozen=True)
class RoundTrip:
    """One long round trip: bought at ``entry_price`` on ``entry_time``'s open, sold at
    ``exit_price`` on ``exit_time``'s open (times as in the input, prices in index points)."""

    entry_time: str
    exit_time: str
    entry_price: float
    exit_price: float
    quantity: int = 1

    @property
    def points(self) -> float:
        """Gross result in index points times the quantity (no charges in the research mode)."""
        return (self.exit_price - self.entry_price) * self.quantity


@dataclass
class ResearchResult:
    """The round trips, the signals seen and the bars that went through the loop."""

    trips: list[RoundTrip] = field(default_factory=list)
    bars: int = 0
    signals: int = 0
    visited: int = 0


def research_signals(
    bars: PlainBars, strategy: Strategy, params: Mapping[str, Any] | Any = None
) -> np.ndarray:
    """The strategy's direction on every bar (+1 CALL, -1 PUT, 0), through the guard (a failing
    strategy gives no signal). Plain bars have no India VIX: NaN, the normal regime."""
    cols = {"close": bars.close, "open": bars.open, "high": bars.high, "low": bars.low}
    cols["volume"] = bars.volume
    cols["vix"] = np.full(len(bars), np.nan)
    missing = [c for c in strategy.columns if c not in cols]
    if missing:
        raise ValueError(f"{strategy.name} reads {', '.join(missing)}: plain bars have only OHLCV")
    arrays = compute_guarded(strategy, {c: cols[c] for c in strategy.columns}, params)
    if arrays is None:
        return np.zeros(len(bars), dtype=np.int8)
    return np.asarray(arrays.direction, dtype=np.int8)


@dataclass
class _InFlight:
    """A market order sent at a bar's close, filled at the next bar's open."""

    side: str  # BUY | SELL
    quantity: int
    sent_row: int
    signal: SignalInput


def run_research(
    bars: PlainBars,
    strategy: Strategy,
    *,
    params: Mapping[str, Any] | Any = None,
    quantity: int = 1,
    instrument: str = "FUT",
) -> ResearchResult:
    """Trade ``strategy`` on ``bars`` long or flat with ``quantity`` units of ``instrument``, bar by
    bar through the research event loop (see the module docstring); return the round trips."""
    if instrument not in INSTRUMENTS:
        raise ValueError(f"instrument {instrument!r}: the research mode trades {', '.join(INSTRUMENTS)}")
    if quantity < 1:
        raise ValueError(f"quantity {quantity}: at least 1")
    direction = research_signals(bars, strategy, params)
    n = len(bars)
    result = ResearchResult(bars=n)
    signal_rows = np.flatnonzero(direction).tolist()
    result.signals = len(signal_rows)
    opens, times = bars.open, bars.times
    in_flight: _InFlight | None = None
    held = 0  # units long
    entry: tuple[str, float] | None = None
    k = 0
    while True:
        # The next bar with something to do: the one after an order in flight, else the next signal.
        if in_flight is not None:
            i = in_flight.sent_row + 1
        elif k < len(signal_rows):
            i = signal_rows[k]
        else:
            break
        if i >= n:  # an order sent on the last bar never fills
            break
        while k < len(signal_rows) and signal_rows[k] <= i:
            k += 1
        result.visited += 1
        # 0. settle: the order in flight fills at this bar's open.
        if in_flight is not None:
            price = float(opens[i])
            if in_flight.side == "BUY":
                held, entry = in_flight.quantity, (times[i], price)
            elif entry is not None:
                result.trips.append(RoundTrip(entry[0], times[i], entry[1], price, held))
                held, entry = 0, None
            in_flight = None
        d = int(direction[i])
        if d == 0:
            continue
        signal = SignalInput(strategy=strategy.name, direction="CALL" if d > 0 else "PUT", strength=1.0)
        # 1. exits: a PUT closes the long.  2. entries: a CALL opens one when flat.
        if d < 0 and held:
            in_flight = _InFlight("SELL", held, i, signal)
        elif d > 0 and not held:
            in_flight = _InFlight("BUY", quantity, i, signal)
    return result


def long_flat_trips(
    times: Sequence[str], opens: np.ndarray, direction: np.ndarray, *, quantity: int = 1
) -> list[RoundTrip]:
    """The round trips of trading ``direction`` long or flat, vectorised: a signal counts when it
    changes the position (a CALL while flat, a PUT while long) - it differs from the signal before
    it, and a first PUT does nothing - and it fills at the next bar's open. Entries and exits then
    alternate; an order on the last bar and a position open at the end make no trip."""
    direction = np.asarray(direction)
    rows = np.flatnonzero(direction)
    d = direction[rows]
    before = np.concatenate(([-1], d[:-1]))  # flat at the start: as if the last signal was a PUT
    acting = rows[d != before]
    entries, exits = acting[0::2] + 1, acting[1::2] + 1
    entries = entries[: exits.shape[0]]  # an entry without its exit stays open: no trip
    done = exits < len(opens)  # an exit fills only if there is a next bar
    entries, exits = entries[done], exits[done]
    entry_px, exit_px = opens[entries].tolist(), opens[exits].tolist()
    return [
        RoundTrip(times[a], times[b], pa, pb, quantity)
        for a, b, pa, pb in zip(entries.tolist(), exits.tolist(), entry_px, exit_px, strict=True)
    ]
