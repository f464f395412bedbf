"""WSGI entry point (gunicorn)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingsite.settings")
application = get_wsgi_application()

from trading.monitoring.multiprocess import web_server_starting  # noqa: E402

web_server_starting()  # metrics: a web server's start wipes the multiprocess directory when nothing else uses it
