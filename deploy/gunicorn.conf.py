"""gunicorn settings for a WSGI deployment of the desk (``gunicorn -c deploy/gunicorn.conf.py
tradingsite.wsgi``): pages and API only - the live desk's WebSocket (``/ws/desk/``) needs the ASGI server,
uvicorn, which the README, the Procfile, the compose stack and the systemd units run.

The hooks keep ``/metrics`` right across gunicorn's workers: the metrics directory is wiped safely
when the server starts, and a worker that exits (``max_requests`` recycling, a crash) has its metric
files folded into the archive so its counts survive and scrapes stay fast.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingsite.settings")

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "2000"))
max_requests_jitter = 200
timeout = 30
accesslog = "-"


def on_starting(server):
    from trading.monitoring import multiprocess  # loaded by the hook: this file is read before Django

    multiprocess.web_server_starting()


def child_exit(server, worker):
    from trading.monitoring import multiprocess

    multiprocess.process_dead(worker.pid)
