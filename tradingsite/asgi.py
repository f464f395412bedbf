"""ASGI entry point (uvicorn): Django's pages over HTTP, the live desk over WebSocket (``/ws/desk/``).

Sessions authenticate pages' sockets, API tokens the others (``trading.livedesk.auth``).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingsite.settings")
# Under ASGI each request's sync view may run on another thread with its own connection: a persistent
# connection (CONN_MAX_AGE > 0) is not handed to the next request but left open until it ages out, so
# under load a web process can hold ~100 of them and PostgreSQL refuses everyone else ("too many
# clients already", seen in CI). Django's advice: no persistent connections under ASGI. An explicit
# DB_CONN_MAX_AGE still wins.
os.environ.setdefault("DB_CONN_MAX_AGE", "0")
# Instead a finished request's connection is handed to the next request (a new connection per request
# was its largest cost): a few per process, never waited for (tradingsite/postgresql/base.py).
os.environ.setdefault("DB_KEEP_IDLE", "4")
django_application = get_asgi_application()  # sets Django up before the consumers are imported

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from trading.livedesk.auth import TokenAuthMiddleware  # noqa: E402
from trading.livedesk.routing import websocket_urlpatterns  # noqa: E402
from trading.monitoring.multiprocess import web_server_starting  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_application,
        "websocket": AuthMiddlewareStack(TokenAuthMiddleware(URLRouter(websocket_urlpatterns))),
    }
)

web_server_starting()  # metrics: a web server's start wipes the multiprocess directory when nothing else uses it
