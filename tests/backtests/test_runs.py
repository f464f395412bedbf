"""Backtest runs: stored figures equal the engine's, a crash is FAILED (never left RUNNING), a lost
worker is reaped, the pages start a run and show it, bad input is a 400 naming the field, and
``manage.py backtest --report`` writes the run's tearsheet."""

from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.utils import timezone

from journal.models import Trade
from tests.backtests.conftest import END, SEED, START, STRATEGY, plain_backtest
from tests.helpers import user_with_role
from trading.execution import backtests
from trading.execution.models import BacktestRun, RunStatus

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _embedded(settings):
    """The embedded set-up (no broker): a run or a sweep started here runs in this process, also when
    the suite has REDIS_URL (the research workers' own tests: test_research_workers.py)."""
    settings.CELERY_TASK_ALWAYS_EAGER = True


OVERRIDE = {"gap_em": 0.02, "memory": 30}


def _run(**over) -> BacktestRun:
    args = dict(start=START, end=END, seed=SEED, strategies=[STRATEGY], overrides={STRATEGY: OVERRIDE})
    args.update(over)
    return backtests.backtest_execute(**args)


def test_a_run_stores_the_engines_trades_and_typed_figures():
    run = _run()
    reference = plain_backtest(OVERRIDE)
    assert reference.trades, "the week must trade for this test to mean anything"
    trades = list(Trade.objects.filter(backtest_run=run).order_by("exit_time", "entry_time"))
    expected = sorted(reference.trades, key=lambda c: (c.trade["exit_time"], c.trade["entry_time"]))
    assert [(t.entry_time, t.exit_time, t.strike_price, t.net_pnl) for t in trades] == [
        (c.trade["entry_time"], c.trade["exit_time"], Decimal(c.trade["strike_price"]), c.net_pnl)
        for c in expected
    ]
    assert run.status == RunStatus.DONE and run.error == ""
    assert run.trade_count == len(expected)
    assert run.net_pnl == sum((c.net_pnl for c in expected), Decimal(0))
    assert run.bars_done == run.bars_total == 375 * 3
    assert run.progress == 1.0 and len(run.data_version) == 64
    assert run.parameters["strategies"][STRATEGY]["gap_em"] == 0.02 and run.overrides == {STRATEGY: OVERRIDE}


def test_ctrl_c_mid_run_marks_it_failed_and_stores_none_of_its_trades():
    """KeyboardInterrupt (Ctrl-C; the command raises SIGTERM as one) after a session has traded: the
    run is FAILED "interrupted", not left RUNNING for the reaper, and the interrupt goes on up."""
    seen = []

    def on_session(session, bars):
        seen.append(session)
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _run(on_session=on_session)
    run = BacktestRun.objects.get()
    assert run.status == RunStatus.FAILED and run.error == "interrupted" and run.finished_at is not None
    assert not Trade.objects.exists()


def test_a_crash_marks_the_run_failed_with_its_error(monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("feature frame blew up")

    monkeypatch.setattr(backtests, "run_backtest", explode)
    with pytest.raises(RuntimeError):
        _run()
    run = BacktestRun.objects.get()
    assert run.status == RunStatus.FAILED and run.error == "RuntimeError: feature frame blew up"
    assert run.finished_at is not None and not Trade.objects.exists()


def test_a_run_whose_worker_went_silent_is_reaped_and_a_live_one_is_not():
    now = timezone.now()
    request = backtests.backtest_request(start=START, end=END, strategies=[STRATEGY])
    lost, alive = backtests.backtest_create(request), backtests.backtest_create(request)
    BacktestRun.objects.filter(pk=lost.pk).update(
        status=RunStatus.RUNNING, heartbeat_at=now - timedelta(seconds=61)
    )
    BacktestRun.objects.filter(pk=alive.pk).update(
        status=RunStatus.RUNNING, heartbeat_at=now - timedelta(seconds=5)
    )
    assert backtests.backtest_runs_reap(now=now, stale_seconds=60) == 1
    lost.refresh_from_db()
    alive.refresh_from_db()
    assert lost.status == RunStatus.FAILED and "no sign of life for 60 s" in lost.error
    assert alive.status == RunStatus.RUNNING


def test_make_run_reaps_a_run_whose_web_process_died(settings):
    """``make run`` has no Celery beat: rundesk reaps while it waits for the web server - at once,
    then every minute. A run the web process left RUNNING (stopped mid-run) is FAILED; a live one is
    not. (Before, nothing reaped in ``make run``: the run showed RUNNING for ever.)"""
    import subprocess
    import sys

    from trading.management.commands import rundesk

    settings.BACKTEST_STALE_SECONDS = 60
    request = backtests.backtest_request(start=START, end=END, strategies=[STRATEGY])
    lost, alive = backtests.backtest_create(request), backtests.backtest_create(request)
    now = timezone.now()
    BacktestRun.objects.filter(pk=lost.pk).update(
        status=RunStatus.RUNNING, heartbeat_at=now - timedelta(seconds=61)
    )
    BacktestRun.objects.filter(pk=alive.pk).update(status=RunStatus.RUNNING, heartbeat_at=now)
    web = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(0.3)"]
    )  # the web server's stand-in
    assert rundesk.wait_reaping(web, every=0.1) == 0
    lost.refresh_from_db()
    alive.refresh_from_db()
    assert lost.status == RunStatus.FAILED and "no sign of life" in lost.error
    assert alive.status == RunStatus.RUNNING


def test_a_run_is_not_run_twice():
    run = _run()
    again = backtests.backtest_run_execute(run.pk)
    assert again.status == RunStatus.DONE
    assert Trade.objects.filter(backtest_run=run).count() == run.trade_count


@pytest.mark.parametrize(
    ("over", "field", "words"),
    [
        ({"end": START - timedelta(days=1)}, "end", "before the start"),
        ({"strategies": ["NoSuchStrategy"]}, "strategies", "unknown strategy"),
        (
            {"overrides": {STRATEGY: {"gap_em": 5}}},
            "overrides",
            "EMACrossoverStrategy.gap_em: 5.0 is above the maximum 1.0",
        ),
        ({"overrides": {"PCRStrategy": {"quiet_bars": 3}}}, "overrides", "not one of the run's strategies"),
        ({"data_source": "KITE"}, "data_source", "not a source backtests can read"),
        ({"index": "BANKNIFTYX"}, "index", "unknown index 'BANKNIFTYX'"),
        ({"seed": -1}, "seed", "a whole number from 0 to 2147483647"),
        ({"seed": 2**31}, "seed", "a whole number from 0"),
        ({"seed": 7.5}, "seed", "a whole number from 0"),
        ({"seed": True}, "seed", "a whole number from 0"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(over, field, words):
    args = dict(start=START, end=END, strategies=[STRATEGY])
    args.update(over)
    with pytest.raises(ValidationError) as caught:
        backtests.backtest_request(**args)
    assert words in " ".join(caught.value.message_dict[field])


def test_the_command_refuses_bad_settings_before_any_run_is_stored(db):
    """``manage.py backtest`` with a bad seed or index: a one-line error naming the option (it was a
    traceback), and no run stored."""
    from io import StringIO

    from django.core.management import CommandError, call_command

    for args, words in [
        (["--seed", "-1"], "--seed: -1"),
        (["--index", "BANKNIFTYX"], "--index: unknown index"),
        (["--strategy", "Nope"], "--strategy: unknown strategy 'Nope'"),  # the option, not the field
        (["--param", "X.y=1"], "--param: X: not one of the run's strategies"),
    ]:
        with pytest.raises(CommandError, match=words):
            call_command("backtest", "--start", START.isoformat(), *args, stdout=StringIO())
    assert not BacktestRun.objects.exists()


def test_overrides_parse_from_lines():
    assert backtests.parse_overrides("EMACrossoverStrategy.gap_em=0.05\n\n X.active = false") == {
        "EMACrossoverStrategy": {"gap_em": 0.05},
        "X": {"active": False},
    }
    with pytest.raises(ValidationError, match="expected Strategy.parameter=value"):
        backtests.parse_overrides("gap_em=1")


def test_the_page_starts_a_run_and_shows_it(client):
    client.force_login(user_with_role("trader", "t"))
    response = client.post(
        "/backtests/start/",
        {
            "start": START.isoformat(),
            "end": END.isoformat(),
            "strategies": [STRATEGY],
            "data_source": "SIM",
            "index": "NIFTY",
            "seed": SEED,
            "overrides": "EMACrossoverStrategy.gap_em=0.02\nEMACrossoverStrategy.memory=30",
        },
    )
    run = BacktestRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/backtests/{run.pk}/"
    assert run.requested_by.username == "t" and run.status == RunStatus.DONE
    page = client.get(f"/backtests/{run.pk}/").content.decode()
    assert 'id="key-figures"' in page  # the analytics report of this run
    assert 'id="mc-bands"' in page or 'data-empty="monte-carlo"' in page  # its Monte Carlo (docs/research.md)
    assert f'href="/research/runs/{run.pk}/monte-carlo/"' in page
    assert f"backtest_run={run.pk}" in page  # the tearsheet and journal links, scoped to the run
    assert page.count('href="/journal/') >= run.trade_count
    progress = client.get(f"/backtests/{run.pk}/progress/").json()
    assert (
        progress["status"] == "DONE" and progress["progress"] == 1.0 and progress["trades"] == run.trade_count
    )
    assert f"/backtests/{run.pk}/" in client.get("/backtests/").content.decode()


def _finished(model, pk: int, seconds: float = 180):
    """The row once its status is DONE or FAILED (a thread of this process runs it)."""
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        row = model.objects.get(pk=pk)
        if row.status in (RunStatus.DONE, RunStatus.FAILED):
            return row
        time.sleep(0.1)
    raise AssertionError(f"{model.__name__} {pk} still {row.status} after {seconds} s")


@pytest.mark.django_db(transaction=True)
def test_in_make_run_the_page_answers_at_once_and_the_run_goes_on_in_a_thread(client, settings):
    """``make run``'s web server (BACKTEST_EMBEDDED_BACKGROUND, no worker): the start answers with
    the run's page before the run is done - the page shows its progress - and the run then ends DONE
    with the engine's trades. (Before, the request ran the whole backtest: no page, no progress.)"""
    settings.BACKTEST_EMBEDDED_BACKGROUND = True
    client.force_login(user_with_role("trader", "t"))
    base = {
        "start": START.isoformat(),
        "end": END.isoformat(),
        "strategies": [STRATEGY],
        "data_source": "SIM",
    }
    response = client.post("/backtests/start/", {**base, "index": "NIFTY", "seed": SEED})
    run = BacktestRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/backtests/{run.pk}/"
    assert run.status in (RunStatus.PENDING, RunStatus.RUNNING)  # answered before the run is done
    assert 'id="progress"' in client.get(f"/backtests/{run.pk}/").content.decode()
    run = _finished(BacktestRun, run.pk)
    assert run.status == RunStatus.DONE and run.error == ""
    assert Trade.objects.filter(backtest_run=run).count() == run.trade_count == len(plain_backtest({}).trades)
    assert client.get(f"/backtests/{run.pk}/progress/").json()["status"] == "DONE"


def test_the_page_refuses_bad_input_with_a_400_naming_the_field(client):
    client.force_login(user_with_role("trader", "t"))
    base = {"start": START.isoformat(), "data_source": "SIM", "index": "NIFTY", "seed": 7}
    response = client.post("/backtests/start/", {**base, "overrides": "EMACrossoverStrategy.gap_em=9"})
    assert response.status_code == 400
    assert "overrides: EMACrossoverStrategy.gap_em: 9.0 is above the maximum 1.0" in response.content.decode()
    response = client.post("/backtests/start/", {**base, "start": "2026-13-01"})
    assert response.status_code == 400 and "Enter a valid date" in response.content.decode()
    assert not BacktestRun.objects.exists()


def test_a_viewer_sees_runs_but_no_start_form(client):
    client.force_login(user_with_role("viewer", "v"))
    page = client.get("/backtests/").content.decode()
    assert 'id="runs"' in page and 'id="backtest-form"' not in page
    assert client.post("/backtests/start/", {}).status_code == 403


def test_two_runs_side_by_side(client):
    a = _run(name="tight")
    b = _run(name="loose", overrides={STRATEGY: {"gap_em": 0.1, "memory": 60}})
    client.force_login(user_with_role("viewer", "v"))
    page = client.get(f"/backtests/compare/?a={a.pk}&b={b.pk}").content.decode()
    assert f"#{a.pk} tight" in page and f"#{b.pk} loose" in page
    assert page.count("<polyline") == 2 and "gap_em=0.1" in page
    response = client.get(f"/backtests/compare/?a={a.pk}")
    assert response.status_code == 400 and response.content.decode().startswith("b:")


def test_the_command_writes_the_runs_tearsheet(tmp_path):
    out = io.StringIO()
    target = tmp_path / "run.html"
    call_command(
        "backtest",
        "--start", START.isoformat(), "--end", END.isoformat(), "--strategy", STRATEGY,
        "--param", "EMACrossoverStrategy.gap_em=0.02", "--param", "EMACrossoverStrategy.memory=30",
        "--report", str(target),
        stdout=out,
    )  # fmt: skip
    run = BacktestRun.objects.get()
    text = target.read_text()
    assert f"Wrote {target}" in out.getvalue() and f"{run.trade_count} trade(s)" in out.getvalue()
    assert "<script src=" not in text and 'id="key-figures"' in text  # self-contained, the same report


def test_the_admin_shows_a_runs_settings_and_results_read_only(client):
    run = _run()
    client.force_login(user_with_role("operator", "o"))
    page = client.get(f"/admin/trading/backtestrun/{run.pk}/change/").content.decode()
    assert "&quot;gap_em&quot;: 0.02" in page and "max_drawdown" in page
    assert 'name="_save"' not in page  # written by the services only
    assert client.get("/admin/trading/sweep/").status_code == 200


def test_progress_is_read_off_the_calendar_at_each_cycles_bar():
    from types import SimpleNamespace

    from tests.helpers import ist

    run = backtests.backtest_create(backtests.backtest_request(start=START, end=END, strategies=[STRATEGY]))
    assert run.bars_total == 3 * 375  # 2026-03-02, 03-04, 03-05 (Holi on 03-03)
    BacktestRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING)  # claimed, as a worker does
    tracker = backtests._Progress(run.pk, backtests.session_bars(START, END))
    tracker(SimpleNamespace(bar_time=ist(2026, 3, 2, 9, 15)))  # the first bar of the first session
    assert tracker.done == 1
    tracker(SimpleNamespace(bar_time=ist(2026, 3, 4, 9, 20)))  # bars skipped by the engine still count
    assert tracker.done == 375 + 6
    tracker(SimpleNamespace(bar_time=ist(2026, 3, 5, 15, 29)))  # the last bar
    tracker.beat()
    run.refresh_from_db()
    assert run.bars_done == run.bars_total and run.heartbeat_at is not None


def _broker_calls() -> float:
    """Every observation of the desk's broker latency histogram (all brokers and endpoints)."""
    from trading.metrics import definitions

    return sum(
        s.value
        for metric in definitions.BROKER_LATENCY.collect()
        for s in metric.samples
        if s.name.endswith("_count")
    )


def test_a_backtests_orders_are_not_counted_as_the_desks_broker_calls():
    """A backtest places its orders on a paper broker that is not observed: the broker panels
    (trading_broker_api_*) show the desk's calls only; the desk's own paper broker is still timed."""
    from trading.execution.live import backtest_broker, paper_broker

    before = _broker_calls()
    run = _run()
    assert run.trade_count > 0, "the run must place orders for this test to mean anything"
    assert _broker_calls() == before
    assert backtest_broker().observed is False
    desk = paper_broker()
    desk.order_status("nothing")
    assert _broker_calls() == before + 1


def test_the_closed_trades_set_aside_on_disk_come_back_equal_and_in_order():
    """A run's closed trades wait in an anonymous temporary file (memory flat however long the run):
    read back equal (Decimals, aware datetimes, nested context), in order, and the file is closed once
    drained - or when the reader stops half-way (a bad trade aborts the journaling)."""
    from datetime import UTC, datetime

    items = [
        {
            "trade_id": f"BT1-{i}",
            "entry_price": Decimal("101.05") + i,
            "entry_time": datetime(2026, 5, 4, 4, i, tzinfo=UTC),
            "entry_features": {"rsi": 41.5 + i, "regime": ["TREND", None]},
        }
        for i in range(50)
    ]
    spill = backtests._Spill()
    for item in items:
        spill.add(item)
    assert list(spill.drain()) == items
    assert spill._file.closed

    spill = backtests._Spill()
    for item in items:
        spill.add(item)
    reader = spill.drain()
    assert next(reader) == items[0]
    reader.close()
    assert spill._file.closed
