"""The engine state of an index carried from one cycle to the next across processes, so exactly one
state is ever traded on, whichever process runs the cycle.

While the database answers it is the truth (``execution.state.load_state``, with the desk's
compare-and-set). While it is away a desk used to trade on its own memory - and with several worker
processes, a process that ran no cycle for a while held an old state: positions it did not know of
were not exited. Now every cycle ends by handing its state to the carrier (Redis: one key per index
and mode, written under the cycle lock), and a cycle that cannot reach the database takes the state
from it. The cycle lock (``execution.lock``) makes the holder of the lock the one owner of that state.

Without ``REDIS_URL`` (the embedded ``runtrader``, the only process that trades) the carrier is this
process's memory: nothing to carry. Pickle is safe here: the key is written only by the desk's own
processes, on the desk's own Redis.
"""

from __future__ import annotations

import logging
import pickle

import redis
from django.conf import settings

from trading.core.state import EngineState

log = logging.getLogger(__name__)

KEEP_SECONDS = 7 * 24 * 3600  # a state older than a week is never an outage's


class StateCarrier:
    """Hand the engine state of ``index`` in ``mode`` from one cycle to the next (see the module)."""

    def __init__(self, index: str, mode: str, url: str | None = None) -> None:
        self.key = f"desk:state:{mode}:{index}"
        url = settings.REDIS_URL if url is None else url
        self._client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2) if url else None
        self._failing = False

    @property
    def shared(self) -> bool:
        """Whether the state is carried between processes (Redis configured)."""
        return self._client is not None

    def put(self, state: EngineState) -> None:
        """Hand over the state a cycle ends with (never raises: Redis away is logged once)."""
        if self._client is None:
            return
        try:
            self._client.set(self.key, pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL), ex=KEEP_SECONDS)
            self._ok()
        except (redis.RedisError, OSError) as exc:
            self._failed(exc)

    def take(self) -> EngineState | None:
        """The state the last cycle of any process ended with; None when none is carried or Redis is
        away."""
        if self._client is None:
            return None
        try:
            raw = self._client.get(self.key)
            self._ok()
        except (redis.RedisError, OSError) as exc:
            self._failed(exc)
            return None
        if raw is None:
            return None
        try:
            state = pickle.loads(raw)  # noqa: S301 - written only by this desk's processes
        except Exception:  # noqa: BLE001 - a state from another version of the code: not ours
            log.warning("carried state of %s unreadable: ignored", self.key)
            return None
        return state if isinstance(state, EngineState) else None

    def forget(self) -> None:
        """Drop the carried state (a fresh start: tests, ``runtrader --fresh``)."""
        if self._client is None:
            return
        try:
            self._client.delete(self.key)
        except (redis.RedisError, OSError) as exc:
            self._failed(exc)

    def _ok(self) -> None:
        if self._failing:
            log.warning("state carrier %s: Redis reachable again", self.key)
            self._failing = False

    def _failed(self, exc: BaseException) -> None:
        if not self._failing:
            log.error("state carrier %s: Redis unreachable (%s): this process's memory only", self.key, exc)
            self._failing = True
