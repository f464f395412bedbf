"""Reading the desk's metrics: the ``/metrics`` view and its access rules (``views``), the database
metrics computed at scrape time (``families``, ``collector``), the multiprocess directory that adds up
every process of a host (``multiprocess``), Celery's task and worker hooks (``celery_hooks``), and the
wiring of a process at start (``wiring``). The metrics themselves are defined in ``trading.metrics``.
"""
