"""The relay: reads the outbox in position order and sends each batch of new events to the channel
group every WebSocket consumer of the desk has joined.

* **Distributed** (a Redis channel layer): one relay for all web processes - the one holding a Redis
  lock (renewed while it lives; another process takes over within ``LEASE_SECONDS`` of its death,
  from the position the last leader stored) - and channels-redis fans each batch out to the consumers
  of every process.
* **Embedded** (the in-memory layer: one web process, no Redis): the process's own relay tails the
  outbox (SQLite) and the in-memory layer hands the batches to its consumers.

A batch is at most ``BATCH`` events, each already encoded as JSON once (not once per client). A
consumer that finds a gap (a batch dropped by a full channel, a leader that died between reading and
sending) reads the missing events from the outbox itself, so the relay never has to be perfect - only
fast. Every ``HEARTBEAT_SECONDS`` without events it sends the position, so idle clients know the
connection is alive and a consumer that missed the last batch notices.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import InMemoryChannelLayer
from django.conf import settings

from trading import outbox

log = logging.getLogger(__name__)

GROUP = "desk"
BATCH = 200
HEARTBEAT_SECONDS = 5.0
LEASE_SECONDS = 3.0
LEADER_KEY = "desk:relay:leader"
POSITION_KEY = "desk:relay:position"

# Renew the lease only if we still hold it (atomically).
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""


def encode(event: outbox.OutboxEvent) -> list[Any]:
    """An event as the relay ships it: [position, index, wall-clock seconds of its write, kind, JSON]."""
    return [
        event.seq,
        event.index,
        event.created_at.timestamp(),
        event.kind,
        outbox.dumps(event.as_message()),
    ]


def read_encoded(position: int, limit: int = BATCH) -> list[list[Any]]:
    """Number what has committed, then up to ``limit`` events after ``position``, encoded."""
    return [encode(event) for event in outbox.read(position, limit=limit)]


class Relay:
    """One process's relay (see the module docstring); ``run`` loops until cancelled."""

    def __init__(self, layer) -> None:
        self.layer = layer
        self.position: int | None = None
        self.token = secrets.token_hex(8)
        self.leading = False
        self._redis = None
        self._renewed = 0.0
        self._last_send = time.monotonic()

    @property
    def shared(self) -> bool:
        """True when the layer reaches other processes (Redis): then only the leader relays."""
        return not isinstance(self.layer, InMemoryChannelLayer)

    async def _client(self):
        if self._redis is None:
            from redis import asyncio as redis_asyncio

            self._redis = redis_asyncio.from_url(settings.CHANNELS_REDIS_URL)
        return self._redis

    async def lead(self) -> bool:
        """True while this process is the relay (always, with the in-memory layer)."""
        if not self.shared:
            self.leading = True
            return True
        now = time.monotonic()
        if self.leading and now - self._renewed < LEASE_SECONDS / 3:
            return True
        client = await self._client()
        ttl = int(LEASE_SECONDS * 1000)
        if self.leading:
            self.leading = bool(await client.eval(_RENEW, 1, LEADER_KEY, self.token, ttl))
        else:
            self.leading = bool(await client.set(LEADER_KEY, self.token, nx=True, px=ttl))
            if self.leading:
                # Resume where the last leader stopped - never beyond the outbox (another database).
                stored = await client.get(POSITION_KEY)
                head = await database_sync_to_async(outbox.head)()
                self.position = min(int(stored), head) if stored is not None else head
                log.info("desk relay: leading from position %s", self.position)
        if self.leading:
            self._renewed = now
        else:
            self.position = None  # a later leadership starts from the shared position
        return self.leading

    async def step(self) -> int:
        """Send what committed since the last step; returns how many events were sent."""
        if self.position is None:
            self.position = await database_sync_to_async(outbox.head)()
        # Its own thread, not the one the consumers' snapshots and catch-ups queue on.
        events = await database_sync_to_async(read_encoded, thread_sensitive=False)(self.position)
        if events:
            await self.layer.group_send(GROUP, {"type": "desk.events", "events": events})
            self.position = events[-1][0]
            self._last_send = time.monotonic()
            if self.shared:
                client = await self._client()
                await client.set(POSITION_KEY, self.position)
        elif time.monotonic() - self._last_send >= HEARTBEAT_SECONDS:
            await self.layer.group_send(GROUP, {"type": "desk.heartbeat", "position": self.position})
            self._last_send = time.monotonic()
        return len(events)

    async def run(self) -> None:
        poll = float(settings.DESK_STREAM_POLL_SECONDS)
        while True:
            try:
                if await self.lead():
                    while await self.step() == BATCH:  # a backlog: no pause between full batches
                        pass
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a database or Redis hiccup: try again shortly
                log.exception("desk relay step failed")
                self.leading = False
                await asyncio.sleep(1.0)
            await asyncio.sleep(poll)


_relays: dict[int, asyncio.Task] = {}


def ensure_relay(layer) -> None:
    """Start this process's relay on the running event loop, once."""
    loop = asyncio.get_running_loop()
    task = _relays.get(id(loop))
    if task is None or task.done():
        _relays[id(loop)] = loop.create_task(Relay(layer).run(), name="desk-relay")
