"""WebSocket routes of the live desk (mounted by ``tradingsite.asgi``)."""

from __future__ import annotations

from django.urls import path

from trading.livedesk.consumers import DeskConsumer

websocket_urlpatterns = [path("ws/desk/", DeskConsumer.as_asgi())]
