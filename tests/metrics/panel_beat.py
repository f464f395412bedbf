"""The Celery app of the panel check's beat: the desk's schedule without its wall-clock trading
entries. The test drives a simulated session's cycles itself; the beat's ``run-cycle``,
``monitor-positions`` and ``square-off`` would trade the wall clock's minute whenever the check runs
in NSE hours (09:00-15:59 IST on a weekday) and move the market clock off the simulated session."""

from __future__ import annotations

from tradingsite.celery import app

WALL_CLOCK_TRADING = ("run-cycle", "monitor-positions", "square-off")

app.conf.beat_schedule = {k: v for k, v in app.conf.beat_schedule.items() if k not in WALL_CLOCK_TRADING}
