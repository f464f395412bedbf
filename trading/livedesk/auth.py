"""API-token authentication of the desk's WebSocket (Channels middleware), for clients that are not a
logged-in page: ``Authorization: Token <key>`` (DRF's tokens) or ``?token=<key>``. Placed inside
Channels' session middleware, so a valid token replaces the session's user; ``scope["token_auth"]``
tells the consumer the connection needs no same-site Origin."""

from __future__ import annotations

from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from django.contrib.auth.models import AnonymousUser
from rest_framework.authtoken.models import Token


def _token_of(scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, key = value.decode("latin1").partition(" ")
            if scheme.lower() == "token":
                return key.strip()
    query = parse_qs(scope.get("query_string", b"").decode("latin1"))
    return (query.get("token") or [""])[-1]


@database_sync_to_async
def _user_of(key: str):
    token = Token.objects.select_related("user").filter(key=key).first()
    return token.user if token is not None and token.user.is_active else None


class TokenAuthMiddleware(BaseMiddleware):
    """Set ``scope["user"]`` from an API token when the connection carries one (see the module docstring)."""

    async def __call__(self, scope, receive, send):
        key = _token_of(scope)
        if key:
            user = await _user_of(key)
            scope = dict(scope)
            if user is not None:
                scope["user"], scope["token_auth"] = user, True
            else:
                scope["user"] = AnonymousUser()  # a bad token is refused, whatever the session says
        return await super().__call__(scope, receive, send)
