"""Parameter sweeps, embedded (a local process pool): the space stays within the bounds the strategy's
``Params`` declare, a combination's figures equal the engine called directly with those parameters
(Sharpe and profit factor worked by hand), one process and two give the same results, a promoted
combination's trades equal a plain backtest, and the page sorts and draws the heat map."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from journal.models import Trade
from tests.backtests.conftest import END, SEED, START, STRATEGY, plain_backtest, reference_figures
from tests.helpers import signal_passes, user_with_role
from trading.execution import sweep_space, sweeps
from trading.execution.models import BacktestRun, RunStatus, Sweep, SweepCombination

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _embedded(settings):
    """The embedded set-up (no broker): a run or a sweep started here runs in this process, also when
    the suite has REDIS_URL (the research workers' own tests: test_research_workers.py)."""
    settings.CELERY_TASK_ALWAYS_EAGER = True


GRID = {"gap_em": "0.02:0.10:3", "memory": "30,60"}


def _request(**over) -> sweeps.SweepRequest:
    args = dict(strategy=STRATEGY, start=START, end=END, seed=SEED, axes=GRID)
    args.update(over)
    return sweeps.sweep_request(**args)


def _figures(sweep: Sweep) -> list[tuple]:
    return [
        (
            c.number,
            c.parameters,
            c.trade_count,
            c.net_pnl,
            c.sharpe,
            c.profit_factor,
            c.max_drawdown,
            c.equity,
        )
        for c in sweep.combinations.order_by("number")
    ]


# --- the space ----------------------------------------------------------------------------------------


def test_a_grid_is_the_product_of_its_axes_in_order_with_whole_numbers_for_int_parameters():
    space, points = sweep_space.sweep_space(
        strategy=STRATEGY, sample="GRID", axes={"gap_em": "0.02:0.10:3", "memory": "30.4:30.6:2"}, base={}
    )
    assert space == {"gap_em": [0.02, 0.06, 0.1], "memory": [30, 31]}  # 30.4 -> 30, 30.6 -> 31
    assert points[:3] == [
        {"gap_em": 0.02, "memory": 30},
        {"gap_em": 0.02, "memory": 31},
        {"gap_em": 0.06, "memory": 30},
    ]
    assert len(points) == 6


def test_a_random_sample_reproduces_from_its_seed_and_stays_in_the_declared_bounds():
    axes = {"gap_em": "", "memory": "20:40"}
    space, first = sweep_space.sweep_space(
        strategy=STRATEGY, sample="RANDOM", axes=axes, base={}, count=50, sample_seed=3
    )
    _, again = sweep_space.sweep_space(
        strategy=STRATEGY, sample="RANDOM", axes=axes, base={}, count=50, sample_seed=3
    )
    _, other = sweep_space.sweep_space(
        strategy=STRATEGY, sample="RANDOM", axes=axes, base={}, count=50, sample_seed=4
    )
    assert first == again and first != other
    assert space == {
        "gap_em": [0.0, 1.0],
        "memory": [20, 40],
    }  # gap_em: the bounds EMACrossoverParams declares
    assert all(0.0 <= p["gap_em"] <= 1.0 and 20 <= p["memory"] <= 40 for p in first)
    assert all(isinstance(p["memory"], int) for p in first)


@pytest.mark.parametrize(
    ("sample", "axes", "words"),
    [
        ("GRID", {"gap_em": "0.5:1.5:3"}, "gap_em: 1.5 is above the maximum 1.0"),
        ("GRID", {"memory": "1,2"}, "memory: 1 is below the minimum 5"),
        ("RANDOM", {"memory": "1:300"}, "memory: 1 is below the minimum 5"),
        ("GRID", {"colour": "1,2"}, "colour: not a numeric parameter of EMACrossoverStrategy"),
        ("GRID", {"regimes": "1"}, "regimes: not a numeric parameter"),
        ("GRID", {"gap_em": "x,y"}, "gap_em: 'x' is not a number"),
        ("GRID", {"gap_em": "0.01:0.9:5000"}, "steps must be a whole number"),
        ("GRID", {"vix_low": "10,30", "vix_high": "20"}, "vix_high: 20.0 must be above vix_low 30.0"),
    ],
)
def test_a_space_outside_the_declared_bounds_is_refused_naming_the_parameter(sample, axes, words):
    with pytest.raises(ValidationError) as caught:
        sweep_space.sweep_space(strategy=STRATEGY, sample=sample, axes=axes, base={}, count=5, sample_seed=1)
    assert words in " ".join(caught.value.message_dict["space"])


def test_axes_parse_from_lines():
    assert sweep_space.parse_axes("gap_em=0.02:0.1:5\n memory = 30,60 \n\nvix_low") == {
        "gap_em": "0.02:0.1:5",
        "memory": "30,60",
        "vix_low": "",
    }
    with pytest.raises(ValidationError, match="given twice"):
        sweep_space.parse_axes(["a=1", "a=2"])


# --- the results -------------------------------------------------------------------------------------


def test_a_sweep_equals_the_engine_in_one_process_and_two_and_its_best_promotes_to_the_same_trades():
    sweep = sweeps.sweep_execute(_request(), embedded=True, workers=1)
    assert (sweep.status, sweep.done, sweep.failed, sweep.total) == (RunStatus.DONE, 6, 0, 6)
    rows = list(sweep.combinations.all())
    for c in rows:
        ref = reference_figures(plain_backtest(c.parameters))
        assert c.trade_count == ref["trades"] and c.net_pnl == Decimal(str(ref["net"])), c.parameters
        for key in ("sharpe", "profit_factor"):
            got, want = getattr(c, key), ref[key]
            assert (got is None and want is None) or got == pytest.approx(want, rel=1e-9), (key, c.parameters)
        assert len(c.equity) == c.trade_count
    assert sum(c.trade_count > 0 for c in rows) >= 3, "the week must trade for this test to mean anything"
    assert not Trade.objects.exists()  # a sweep writes no trade

    # Two processes: the same figures, the same market.
    two = sweeps.sweep_execute(_request(), embedded=True, workers=2)
    assert two.data_version == sweep.data_version and len(sweep.data_version) == 64
    assert _figures(two) == _figures(sweep)

    # The table by each objective, and the heat map's cells.
    by_net = [c.number for c in sweeps.sweep_table(sweep, "net_pnl")]
    assert by_net == [c.number for c in sorted(rows, key=lambda c: (-c.net_pnl, c.number))]
    by_dd = [c.number for c in sweeps.sweep_table(sweep, "max_drawdown")]
    assert by_dd == [c.number for c in sorted(rows, key=lambda c: (c.max_drawdown, c.number))]
    heat = sweeps.sweep_heatmap(sweep, "gap_em", "memory", "net_pnl")
    assert heat["columns"] == [0.02, 0.06, 0.1] and [r["y"] for r in heat["rows"]] == [30, 60]
    for row in heat["rows"]:
        for cell in row["cells"]:
            match = [c for c in rows if c.parameters == {"gap_em": cell["x"], "memory": row["y"]}]
            assert cell["value"] == float(match[0].net_pnl)
    shades = [cell["shade"] for row in heat["rows"] for cell in row["cells"]]
    assert min(shades) == 0.0 and max(shades) == 1.0

    # The best, promoted: a run whose trades are a plain backtest's with those parameters.
    best = sweeps.sweep_table(sweep, "net_pnl")[0]
    run = sweeps.sweep_promote(user=user_with_role("trader", "t"), combination_id=best.pk)
    reference = plain_backtest(best.parameters)
    trades = list(Trade.objects.filter(backtest_run=run).order_by("exit_time", "entry_time"))
    expected = sorted(reference.trades, key=lambda c: (c.trade["exit_time"], c.trade["entry_time"]))
    assert len(trades) == len(expected) > 0
    assert [(t.entry_time, t.exit_time, t.strike_price, t.quantity, t.net_pnl) for t in trades] == [
        (
            c.trade["entry_time"],
            c.trade["exit_time"],
            Decimal(c.trade["strike_price"]),
            c.trade["quantity"],
            c.net_pnl,
        )
        for c in expected
    ]
    assert run.net_pnl == best.net_pnl and run.data_version == sweep.data_version
    assert SweepCombination.objects.get(pk=best.pk).promoted_run_id == run.pk
    with pytest.raises(PermissionDenied, match="run_backtest"):
        sweeps.sweep_promote(user=user_with_role("viewer", "v"), combination_id=best.pk)
    assert BacktestRun.objects.count() == 1


def test_the_sweep_pages(client):
    client.force_login(user_with_role("trader", "t"))
    response = client.post(
        "/backtests/sweeps/start/",
        {
            "strategy": STRATEGY,
            "start": START.isoformat(),
            "end": END.isoformat(),
            "data_source": "SIM",
            "index": "NIFTY",
            "seed": SEED,
            "sample": "GRID",
            "space": "gap_em=0.02:0.10:3\nmemory=30,60",
            "objective": "net_pnl",
        },
    )
    sweep = Sweep.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/backtests/sweeps/{sweep.pk}/"
    assert sweep.status == RunStatus.DONE and sweep.embedded  # no broker in this test: the local pool
    page = client.get(f"/backtests/sweeps/{sweep.pk}/?sort=sharpe").content.decode()
    assert 'id="heatmap"' in page and 'id="combinations"' in page and sweep.data_version in page
    assert page.count("Promote to a run") == 6
    assert client.get(f"/backtests/sweeps/{sweep.pk}/progress/").json()["progress"] == 1.0
    assert client.get(f"/backtests/sweeps/{sweep.pk}/?sort=colour").status_code == 400
    assert client.get(f"/backtests/sweeps/{sweep.pk}/?x=colour").status_code == 400
    best = sweeps.sweep_table(sweep, "net_pnl")[0]
    promoted = client.post(f"/backtests/sweeps/{sweep.pk}/promote/{best.number}/")
    run = BacktestRun.objects.get()
    assert promoted.status_code == 302 and promoted["Location"] == f"/backtests/{run.pk}/"
    assert f"sweep {sweep.pk}" in client.get(f"/backtests/{run.pk}/").content.decode()
    bad = client.post("/backtests/sweeps/start/", {"strategy": STRATEGY, "start": START.isoformat(), "seed": 7,
                                                   "data_source": "SIM", "index": "NIFTY", "sample": "GRID",
                                                   "objective": "sharpe", "space": "memory=1,2"})  # fmt: skip
    assert bad.status_code == 400 and "memory: 1 is below the minimum 5" in bad.content.decode()


@pytest.mark.django_db(transaction=True)
def test_in_make_run_a_sweep_page_answers_at_once_and_the_pool_runs_in_a_thread(client, settings):
    """``make run``'s web server (BACKTEST_EMBEDDED_BACKGROUND): the sweep is stored and its page
    answers; its pool runs in a thread and every combination ends DONE, as the request would have."""
    import time

    settings.BACKTEST_EMBEDDED_BACKGROUND = True
    client.force_login(user_with_role("trader", "t"))
    response = client.post(
        "/backtests/sweeps/start/",
        {
            "strategy": STRATEGY, "start": START.isoformat(), "end": END.isoformat(), "data_source": "SIM",
            "index": "NIFTY", "seed": SEED, "sample": "GRID", "space": "gap_em=0.02:0.10:3", "objective": "net_pnl",
        },
    )  # fmt: skip
    sweep = Sweep.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/backtests/sweeps/{sweep.pk}/"
    assert sweep.status in (RunStatus.PENDING, RunStatus.RUNNING)
    deadline = time.monotonic() + 180
    while Sweep.objects.get(pk=sweep.pk).status not in (RunStatus.DONE, RunStatus.FAILED):
        assert time.monotonic() < deadline, "the sweep did not finish"
        time.sleep(0.1)
    sweep.refresh_from_db()
    assert sweep.status == RunStatus.DONE and sweep.done == sweep.total == 3
    assert set(sweep.combinations.values_list("status", flat=True)) == {RunStatus.DONE}


def test_a_failing_combination_is_counted_failed_and_the_sweep_still_finishes(monkeypatch):
    real = sweeps.combination_figures

    def flaky(market, job):
        if job.params.get("memory") == 60 and job.params.get("gap_em") == 0.1:
            raise FloatingPointError("no such luck")
        return real(market, job)

    monkeypatch.setattr(sweeps, "combination_figures", flaky)
    sweep = sweeps.sweep_execute(_request(), embedded=True, workers=1)
    assert (sweep.status, sweep.done, sweep.failed) == (RunStatus.DONE, 5, 1)
    failed = sweep.combinations.get(status=RunStatus.FAILED)
    assert (
        failed.parameters == {"gap_em": 0.1, "memory": 60}
        and failed.error == "FloatingPointError: no such luck"
    )
    assert sweeps.sweep_table(sweep, "sharpe")[-1].pk == failed.pk  # unfinished last


def test_the_beat_reaps_silent_runs_and_sweeps(settings):
    from datetime import timedelta

    from django.utils import timezone

    from trading import tasks
    from trading.execution import backtests

    assert settings.CELERY_BEAT_SCHEDULE["reap-backtests"]["task"] == "trading.tasks.backtest_reap"
    for name in ("trading.tasks.backtest_run", "trading.tasks.sweep_combination"):
        assert settings.CELERY_TASK_ROUTES[name] == {"queue": backtests.RESEARCH_QUEUE}
    old = timezone.now() - timedelta(seconds=settings.BACKTEST_STALE_SECONDS + 5)
    run = backtests.backtest_create(backtests.backtest_request(start=START, end=END, strategies=[STRATEGY]))
    BacktestRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, heartbeat_at=old)
    sweep = Sweep.objects.create(strategy=STRATEGY, start=START, end=END, seed=SEED, total=4,
                                 status=RunStatus.RUNNING, heartbeat_at=old)  # fmt: skip
    assert tasks.backtest_reap() == {"runs": 1, "sweeps": 1}
    assert (
        BacktestRun.objects.get(pk=run.pk).status == Sweep.objects.get(pk=sweep.pk).status == RunStatus.FAILED
    )


def test_a_simulated_market_is_stored_a_session_a_frame_and_an_older_sweeps_market_still_reads():
    """The market is packed as it is simulated, a session a frame, and unpacks to the very sessions
    simulated (their SHA-256 is the data version); a market stored whole by an earlier version reads
    the same."""
    import pickle
    import zlib

    from trading.execution.backtest_market import market_history, market_stream

    args = dict(data_source="SIM", index="NIFTY", seed=SEED, start=START, end=END)
    blob, version = sweeps._pack(market_stream(**args))
    reference = market_history(**args)
    assert version == reference.version() and blob.startswith(sweeps._PACKED)
    assert sweeps._unpack(blob).version() == version
    older = zlib.compress(pickle.dumps((reference.days, reference.iv_history), protocol=5), 1)
    assert sweeps._unpack(older).version() == version


def test_a_process_computes_the_sweeps_features_once_and_its_figures_are_unchanged(monkeypatch):
    """The feature rows do not depend on the parameters swept: the first combination computes them,
    the others reuse them (``FeatureMemo``) - and get the figures of a plain backtest (the first test)."""
    from trading.core.features import FeatureStream

    computed = []
    real = FeatureStream.day

    def counted(self, day):
        computed.append(day.session)
        return real(self, day)

    monkeypatch.setattr(FeatureStream, "day", counted)
    sweep = sweeps.sweep_execute(_request(), embedded=True, workers=1)
    assert (sweep.status, sweep.done) == (RunStatus.DONE, 6)
    sessions = sorted(set(computed))
    assert len(sessions) == 3 and sorted(computed) == sessions  # each session once, not 6 times
    for c in sweep.combinations.all():
        ref = reference_figures(plain_backtest(c.parameters))
        assert c.trade_count == ref["trades"] and c.net_pnl == Decimal(str(ref["net"])), c.parameters


def test_a_simulated_sweep_hands_the_engine_the_sessions_it_holds_and_its_figures_are_unchanged(
    monkeypatch,
):
    """A simulated sweep's market is in memory: each combination gives the engine its list of
    sessions, signalled ``HELD_BATCH`` at a time (a stream's ``STREAM_BATCH``); both made small here
    so that the week's 3 sessions tell them apart - and the figures are the plain backtest's."""
    from trading.core import backtest as core_backtest

    monkeypatch.setattr(core_backtest, "STREAM_BATCH", 1)
    monkeypatch.setattr(core_backtest, "HELD_BATCH", 2)
    sizes = signal_passes(monkeypatch)
    sweep = sweeps.sweep_execute(_request(), embedded=True, workers=1)
    assert (sweep.status, sweep.done) == (RunStatus.DONE, 6)
    assert sizes == [2, 1] * 6  # each combination: the held 3 sessions, 2 then 1
    for c in sweep.combinations.all():
        ref = reference_figures(plain_backtest(c.parameters))
        assert c.trade_count == ref["trades"] and c.net_pnl == Decimal(str(ref["net"])), c.parameters
