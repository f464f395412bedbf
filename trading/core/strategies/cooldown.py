"""Cooldown and duplicate rules of the strategies (pure; the database side is
``trading.strategy_services.cooldown_check``).

* Cooldown: after a strategy's accepted signal, its next signal (either direction) is refused for
  ``cooldown_minutes``, measured between bar start times; a refused signal does not restart it.
* Duplicate: a strategy never holds two open signals in the same direction at once unless its
  ``allow_pyramiding`` parameter says so. A signal is open while the position it opened is open.

Reject reasons are the strings stored in ``Signal.reject_reason``: ``COOLDOWN`` and ``DUPLICATE``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

__all__ = [
    "COOLDOWN",
    "DUPLICATE",
    "CooldownBook",
    "cooldown_mask",
    "cooldown_remaining",
    "is_duplicate",
    "signal_gate",
]

COOLDOWN = "cooldown"
DUPLICATE = "duplicate"


def cooldown_remaining(
    last_signal_at: datetime | None, bar_time: datetime, cooldown_minutes: float
) -> timedelta:
    """How much of the cooldown is left at ``bar_time`` (zero when a signal may pass).

    A last signal at or after ``bar_time`` is this very bar's cycle run again (after a crash, a task
    retry), not an earlier signal: no cooldown, as in ``risk.cooldown_gate``.
    """
    if last_signal_at is None or cooldown_minutes <= 0 or last_signal_at >= bar_time:
        return timedelta(0)
    left = last_signal_at + timedelta(minutes=cooldown_minutes) - bar_time
    return max(left, timedelta(0))


def is_duplicate(direction: str, open_directions: Iterable[str], allow_pyramiding: bool = False) -> bool:
    """A signal in ``direction`` while the strategy already holds an open one in that direction."""
    return not allow_pyramiding and direction in set(open_directions)


def signal_gate(
    *,
    bar_time: datetime,
    direction: str,
    last_signal_at: datetime | None,
    cooldown_minutes: float,
    open_directions: Iterable[str] = (),
    allow_pyramiding: bool = False,
) -> tuple[str, str] | None:
    """None when the signal may pass; else (reason, detail): ``COOLDOWN`` or ``DUPLICATE``."""
    left = cooldown_remaining(last_signal_at, bar_time, cooldown_minutes)
    if left > timedelta(0):
        return COOLDOWN, (
            f"cooldown {cooldown_minutes:g} min: last signal at {last_signal_at:%Y-%m-%d %H:%M} UTC, "
            f"{left.total_seconds() / 60:.0f} min left"
        )
    if is_duplicate(direction, open_directions, allow_pyramiding):
        return DUPLICATE, f"an open {direction} signal of this strategy already exists"
    return None


@dataclass
class CooldownBook:
    """In-memory cooldown and open-signal state of several strategies (backtests, tests): the same
    rules as the database-backed gate."""

    last_signal_at: dict[str, datetime] = field(default_factory=dict)
    open_signals: dict[str, Counter] = field(default_factory=dict)

    def check(
        self,
        name: str,
        bar_time: datetime,
        direction: str,
        cooldown_minutes: float,
        allow_pyramiding: bool = False,
    ) -> tuple[str, str] | None:
        """None if the signal may pass, else (reason, detail)."""
        return signal_gate(
            bar_time=bar_time,
            direction=direction,
            last_signal_at=self.last_signal_at.get(name),
            cooldown_minutes=cooldown_minutes,
            open_directions=+self.open_signals.get(name, Counter()),
            allow_pyramiding=allow_pyramiding,
        )

    def accept(self, name: str, bar_time: datetime, direction: str) -> None:
        """Record an accepted signal: starts the cooldown and opens it."""
        self.last_signal_at[name] = bar_time
        self.open_signals.setdefault(name, Counter())[direction] += 1

    def close(self, name: str, direction: str) -> None:
        """The position of one open signal in ``direction`` closed."""
        c = self.open_signals.get(name)
        if c and c[direction] > 0:
            c[direction] -= 1


def cooldown_mask(
    times: np.ndarray, fired: np.ndarray, cooldown_minutes: float, last_signal_at: np.datetime64 | None = None
) -> np.ndarray:
    """For a backtest: which fired rows pass the cooldown (each accepted row restarts it).

    ``times`` are bar starts (datetime64); loops over the fired rows only.
    """
    times = np.asarray(times).astype("datetime64[ns]")
    fired = np.asarray(fired, dtype=bool)
    keep = np.zeros(len(fired), dtype=bool)
    gap = np.timedelta64(int(round(cooldown_minutes * 60_000_000_000)), "ns")
    last = None if last_signal_at is None else np.datetime64(last_signal_at, "ns")
    for i in np.flatnonzero(fired):
        if last is None or times[i] - last >= gap:
            keep[i] = True
            last = times[i]
    return keep
