"""ASGI entry point (uvicorn/daphne)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingsite.settings")
application = get_asgi_application()

from trading.monitoring.multiprocess import web_server_starting  # noqa: E402

web_server_starting()  # metrics: a web server's start wipes the multiprocess directory when nothing else uses it
