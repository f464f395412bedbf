"""The metrics the work code moves through hooks: Celery task signals (worker runs only), Kite REST
calls, feed fetches, recorded trades."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from kiteconnect import KiteConnect

from tests.kite_server import FakeKite
from tests.metrics.helpers import make_trade
from trading import metrics
from trading.monitoring import celery_hooks


def _v(metric, **labels) -> float:
    return (metric.labels(**labels) if labels else metric)._value.get()


def _task(name: str, eager: bool = False):
    return SimpleNamespace(name=name, request=SimpleNamespace(is_eager=eager))


def test_worker_task_runs_are_timed_and_counted():
    task = _task("trading.tasks.run_cycle")
    runs = _v(metrics.TASKS, task=task.name, state="success")
    timed = metrics.TASK_DURATION.labels(task.name)._sum.get()
    celery_hooks.on_task_prerun(task_id="t-1", task=task)
    assert _v(metrics.TASKS_RUNNING, task=task.name) == 1
    celery_hooks.on_task_postrun(task_id="t-1", task=task, state="SUCCESS")
    assert _v(metrics.TASKS, task=task.name, state="success") == runs + 1
    assert _v(metrics.TASKS_RUNNING, task=task.name) == 0
    assert metrics.TASK_DURATION.labels(task.name)._sum.get() > timed

    failures = _v(metrics.TASK_FAILURES, task=task.name, exception="OperationalError")
    celery_hooks.on_task_failure(sender=task, exception=type("OperationalError", (Exception,), {})())
    assert _v(metrics.TASK_FAILURES, task=task.name, exception="OperationalError") == failures + 1
    retries = _v(metrics.TASK_RETRIES, task=task.name)
    celery_hooks.on_task_retry(sender=task)
    assert _v(metrics.TASK_RETRIES, task=task.name) == retries + 1


def test_eager_runs_in_the_callers_process_are_not_worker_runs():
    task = _task("trading.tasks.square_off", eager=True)
    before = _v(metrics.TASKS, task=task.name, state="success")
    celery_hooks.on_task_prerun(task_id="t-2", task=task)
    celery_hooks.on_task_postrun(task_id="t-2", task=task, state="SUCCESS")
    celery_hooks.on_task_failure(sender=task, exception=ValueError())
    assert _v(metrics.TASKS, task=task.name, state="success") == before
    assert _v(metrics.TASK_FAILURES, task=task.name, exception="ValueError") == 0


def test_eager_celery_task_through_the_real_signals_is_not_counted():
    from celery import shared_task

    @shared_task(name="tests.metrics.eager_probe")
    def probe():
        return 1

    assert probe.apply().get() == 1  # run in this process, as CELERY_TASK_ALWAYS_EAGER does
    assert _v(metrics.TASKS, task="tests.metrics.eager_probe", state="success") == 0


def test_every_kite_rest_call_is_timed_by_route():
    with FakeKite() as fake:
        kite = metrics.instrument_kite(
            KiteConnect(api_key=fake.api_key, access_token=fake.access_token, root=fake.url)
        )
        assert metrics.instrument_kite(kite) is kite  # idempotent
        count = metrics.BROKER_LATENCY.labels("kite", "orders")._sum.get()
        kite.orders()
        assert metrics.BROKER_LATENCY.labels("kite", "orders")._sum.get() > count
        errors = _v(metrics.BROKER_ERRORS, broker="kite", endpoint="order.info", error="InputException")
        with pytest.raises(Exception, match="order_id"):
            kite.order_history("no-such-order")
        assert (
            _v(metrics.BROKER_ERRORS, broker="kite", endpoint="order.info", error="InputException")
            == errors + 1
        )


def test_test_doubles_are_not_instrumented():
    double = SimpleNamespace(_request=lambda *a, **k: None)
    assert metrics.instrument_kite(double) is double
    assert not getattr(double._request, "_desk_metrics", False)


def test_feed_fetches_are_timed_and_failures_counted():
    before = _v(metrics.MARKET_ERRORS, source="SIM", reason="timeouterror")
    with metrics.timed_market_fetch("SIM"):
        pass
    assert metrics.MARKET_FETCH.labels("SIM")._sum.get() >= 0
    with pytest.raises(TimeoutError):
        with metrics.timed_market_fetch("SIM"):
            raise TimeoutError
    assert _v(metrics.MARKET_ERRORS, source="SIM", reason="timeouterror") == before + 1


@pytest.mark.django_db(transaction=True)
def test_each_recorded_trade_is_observed_after_commit():
    before = metrics.TRADE_PNL.labels("PCRStrategy", "PAPER")._sum.get()
    trade = make_trade(1, "PCRStrategy")
    assert metrics.TRADE_PNL.labels("PCRStrategy", "PAPER")._sum.get() == pytest.approx(
        before + float(trade.net_pnl)
    )

    # The journal's delay runs from the engine's close on the wall clock, never from the trade's exit
    # time (the market clock, a day or a year away in a simulated session): a trade entered by hand
    # has no such moment, the engine's (closed on 2026-05-05 by the market clock) counts its commit.
    delay = metrics.TRADE_RECORD_DELAY.labels("PAPER")
    count, total = _count(delay), delay._sum.get()
    make_trade(2, "PCRStrategy", origin="ENGINE")
    assert _count(delay) == count + 1
    assert delay._sum.get() - total < 3600  # not the months since the exit time of the market clock
    make_trade(3, "PCRStrategy")
    assert _count(delay) == count + 1


def _count(histogram) -> float:
    return sum(bucket.get() for bucket in histogram._buckets)
