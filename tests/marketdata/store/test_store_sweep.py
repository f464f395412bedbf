"""Sweeps on the market-data store: the store is not copied into the sweep (a simulated sweep's market
is); each combination reads the store again and its figures equal the engine run directly on the
store's sessions, in one process and two and in the research workers' task; a store sweep may cover
a year like a run, from the command and the page, which refuse a range the store lacks; a store that
changed before or during the sweep fails its combinations by name instead of mixing two markets."""

from __future__ import annotations

import shutil
from datetime import date
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from tests.backtests.conftest import STRATEGY, reference_figures
from tests.helpers import user_with_role
from tests.marketdata.store.conftest import import_simulated
from trading.core.backtest import run_backtest
from trading.core.state import StrategySlot
from trading.execution import sweeps
from trading.execution.backtest_market import market_history
from trading.execution.config import engine_config
from trading.execution.live import paper_broker
from trading.execution.models import RunStatus, Sweep
from trading.marketdata.store.store import MarketDataStore

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

START, END = date(2025, 1, 6), date(2025, 1, 8)
GRID = {"gap_em": "0.02:0.10:3", "memory": "30,60"}


@pytest.fixture(autouse=True)
def _embedded(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.TRADING_CAPITAL = 1_000_000.0


@pytest.fixture(scope="module")
def stored_once(tmp_path_factory) -> Path:
    """A store holding 2025-01-06 and 2025-01-08 (01-07 missing: a gap the sweep reads around),
    imported once for the module."""
    folder = tmp_path_factory.mktemp("stored")
    for session in (date(2025, 1, 6), date(2025, 1, 8)):
        import_simulated(MarketDataStore(folder / "store"), folder, session)
    return folder / "store"


@pytest.fixture
def stored(store, stored_once, settings):
    """``stored_once`` copied into this test's own store."""
    shutil.copytree(stored_once, store.root, dirs_exist_ok=True)
    settings.MARKETDATA_DIR = store.root
    return store


def _request(**over) -> sweeps.SweepRequest:
    args = dict(strategy=STRATEGY, start=START, end=END, axes=GRID, data_source="STORE")
    args.update(over)
    return sweeps.sweep_request(**args)


def _reference(params: dict):
    """The engine run directly on the store's sessions, all read into memory first (not the sweep's
    path: ``market_history`` and ``run_backtest``, no service)."""
    market = market_history(data_source="STORE", index="NIFTY", seed=0, start=START, end=END)
    result = run_backtest(
        market.days,
        strategies={STRATEGY: StrategySlot(name=STRATEGY, cooldown_minutes=30)},
        broker=paper_broker(),
        config=engine_config("NIFTY", mode="BACKTEST"),
        params={STRATEGY: params},
        iv_history=market.iv_history,
    )
    return result, market.version()


def test_a_store_sweep_reads_the_store_per_combination_and_equals_the_engine(stored):
    sweep = sweeps.sweep_execute(_request(), embedded=True, workers=1)
    assert (sweep.status, sweep.done, sweep.failed, sweep.total) == (RunStatus.DONE, 6, 0, 6)
    assert bytes(sweep.market_data) == b""  # the store is not copied into the database
    traded = 0
    for c in sweep.combinations.order_by("number"):
        result, version = _reference(c.parameters)
        ref = reference_figures(result, start=START, end=END)
        assert c.trade_count == ref["trades"] and c.net_pnl == Decimal(str(ref["net"])), c.parameters
        assert sweep.data_version == version
        traded += c.trade_count > 0
    assert traded >= 2, "the sessions must trade for this test to mean anything"

    two = sweeps.sweep_execute(_request(), embedded=True, workers=2)
    assert two.status == RunStatus.DONE and two.data_version == sweep.data_version
    key = ("number", "parameters", "trade_count", "net_pnl", "sharpe", "profit_factor", "equity")
    assert list(two.combinations.order_by("number").values_list(*key)) == list(
        sweep.combinations.order_by("number").values_list(*key)
    )


def test_a_store_sweep_may_cover_a_year_a_simulated_one_sixty_sessions(stored):
    year = _request(end=date(2025, 12, 31))  # the store holds two of its sessions: the rest are gaps
    assert year.end == date(2025, 12, 31)
    with pytest.raises(ValidationError, match="simulated market covers at most 60 sessions"):
        _request(data_source="SIM", end=date(2025, 12, 31))
    with pytest.raises(ValidationError, match="at most 260"):
        _request(end=date(2026, 3, 31))  # a run's limit


def test_a_store_changed_since_the_sweep_began_fails_its_combinations_by_name(stored, tmp_path):
    sweep = sweeps.sweep_create(_request(), embedded=True)
    import_simulated(stored, tmp_path, date(2025, 1, 7), seed=8)  # the missing session arrives meanwhile
    sweep = sweeps.sweep_run_embedded(sweep.pk, workers=1)
    assert (sweep.status, sweep.done, sweep.failed) == (RunStatus.DONE, 0, 6)
    errors = set(sweep.combinations.values_list("error", flat=True))
    assert len(errors) == 1
    assert errors.pop().startswith("MarketChanged: the store's sessions 2025-01-06..2025-01-08 changed since")


def test_the_research_workers_task_reads_the_store_as_the_pool_does(stored):
    """``sweep_combination_execute`` (the body of the research queue's task) on a store sweep: the
    same figures as the embedded pool's."""
    pooled = sweeps.sweep_execute(_request(), embedded=True, workers=1)
    queued = sweeps.sweep_create(_request(), embedded=False)
    for c in queued.combinations.order_by("number"):
        sweeps.sweep_combination_execute(c.pk)
    queued.refresh_from_db()
    assert (queued.status, queued.done) == (RunStatus.DONE, 6)
    key = ("number", "trade_count", "net_pnl", "sharpe", "profit_factor", "max_drawdown", "equity")
    assert list(queued.combinations.order_by("number").values_list(*key)) == list(
        pooled.combinations.order_by("number").values_list(*key)
    )


def test_the_command_sweeps_the_store_and_names_its_option_on_a_range_it_lacks(stored):
    out = StringIO()
    call_command(
        "sweep", "--strategy", STRATEGY, "--data", "store", "--start", "2025-01-06", "--end", "2025-01-08",
        "--axis", "gap_em=0.02,0.06", "--workers", "1", stdout=out,
    )  # fmt: skip
    assert "DONE: 2 done, 0 failed" in out.getvalue()
    assert Sweep.objects.get().data_source == "STORE"
    with pytest.raises(
        CommandError, match=r"^--data: the market-data store \(.*\) holds no NIFTY minute bars"
    ):
        call_command(
            "sweep", "--strategy", STRATEGY, "--data", "store", "--start", "2025-02-03",
            "--axis", "gap_em=0.02,0.06", stdout=StringIO(),
        )  # fmt: skip
    assert Sweep.objects.count() == 1


def test_a_store_changed_during_the_sweep_fails_the_combinations_read_after(stored, tmp_path, monkeypatch):
    """The first combination of a process hashes the store and finds the sweep's version; the next ones
    compare the files they read with its files instead: a session imported meanwhile is caught."""
    real = sweeps._store
    stored_count = []

    def then_import(combination_id, sweep_id, figures, error=""):
        real(combination_id, sweep_id, figures, error)
        stored_count.append(combination_id)
        if len(stored_count) == 2:
            import_simulated(stored, tmp_path, date(2025, 1, 7), seed=8)

    monkeypatch.setattr(sweeps, "_store", then_import)
    sweep = sweeps.sweep_execute(_request(), embedded=True, workers=1)
    assert (sweep.status, sweep.done, sweep.failed) == (RunStatus.DONE, 2, 4)
    failed = sweep.combinations.filter(status=RunStatus.FAILED)
    assert {c.number for c in failed} == {3, 4, 5, 6}
    assert {c.error for c in failed} == {
        "MarketChanged: the store's files of the sessions 2025-01-06..2025-01-08 changed during the sweep: "
        "start the sweep again"
    }


def test_the_page_sweeps_the_store_over_more_than_sixty_sessions_and_refuses_a_range_it_lacks(stored, client):
    client.force_login(user_with_role("trader", "t"))
    form = {
        "strategy": STRATEGY, "start": "2025-01-06", "end": "2025-04-30", "data_source": "STORE",
        "index": "NIFTY", "seed": 7, "sample": "GRID", "space": "gap_em=0.02,0.06", "objective": "net_pnl",
    }  # fmt: skip
    response = client.post("/backtests/sweeps/start/", form)
    sweep = Sweep.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/backtests/sweeps/{sweep.pk}/"
    assert (sweep.status, sweep.done, sweep.data_source) == (RunStatus.DONE, 2, "STORE")
    page = client.get(response["Location"]).content.decode()
    assert sweep.data_version in page and page.count("Promote to a run") == 2
    bad = client.post("/backtests/sweeps/start/", {**form, "start": "2025-02-03", "end": "2025-02-07"})
    assert bad.status_code == 400 and "holds no NIFTY minute bars between 2025-02-03 and 2025-02-07" in (
        bad.content.decode()
    )
    assert Sweep.objects.count() == 1
