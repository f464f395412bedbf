"""Recording live bars straight into the store (beside, or instead of, the replay-CSV recorder).

``StoreRecorder(store).record(bar)`` buffers minute bars and writes them into the ``spot_minute`` and
``chain_minute`` partitions of their session every ``flush_every`` minutes, when the session changes
and on ``flush()``/``close()``. Parquet files are rewritten whole, so writing each minute would cost a
session's worth of rewriting per minute; a crash loses at most the buffered minutes (the CSV
recorder, which appends, stays the minute-exact record). Writing is idempotent: a minute already
stored is replaced by the same rows.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from trading.core import calendar as market_calendar
from trading.core.bars import MarketBar
from trading.marketdata.base import bars_to_day
from trading.marketdata.store.minute import day_frames
from trading.marketdata.store.store import MarketDataStore, Staged

__all__ = ["StoreRecorder"]


class StoreRecorder:
    """Buffer ``MarketBar``s and write them to the store in batches (see the module docstring)."""

    def __init__(self, store: MarketDataStore, *, flush_every: int = 15) -> None:
        self.store = store
        self.flush_every = max(int(flush_every), 1)
        self._pending: list[MarketBar] = []
        self._key: tuple[str, date] | None = None

    def record(self, bar: MarketBar) -> None:
        """Buffer one bar; writes the buffer first when the bar starts another index or session."""
        key = (bar.index.upper(), market_calendar.ist_date(bar.time))
        if self._key is not None and key != self._key:
            self.flush()
        self._key = key
        self._pending.append(bar)
        if len(self._pending) >= self.flush_every:
            self.flush()

    def flush(self) -> int:
        """Write the buffered bars; returns how many were written."""
        if not self._pending or self._key is None:
            return 0
        index, session = self._key
        bars = sorted(self._pending, key=lambda b: b.time)
        frames = day_frames(bars_to_day(bars))
        staged: list[Staged] = []
        with self.store.lock():
            try:
                for kind_name, frame in frames.items():
                    frame = frame.drop_duplicates(
                        subset=[c for c in frame.columns if c in ("time", "expiry", "strike", "option_type")],
                        keep="last",
                    )
                    s = self.store.stage(kind_name, index, session, pd.DataFrame(frame))
                    if s is not None:
                        staged.append(s)
                self.store.commit(staged)
            except BaseException:
                self.store.discard(staged)
                raise
        written = len(self._pending)
        self._pending = []
        return written

    def close(self) -> None:
        self.flush()
