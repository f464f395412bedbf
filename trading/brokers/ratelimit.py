"""In-process request limiter for broker APIs (Kite: 10 orders/s, 10 other requests/s, 1 quote/s).

A token bucket of capacity C refilled at R per second lets C + R requests through in one second, so a
bucket allowing bursts of 10 would let ~20 orders through in a second. The exchange counts orders in
a window, so this limiter keeps the bucket's idea (``calls`` tokens per ``period``) in its exact form:
a sliding log of the last ``calls`` send times; a caller waits until the oldest is more than
``period + margin`` seconds old. ``margin`` absorbs network jitter between our clock and the
broker's, so the broker never counts one request too many.

The limiters below are shared by every broker instance of the process. Several worker processes on
one account need a shared limiter (Redis); a 429 answer is still handled by back-off in the broker.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class RateLimiter:
    """At most ``calls`` acquisitions in any ``period + margin`` seconds; thread-safe, FIFO-ish."""

    def __init__(
        self,
        calls: int,
        period: float = 1.0,
        *,
        margin: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if calls < 1 or period <= 0:
            raise ValueError("calls must be >= 1 and period > 0")
        self.calls = calls
        self.window = period + margin
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque(maxlen=calls)
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Block until a request may be sent and record it; returns the seconds waited."""
        waited = 0.0
        # Held while sleeping on purpose: callers queue behind the one that waits first.
        with self._lock:
            if len(self._sent) == self.calls:
                wait = self._sent[0] + self.window - self._clock()
                if wait > 0:
                    self._sleep(wait)
                    waited = wait
            self._sent.append(self._clock())
        return waited

    def __enter__(self) -> RateLimiter:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        return None


# Kite Connect limits per account (DOMAIN.md section 6), shared in-process.
ORDER_LIMITER = RateLimiter(10, 1.0)
REQUEST_LIMITER = RateLimiter(10, 1.0)
QUOTE_LIMITER = RateLimiter(1, 1.0)
