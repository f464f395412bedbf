"""Real Celery workers against real Redis and PostgreSQL (``services``):

* a sweep's combinations wait on the ``research`` queue while a trading worker (the Procfile's
  ``worker``) runs - it never takes them - and two research workers then give exactly the results of
  the embedded pool, with the same data version - on the simulated market and on the market-data
  store (which the workers read themselves) (the research workers boot beside the trading one on
  a queue of their own and are told to take ``research`` once the check is done: one boot, not two);
* a backtest run on the research workers moves its progress bar and ends DONE; a run whose workers
  are killed outright stays RUNNING only until the reaper marks it FAILED.

One test, so that the workers boot once.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from datetime import date

import pytest
import redis
from celery import current_app
from django.conf import settings

from tests.backtests.conftest import END, SEED, START, STRATEGY
from tests.backtests.workers import log_text, procfile_command, start_worker, stop, wait_for
from tests.helpers import user_with_role
from tests.marketdata.store.conftest import import_simulated
from trading.execution import backtests, sweeps
from trading.execution.models import BacktestRun, RunStatus, Sweep
from trading.marketdata.store.store import MarketDataStore

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def broker():
    """Our Redis database, emptied, with no worker of an earlier test left on it."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()


def _figures(sweep: Sweep) -> list[tuple]:
    return [
        (
            c.parameters,
            c.trade_count,
            c.net_pnl,
            c.sharpe,
            c.profit_factor,
            c.max_drawdown,
            c.win_rate,
            c.equity,
        )
        for c in sweep.combinations.order_by("number")
    ]


def test_research_workers_take_what_trading_workers_never_do_and_a_killed_ones_run_is_failed(
    tmp_path, broker, settings
):
    store = MarketDataStore(tmp_path / "store")
    for session in (date(2025, 1, 6), date(2025, 1, 8)):
        import_simulated(store, tmp_path, session)
    settings.MARKETDATA_DIR = store.root
    request = sweeps.sweep_request(
        strategy=STRATEGY, start=START, end=END, seed=SEED, axes={"gap_em": "0.02,0.06", "memory": "30,60"}
    )
    store_request = sweeps.sweep_request(
        strategy=STRATEGY, start=date(2025, 1, 6), end=date(2025, 1, 8), data_source="STORE",
        axes={"gap_em": "0.02,0.06", "memory": "30,60"},
    )  # fmt: skip
    trader = user_with_role("trader", "t")
    # Started together (one boot): the trading worker as the Procfile starts it, and two research
    # workers that listen to a queue of their own until the check below is done, then take "research".
    hold = f"research-hold-{os.getpid()}"
    research_command = [
        w if w != "research" else hold for w in procfile_command("research", RESEARCH_CONCURRENCY="1")
    ]
    trading = start_worker(procfile_command("worker", CELERY_CONCURRENCY="1"), tmp_path, "trading")
    research = [
        start_worker(research_command, tmp_path, name, MARKETDATA_DIR=str(store.root))
        for name in ("research-1", "research-2")
    ]
    try:
        # Up and consuming: the trading worker has run its start-up reconcile, the others are ready.
        wait_for(lambda: "trading.tasks.reconcile" in log_text(tmp_path, "trading") and "succeeded" in
                 log_text(tmp_path, "trading"), 90, "the trading worker's start-up reconcile")  # fmt: skip
        wait_for(
            lambda: all("ready." in log_text(tmp_path, n) for n in ("research-1", "research-2")),
            90,
            "research",
        )
        # 1. The sweep waits on the research queue while the trading worker runs.
        sweep = sweeps.sweep_execute(request, embedded=False)
        assert sweep.total == 4 and broker.llen(backtests.RESEARCH_QUEUE) == 4
        time.sleep(2.0)
        assert broker.llen(backtests.RESEARCH_QUEUE) == 4, "a trading worker took research work"
        assert Sweep.objects.get(pk=sweep.pk).done == 0
        # A second one, stopped from its page while its combinations wait on the queue.
        halted_sweep = sweeps.sweep_execute(request, user=trader, embedded=False)
        assert sweeps.sweep_stop(user=trader, sweep_id=halted_sweep.pk)

        # 2. Two research workers take it.
        host = socket.gethostname()
        current_app.control.add_consumer(
            backtests.RESEARCH_QUEUE, destination=[f"research-1@{host}", f"research-2@{host}"], reply=True
        )
        done = wait_for(
            lambda: Sweep.objects.filter(pk=sweep.pk, status=RunStatus.DONE).defer("market_data").first(),
            120,
            "the sweep on the research workers",
        )
        assert (done.done, done.failed) == (4, 0)
        served = {n for n in ("research-1", "research-2") if "sweep_combination[" in log_text(tmp_path, n)}
        assert served, "no research worker ran a combination"
        assert "sweep_combination[" not in log_text(tmp_path, "trading")  # never received, though running
        # The stopped sweep's four tasks were delivered too, and none ran its combination.
        wait_for(lambda: broker.llen(backtests.RESEARCH_QUEUE) == 0, 60, "the stopped sweep's tasks")
        halted_sweep = Sweep.objects.defer("market_data").get(pk=halted_sweep.pk)
        assert (halted_sweep.status, halted_sweep.error) == (RunStatus.FAILED, "stopped by t")
        assert (halted_sweep.done, halted_sweep.failed) == (0, 4)
        assert set(halted_sweep.combinations.values_list("error", flat=True)) == {
            "not run: the sweep was stopped"
        }

        # 2a. A sweep started from a page: stored at once with no market; a research worker builds
        # it (sweep_prepare), then queues the combinations: the same data version and figures.
        from_page = sweeps.sweep_start(user=trader, request=request, embedded=False)
        assert from_page.data_version == ""
        paged = wait_for(
            lambda: Sweep.objects.filter(pk=from_page.pk, status=RunStatus.DONE).defer("market_data").first(),
            120,
            "the sweep started from a page",
        )
        assert paged.data_version == Sweep.objects.get(pk=sweep.pk).data_version
        assert _figures(paged) == _figures(done)

        # 2b. A sweep of the store: the workers read the store themselves (nothing of it is stored).
        on_store = sweeps.sweep_execute(store_request, embedded=False)
        assert bytes(Sweep.objects.get(pk=on_store.pk).market_data) == b""
        store_done = wait_for(
            lambda: Sweep.objects.filter(pk=on_store.pk, status=RunStatus.DONE).defer("market_data").first(),
            120,
            "the store sweep on the research workers",
        )
        assert (store_done.done, store_done.failed) == (4, 0)

        # 3. A run: queued after its commit, run by a research worker, DONE with its trades.
        short = backtests.backtest_start(
            user=trader,
            request=backtests.backtest_request(start=START, end=END, seed=SEED, strategies=[STRATEGY]),
        )
        assert short.status == RunStatus.PENDING
        short = wait_for(
            lambda: BacktestRun.objects.filter(pk=short.pk, status=RunStatus.DONE).first(), 120, "the run"
        )
        assert short.bars_done == short.bars_total > 0 and short.trade_count == short.trades.count()

        # 3b. A long run stopped from its page while a research worker runs it: the worker ends it at
        # its next beat with nothing journaled (and says so), and is free for the next task.
        halted = backtests.backtest_start(
            user=trader,
            request=backtests.backtest_request(start=date(2026, 4, 6), end=date(2026, 5, 15), seed=SEED),
        )
        wait_for(
            lambda: BacktestRun.objects.filter(
                pk=halted.pk, status=RunStatus.RUNNING, bars_done__gt=0
            ).first(),
            120,
            "the run to stop moving",
        )
        assert backtests.backtest_stop(user=trader, run_id=halted.pk)
        said = f"backtest run {halted.pk} stopped while it ran"
        wait_for(
            lambda: any(said in log_text(tmp_path, n) for n in ("research-1", "research-2")), 60, "the stop"
        )
        halted.refresh_from_db()
        assert (halted.status, halted.error) == (RunStatus.FAILED, "stopped by t")
        assert halted.bars_done < halted.bars_total and not halted.trades.exists()

        # 4. A long run of every strategy: seen moving, then its workers killed with no warning.
        long = backtests.backtest_start(
            user=trader,
            request=backtests.backtest_request(start=date(2026, 4, 6), end=date(2026, 5, 15), seed=SEED),
        )
        moving = wait_for(
            lambda: BacktestRun.objects.filter(pk=long.pk, status=RunStatus.RUNNING, bars_done__gt=0).first(),
            120,
            "the long run's progress",
        )
        assert 0 < moving.bars_done < moving.bars_total
        for proc in research:
            stop(proc, signal.SIGKILL)
        time.sleep(1.5)
        assert BacktestRun.objects.get(pk=long.pk).status == RunStatus.RUNNING  # nobody left to say otherwise
        assert backtests.backtest_runs_reap(stale_seconds=1) == 1
        failed = BacktestRun.objects.get(pk=long.pk)
        assert failed.status == RunStatus.FAILED and "worker lost" in failed.error
        assert not failed.trades.exists()
    finally:
        for proc in [trading, *research]:
            stop(proc)
    # The embedded pool gives exactly the research workers' results.
    embedded = sweeps.sweep_execute(request, embedded=True, workers=1)
    assert embedded.data_version == done.data_version
    assert _figures(embedded) == _figures(done)
    assert sum(c.trade_count for c in done.combinations.all()) > 0
    embedded = sweeps.sweep_execute(store_request, embedded=True, workers=1)
    assert embedded.data_version == store_done.data_version
    assert _figures(embedded) == _figures(store_done)
    assert sum(c.trade_count for c in store_done.combinations.all()) > 0
