"""Stopping a backtest run or a sweep while it works (the Stop button of their pages).

A stopped run ends FAILED "stopped by <user>" with nothing journaled - also when the stop lands
after its last progress beat, just before the journal's transaction; a stopped sweep runs none of the
combinations not begun (embedded in one process or a pool, or queued for the research workers) and
counts them; only the user who started it, or an operator, may stop it (a viewer, another trader,
a user without a role cannot); a finished one is left as it is.
"""

from __future__ import annotations

import multiprocessing
from io import StringIO

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command

from journal.models import Trade
from tests.backtests.conftest import END, SEED, START, STRATEGY
from tests.helpers import user_with_role
from trading.execution import backtests, sweeps
from trading.execution.models import BacktestRun, RunStatus, Sweep

pytestmark = pytest.mark.django_db

NOT_RUN = "not run: the sweep was stopped"


@pytest.fixture(autouse=True)
def _embedded(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True


def _sweep_request() -> sweeps.SweepRequest:
    return sweeps.sweep_request(
        strategy=STRATEGY, start=START, end=END, seed=SEED, axes={"gap_em": "0.02:0.10:3", "memory": "30,60"}
    )


def _run(user=None) -> BacktestRun:
    request = backtests.backtest_request(start=START, end=END, strategies=[STRATEGY])
    return backtests.backtest_create(request, user=user)


def _assert_stopped_sweep(sweep: Sweep, by: str, *, done: int) -> None:
    sweep.refresh_from_db()
    assert (sweep.status, sweep.error) == (RunStatus.FAILED, f"stopped by {by}")
    assert sweep.done == done and sweep.done + sweep.failed == sweep.total == 6
    statuses = list(sweep.combinations.values_list("status", "error"))
    assert statuses.count((RunStatus.DONE, "")) == done
    assert statuses.count((RunStatus.FAILED, NOT_RUN)) == 6 - done


# --- sweeps -------------------------------------------------------------------------------------------


def test_a_sweep_stopped_while_its_combinations_run_here_begins_no_other(monkeypatch):
    asha = user_with_role("trader", "asha")
    real, begun = sweeps.combination_figures, []

    def second_stops_it(market, job):
        begun.append(job.params)
        if len(begun) == 2:  # the user clicks Stop while the second combination runs
            assert sweeps.sweep_stop(user=asha, sweep_id=Sweep.objects.get().pk)
        return real(market, job)

    monkeypatch.setattr(sweeps, "combination_figures", second_stops_it)
    sweep = sweeps.sweep_execute(_sweep_request(), user=asha, embedded=True, workers=1)
    assert len(begun) == 2  # the third was never begun
    _assert_stopped_sweep(sweep, "asha", done=1)  # the second's figures, come after the stop, dropped


def test_a_sweep_stopped_while_a_pool_runs_it_kills_the_pool(monkeypatch):
    ravi = user_with_role("operator", "ravi")
    asha = user_with_role("trader", "asha")
    real_store, stored = sweeps._store, []

    def store_then_stop(combination_id, sweep_id, figures, error=""):
        real_store(combination_id, sweep_id, figures, error)
        stored.append(combination_id)
        if len(stored) == 1:  # an operator stops another user's sweep after its first result
            assert sweeps.sweep_stop(user=ravi, sweep_id=sweep_id)

    monkeypatch.setattr(sweeps, "_store", store_then_stop)
    sweep = sweeps.sweep_execute(_sweep_request(), user=asha, embedded=True, workers=2)
    assert len(stored) == 1  # no result taken after the stop
    assert not multiprocessing.active_children()  # the pool's workers are gone
    _assert_stopped_sweep(sweep, "ravi", done=1)


def test_the_research_workers_skip_a_stopped_sweeps_queued_combinations(monkeypatch):
    asha = user_with_role("trader", "asha")
    sweep = sweeps.sweep_create(_sweep_request(), user=asha)  # stored, its combinations queued

    def never(market, job):
        raise AssertionError("a combination of a stopped sweep ran")

    assert sweeps.sweep_stop(user=asha, sweep_id=sweep.pk)
    monkeypatch.setattr(sweeps, "combination_figures", never)
    for combination in sweep.combinations.all():  # each queued task, delivered after the stop
        assert sweeps.sweep_combination_execute(combination.pk).status == RunStatus.FAILED
    _assert_stopped_sweep(sweep, "asha", done=0)
    assert not sweeps.sweep_stop(user=asha, sweep_id=sweep.pk)  # already ended: nothing to stop


def test_who_may_stop_a_sweep_from_its_page(client):
    asha = user_with_role("trader", "asha")
    sweep = sweeps.sweep_create(_sweep_request(), user=asha)
    url = f"/backtests/sweeps/{sweep.pk}/stop/"
    for user in (
        None,
        user_with_role(None, "nobody"),
        user_with_role("viewer", "vijay"),
        user_with_role("trader", "tara"),
    ):
        client.logout()
        if user is not None:
            client.force_login(user)
        answer = client.post(url)
        assert answer.status_code in ((302,) if user is None else (403,)), user
        if user is None:
            assert "/login" in answer["Location"]
        sweep.refresh_from_db()
        assert sweep.status == RunStatus.PENDING
    client.force_login(asha)
    page = client.get(f"/backtests/sweeps/{sweep.pk}/").content.decode()
    assert 'id="stop-run"' in page and url in page
    assert client.get(url).status_code == 405
    assert client.post("/backtests/sweeps/999999/stop/").status_code == 404
    answer = client.post(url)
    assert answer.status_code == 302 and answer["Location"] == f"/backtests/sweeps/{sweep.pk}/"
    _assert_stopped_sweep(sweep, "asha", done=0)
    assert 'id="stop-run"' not in client.get(f"/backtests/sweeps/{sweep.pk}/").content.decode()
    with pytest.raises(PermissionDenied):
        sweeps.sweep_stop(user=user_with_role("trader", "tara2"), sweep_id=sweep.pk)


def test_a_finished_sweep_stays_as_it_finished():
    asha = user_with_role("trader", "asha")
    sweep = sweeps.sweep_execute(_sweep_request(), user=asha, embedded=True, workers=1)
    assert sweep.status == RunStatus.DONE
    assert not sweeps.sweep_stop(user=asha, sweep_id=sweep.pk)
    sweep.refresh_from_db()
    assert (sweep.status, sweep.done, sweep.failed, sweep.error) == (RunStatus.DONE, 6, 0, "")


# --- backtest runs -------------------------------------------------------------------------------------


def test_a_run_stopped_while_it_trades_ends_at_its_next_beat_with_nothing_journaled(monkeypatch):
    monkeypatch.setattr(backtests, "PROGRESS_EVERY", 0.0)  # a beat after every cycle
    asha = user_with_role("trader", "asha")
    run = _run(asha)
    cycles = []

    def click_stop(cycle):
        cycles.append(cycle)
        if len(cycles) == 1:
            assert backtests.backtest_stop(user=asha, run_id=run.pk)

    stopped = backtests.backtest_run_execute(run.pk, progress=click_stop)
    assert (stopped.status, stopped.error) == (RunStatus.FAILED, "stopped by asha")
    assert len(cycles) == 1  # the beat after the stop ended it
    assert not Trade.objects.filter(backtest_run=run).exists()
    assert stopped.bars_done < stopped.bars_total and not stopped.trade_count


def test_a_run_stopped_after_its_last_beat_journals_nothing(monkeypatch):
    """The stop lands after the run's last progress beat, just before the journal's transaction: the
    check inside the transaction finds it, and nothing is stored."""
    monkeypatch.setattr(backtests, "PROGRESS_EVERY", 1e12)  # no beat in the loop: the last is after it
    asha = user_with_role("trader", "asha")
    run = _run(asha)
    real_beat, beats = backtests._Progress.beat, []

    def last_beat_then_stop(tracker):
        real_beat(tracker)
        beats.append(tracker.done)
        assert backtests.backtest_stop(user=asha, run_id=run.pk)

    monkeypatch.setattr(backtests._Progress, "beat", last_beat_then_stop)
    stopped = backtests.backtest_run_execute(run.pk)
    assert len(beats) == 1 and beats[0] > 0  # the one beat, after the loop had traded
    assert (stopped.status, stopped.error) == (RunStatus.FAILED, "stopped by asha")
    assert not Trade.objects.filter(backtest_run=run).exists()


def test_who_may_stop_a_run_and_a_finished_run_stays_done(client):
    asha = user_with_role("trader", "asha")
    run = _run(asha)
    url = f"/backtests/{run.pk}/stop/"
    for user in (
        user_with_role(None, "nobody"),
        user_with_role("viewer", "vijay"),
        user_with_role("trader", "tara"),
    ):
        client.force_login(user)
        assert client.post(url).status_code == 403
    run.refresh_from_db()
    assert run.status == RunStatus.PENDING
    client.force_login(asha)
    assert 'id="stop-run"' in client.get(f"/backtests/{run.pk}/").content.decode()
    answer = client.post(url)
    assert answer.status_code == 302 and answer["Location"] == f"/backtests/{run.pk}/"
    run.refresh_from_db()
    assert (run.status, run.error) == (RunStatus.FAILED, "stopped by asha")
    assert backtests.backtest_run_execute(run.pk).status == RunStatus.FAILED  # a late worker: not run
    done = _run(asha)
    backtests.backtest_run_execute(done.pk)
    client.force_login(user_with_role("operator", "ravi"))  # an operator may stop anyone's...
    assert client.post(f"/backtests/{done.pk}/stop/").status_code == 302
    done.refresh_from_db()
    assert done.status == RunStatus.DONE and done.error == ""  # ...but a finished run stays DONE


def test_manage_py_backtest_stopped_from_the_page_says_so(monkeypatch):
    """A command-line run has no user: an operator stops it; the command fails saying who did."""
    monkeypatch.setattr(backtests, "PROGRESS_EVERY", 0.0)
    ravi = user_with_role("operator", "ravi")
    real_call = backtests._Progress.__call__

    def stop_on_first_cycle(tracker, cycle):
        real_call(tracker, cycle)
        run = BacktestRun.objects.get(pk=tracker.run_id)
        if run.status == RunStatus.RUNNING:
            with pytest.raises(PermissionDenied):  # not a trader's: nobody's but an operator's
                backtests.backtest_stop(user=user_with_role("trader", f"t{run.pk}"), run_id=run.pk)
            assert backtests.backtest_stop(user=ravi, run_id=run.pk)

    monkeypatch.setattr(backtests._Progress, "__call__", stop_on_first_cycle)
    with pytest.raises(CommandError, match=r"FAILED: stopped by ravi; none of its trades is stored"):
        call_command(
            "backtest", "--start", START.isoformat(), "--end", END.isoformat(), "--strategy", STRATEGY,
            "--features-inline", "--checks-inline", stdout=StringIO(),
        )  # fmt: skip
    assert not Trade.objects.exists()


def test_manage_py_sweep_stopped_from_the_page_says_who_did(monkeypatch):
    ravi = user_with_role("operator", "ravi")
    real_store, stored = sweeps._store, []

    def store_then_stop(combination_id, sweep_id, figures, error=""):
        real_store(combination_id, sweep_id, figures, error)
        stored.append(combination_id)
        if len(stored) == 1:
            assert sweeps.sweep_stop(user=ravi, sweep_id=sweep_id)

    monkeypatch.setattr(sweeps, "_store", store_then_stop)
    out = StringIO()
    call_command(
        "sweep", "--strategy", STRATEGY, "--start", START.isoformat(), "--end", END.isoformat(),
        "--axis", "gap_em=0.02:0.10:3", "--axis", "memory=30,60", "--workers", "1", stdout=out,
    )  # fmt: skip
    assert "FAILED: 1 done, 5 failed" in out.getvalue() and "(stopped by ravi)" in out.getvalue()
    _assert_stopped_sweep(Sweep.objects.get(), "ravi", done=1)


# --- a sweep started from a page: its market prepared after the page has answered ---------------------


@pytest.fixture
def held_market(monkeypatch):
    """The simulated market's packing held until the test lets it go (``sweeps._pack``)."""
    import threading

    entered, release = threading.Event(), threading.Event()
    real = sweeps._pack

    def held(stream):
        entered.set()
        assert release.wait(60), "the test never let the market go"
        return real(stream)

    monkeypatch.setattr(sweeps, "_pack", held)
    return entered, release


def _start_from_the_page(client, settings, user):
    settings.BACKTEST_EMBEDDED_BACKGROUND = True
    client.force_login(user)
    response = client.post(
        "/backtests/sweeps/start/",
        {
            "strategy": STRATEGY, "start": START.isoformat(), "end": END.isoformat(), "data_source": "SIM",
            "index": "NIFTY", "seed": SEED, "sample": "GRID", "space": "gap_em=0.02:0.10:3\nmemory=30,60",
            "objective": "net_pnl",
        },
    )  # fmt: skip
    sweep = Sweep.objects.defer("market_data").get()
    assert response.status_code == 302 and response["Location"] == f"/backtests/sweeps/{sweep.pk}/"
    return sweep


def _wait_ended(sweep: Sweep) -> Sweep:
    import time

    deadline = time.monotonic() + 180
    while Sweep.objects.get(pk=sweep.pk).status not in (RunStatus.DONE, RunStatus.FAILED):
        assert time.monotonic() < deadline, "the sweep did not end"
        time.sleep(0.05)
    return Sweep.objects.defer("market_data").get(pk=sweep.pk)


@pytest.mark.django_db(transaction=True)
def test_a_sweep_page_answers_before_its_market_is_built(client, settings, held_market):
    """``make run``: the page answers while the market is still being simulated ("preparing the
    market", no data version yet); then the combinations run, with the data version and figures of
    the same sweep prepared in the request."""
    entered, release = held_market
    sweep = _start_from_the_page(client, settings, user_with_role("trader", "asha"))
    assert entered.wait(60)
    assert sweep.data_version == "" and sweep.done == 0
    progress = client.get(f"/backtests/sweeps/{sweep.pk}/progress/").json()
    assert progress["preparing"] and progress["status"] in (RunStatus.PENDING, RunStatus.RUNNING)
    page = client.get(f"/backtests/sweeps/{sweep.pk}/").content.decode()
    assert "preparing the market" in page and "(being worked out)" in page and 'id="stop-run"' in page
    release.set()
    done = _wait_ended(sweep)
    assert (done.status, done.done, done.failed) == (RunStatus.DONE, 6, 0)
    assert not client.get(f"/backtests/sweeps/{sweep.pk}/progress/").json()["preparing"]
    settings.BACKTEST_EMBEDDED_BACKGROUND = False
    here = sweeps.sweep_execute(_sweep_request(), embedded=True, workers=1)  # prepared in the request
    assert here.data_version == done.data_version and len(done.data_version) == 64

    def figures(s):
        return sorted(s.combinations.values_list("parameters", "net_pnl", "trade_count", "sharpe"), key=str)

    assert figures(done) == figures(here)


@pytest.mark.django_db(transaction=True)
def test_a_sweep_stopped_while_its_market_is_built_runs_nothing(client, settings, held_market, monkeypatch):
    entered, release = held_market
    asha = user_with_role("trader", "asha")

    def never(market, job):
        raise AssertionError("a combination of a stopped sweep ran")

    monkeypatch.setattr(sweeps, "combination_figures", never)
    sweep = _start_from_the_page(client, settings, asha)
    assert entered.wait(60)
    assert client.post(f"/backtests/sweeps/{sweep.pk}/stop/").status_code == 302
    release.set()
    import threading

    for thread in threading.enumerate():  # the preparing thread, to its end: it stores nothing, runs nothing
        if thread.name == f"sweep {sweep.pk}":
            thread.join(60)
            assert not thread.is_alive()
    _assert_stopped_sweep(sweep, "asha", done=0)
    assert Sweep.objects.get(pk=sweep.pk).data_version == ""


@pytest.mark.django_db(transaction=True)
def test_a_sweep_whose_market_cannot_be_built_fails_saying_why(client, settings, monkeypatch):
    def broken(stream):
        raise OSError("the disk is full")

    monkeypatch.setattr(sweeps, "_pack", broken)
    sweep = _wait_ended(_start_from_the_page(client, settings, user_with_role("trader", "asha")))
    assert (sweep.status, sweep.error) == (RunStatus.FAILED, "OSError: the disk is full")
    assert (
        "Failed: OSError: the disk is full" in client.get(f"/backtests/sweeps/{sweep.pk}/").content.decode()
    )


# --- an ended sweep lets go of its simulated market ------------------------------------------------------


def _blob(sweep: Sweep) -> bytes:
    return bytes(Sweep.objects.filter(pk=sweep.pk).values_list("market_data", flat=True).get())


def test_an_ended_sweep_lets_go_of_its_market_and_still_promotes_to_the_same_trades():
    """The simulated market is stored only while the sweep runs: DONE, stopped or failed, it is gone
    (the data version stays); a late task finds it gone and says so; a promoted combination still
    trades as the sweep figured it (the run simulates its own market from the seed)."""
    asha = user_with_role("trader", "asha")
    created = sweeps.sweep_create(_sweep_request(), user=asha)
    assert len(_blob(created)) > 100_000  # while it runs: the packed sessions
    done = sweeps.sweep_execute(_sweep_request(), user=asha, embedded=True, workers=1)
    assert done.status == RunStatus.DONE and _blob(done) == b"" and len(done.data_version) == 64
    best = sweeps.sweep_table(done, "net_pnl")[0]
    run = Sweep.objects.get(pk=done.pk).combinations.get(pk=best.pk)
    promoted = sweeps.sweep_promote(user=asha, combination_id=run.pk)
    assert promoted.status == RunStatus.DONE and promoted.trade_count == best.trade_count
    assert promoted.net_pnl == best.net_pnl
    assert sweeps.sweep_stop(user=asha, sweep_id=created.pk) and _blob(created) == b""
    with pytest.raises(sweeps.MarketChanged, match="has ended: its market is no longer stored"):
        sweeps._market_of(Sweep.objects.defer("market_data").get(pk=created.pk))
    failed = sweeps.sweep_create(_sweep_request(), user=asha)
    sweeps.sweep_fail(failed.pk, "RuntimeError: boom")
    assert _blob(failed) == b""
