"""The desk's WebSocket (``/ws/desk/``): a snapshot, then every event after it, in outbox order.

Protocol (JSON text frames, server to client):

* ``{"type": "snapshot", "position": P, ...}`` (``trading.livedesk.snapshot``) - on connect without a
  position, or with one older than the pruning horizon (or newer than the outbox: another database);
* ``{"type": "events", "position": P, "events": [{"seq", "kind", "index", "key", "at", "created",
  "data"}, ...]}`` - in position order, none skipped; ``position`` is where the client is now;
* ``{"type": "heartbeat", "position": P}`` - every few seconds without events.

A client connects with ``?after=P`` (its last position) to resume: it gets every event after ``P``
(from the outbox) and then the live ones, nothing missed. ``?index=NIFTY`` picks the index (default
``TRADING_INDEX``). Authentication: the session (pages; the Origin must then be this site's) or an API
token (``Authorization: Token <key>`` header, or ``?token=<key>``), and the viewer permission
(``permissions.can_view_desk``). Refused connections are closed with 4401 (no user) or 4403.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from urllib.parse import parse_qs, urlparse

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.http.request import validate_host

from trading import metrics, outbox
from trading.livedesk.permissions import can_view_desk
from trading.livedesk.relay import GROUP, ensure_relay, read_encoded
from trading.livedesk.snapshot import desk_snapshot

log = logging.getLogger(__name__)
CATCH_UP_PAGE = 500


def _query(scope) -> dict[str, str]:
    raw = parse_qs(scope.get("query_string", b"").decode("latin1"))
    return {k: v[-1] for k, v in raw.items() if v}


def _same_site(scope) -> bool:
    """The Origin of a cookie-authenticated connection is this site (not another site riding the cookie)."""
    for name, value in scope.get("headers", []):
        if name == b"origin":
            host = urlparse(value.decode("latin1")).hostname or ""
            return validate_host(host, settings.ALLOWED_HOSTS)
    return False


def _resume_from(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


class DeskConsumer(AsyncWebsocketConsumer):
    """One client of the live desk (see the module docstring)."""

    position: int = 0
    counted = False

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        if not self.scope.get("token_auth") and not _same_site(self.scope):
            await self.close(code=4403)
            return
        if not await database_sync_to_async(can_view_desk)(user):
            await self.close(code=4403)
            return
        query = _query(self.scope)
        self.index = (query.get("index") or settings.TRADING_INDEX).upper()
        await self.accept()
        self.counted = True
        metrics.websocket_opened()
        # Join the group before reading the outbox: a batch sent meanwhile waits in our channel.
        await self.channel_layer.group_add(GROUP, self.channel_name)
        ensure_relay(self.channel_layer)
        await self.start(_resume_from(query.get("after")))

    async def disconnect(self, code: int) -> None:
        if self.counted:
            metrics.websocket_closed()
            self.counted = False
            await self.channel_layer.group_discard(GROUP, self.channel_name)

    async def start(self, after: int | None) -> None:
        """Resume after ``after`` when the outbox still has everything after it, else a snapshot."""
        horizon = await database_sync_to_async(outbox.horizon)()
        if horizon.can_resume(after):
            self.position = after
            await self.catch_up()
            return
        snapshot = await database_sync_to_async(desk_snapshot, thread_sensitive=False)(self.index)
        self.position = snapshot["position"]
        await self.send(text_data=outbox.dumps(snapshot))
        metrics.websocket_sent("snapshot")

    async def catch_up(self) -> None:
        """Send every event after our position from the outbox itself (a resume, or a gap)."""
        while True:
            batch = await database_sync_to_async(read_encoded, thread_sensitive=False)(
                self.position, CATCH_UP_PAGE
            )
            if batch:
                await self.forward(batch)
            if len(batch) < CATCH_UP_PAGE:
                return

    async def forward(self, events: list[list]) -> None:
        """Send the events after our position (this index's, and those of no index)."""
        fresh = [e for e in events if e[0] > self.position]
        if not fresh:
            return
        self.position = fresh[-1][0]
        mine = [e for e in fresh if e[1] in ("", self.index)]
        if not mine:
            return
        body = ",".join(e[4] for e in mine)  # each event encoded once, by the relay
        frame = f'{{"type":"events","position":{self.position},"events":[{body}]}}'
        await self.send(text_data=frame)
        metrics.websocket_event_lag(time.time() - min(e[2] for e in mine))
        for kind, n in Counter(e[3] for e in mine).items():
            metrics.websocket_sent(kind, n)

    # --- messages from the relay (the channel group) ---

    async def desk_events(self, message: dict) -> None:
        events = message["events"]
        if events[0][0] > self.position + 1:
            await self.catch_up()  # a gap: read what we missed (and this batch) from the outbox
        await self.forward(events)

    async def desk_heartbeat(self, message: dict) -> None:
        position = message.get("position")
        if position is not None and position > self.position:
            await self.catch_up()  # the relay is ahead of us: a batch never reached us
        await self.send(text_data=outbox.dumps({"type": "heartbeat", "position": self.position}))
        metrics.websocket_sent("heartbeat")

    async def receive(self, text_data=None, bytes_data=None) -> None:
        """Clients only listen; a ``ping`` text is answered with the position."""
        if text_data == "ping":
            await self.send(text_data=outbox.dumps({"type": "heartbeat", "position": self.position}))
