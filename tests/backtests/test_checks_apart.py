"""A backtest's trades checked for the journal in a forked process beside the run (``checks_apart``:
``manage.py backtest``'s default, ``--checks-inline`` to check them after the run here): the same
journal and performance tables as checked here; a trade the child could not check is checked here;
a bad trade fails the run as it does inline; the checking process killed mid-run fails the run with
nothing stored. No process is left behind either way."""

from __future__ import annotations

import os
import signal
from datetime import date
from io import StringIO

import pytest
from django.core.management import call_command

from journal.models import Trade
from journal.services import TradeWriter
from tests.helpers import child_processes
from tests.journal.test_record_trades import _clear, _tables
from trading.core.apart import ApartDied, can_fork
from trading.execution import backtests
from trading.execution.models import BacktestRun, RunStatus

pytestmark = [pytest.mark.django_db, pytest.mark.skipif(not can_fork(), reason="needs os.fork")]

START, END = date(2025, 3, 3), date(2025, 3, 7)  # five simulated sessions, two weekly expiries
PARENT = os.getpid()


@pytest.fixture
def no_child_left():
    before = child_processes()
    yield
    assert child_processes() - before == set()  # reaped, whatever happened


def _calls_by_process(monkeypatch, log, owner, name: str):
    """``owner.name`` logging the id of each process that calls it (to a file: a child's memory is
    its own); returns a function giving the ids logged since it was last called."""
    original = getattr(owner, name)

    def logged(*args, **kwargs):
        with log.open("a") as f:
            f.write(f"{os.getpid()}\n")
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, logged)

    def pids() -> set[int]:
        found = {int(p) for p in log.read_text().split()} if log.exists() else set()
        log.unlink(missing_ok=True)
        return found

    return pids


@pytest.fixture
def checked_where(monkeypatch, tmp_path):
    """The process ids that ran ``TradeWriter.check``."""
    return _calls_by_process(monkeypatch, tmp_path / "pids", TradeWriter, "check")


@pytest.fixture
def rows_where(monkeypatch, tmp_path):
    """The process ids that worked out a trade's INSERT parameters (``journal.bulk.row_of``)."""
    from journal import bulk

    return _calls_by_process(monkeypatch, tmp_path / "row-pids", bulk, "row_of")


def _command(*extra: str) -> BacktestRun:
    call_command(
        "backtest", "--start", str(START), "--end", str(END), "--seed", "3", *extra, stdout=StringIO()
    )
    return BacktestRun.objects.latest("pk")


def _journal(run: BacktestRun) -> tuple:
    """The journal's tables, each trade without what names its run: its id's ``BT<run>-`` prefix and
    its order ids (made from the position's id, prefix included)."""
    trades, daily, strategy, cells = _tables()
    prefix = f"BT{run.pk}-"
    for t in trades:
        assert t.pop("backtest_run") == run.pk and t["trade_id"].startswith(prefix)
        assert t.pop("entry_order_id") and t.pop("exit_order_id")
        t["trade_id"] = t["trade_id"].removeprefix(prefix)
        if t.get("combo_id"):
            t["combo_id"] = t["combo_id"].removeprefix(prefix)
    return trades, daily, strategy, cells


def _fresh() -> None:
    _clear()
    BacktestRun.objects.all().delete()


def test_checked_beside_the_run_the_journal_is_the_one_checked_here(
    checked_where, rows_where, no_child_left
) -> None:
    inline_run = _command("--checks-inline")
    assert checked_where() == {PARENT} == rows_where()
    inline = _journal(inline_run)
    assert len(inline[0]) > 10 and inline_run.status == RunStatus.DONE
    _fresh()
    apart_run = _command()  # the default
    where = checked_where()
    assert len(where) == 1 and PARENT not in where  # every trade checked in the one child
    assert rows_where() == where  # and its INSERT parameters worked out there too
    assert apart_run.status == RunStatus.DONE
    assert _journal(apart_run) == inline
    assert apart_run.summary == inline_run.summary


def test_a_trade_the_child_could_not_check_is_checked_here(monkeypatch, no_child_left) -> None:
    inline = _journal(_command("--checks-inline"))
    _fresh()
    check = TradeWriter.check

    def flaky(self, fields):
        if os.getpid() != PARENT and int(float(fields["strike_price"])) % 200 == 0:
            raise MemoryError("the child ran short")  # not the trade's fault: checked again here
        return check(self, fields)

    monkeypatch.setattr(TradeWriter, "check", flaky)
    run = _command()
    assert run.status == RunStatus.DONE and _journal(run) == inline


def _bad_on_the_fourth(monkeypatch) -> None:
    """Every trade entered on 2025-03-04 has a negative exit price: bad, wherever it is checked."""
    check = TradeWriter.check

    def bad(self, fields):
        if fields["entry_time"].date() == date(2025, 3, 4):
            fields = {**fields, "exit_price": "-1"}
        return check(self, fields)

    monkeypatch.setattr(TradeWriter, "check", bad)


def test_a_bad_trade_fails_the_run_as_it_does_inline(monkeypatch, no_child_left) -> None:
    _bad_on_the_fourth(monkeypatch)
    errors = []
    for extra in (("--checks-inline",), ()):
        with pytest.raises(Exception) as raised:
            _command(*extra)
        run = BacktestRun.objects.latest("pk")
        assert run.status == RunStatus.FAILED and not Trade.objects.exists()
        errors.append((type(raised.value), run.error))
    assert errors[0] == errors[1]
    assert "trades[" in errors[0][1] and "exit_price" in errors[0][1]


def test_the_checking_process_killed_fails_the_run_and_stores_nothing(monkeypatch, no_child_left) -> None:
    """The process checking the trades dies (the OOM killer, a kill -9) in the middle of the run: the
    run is FAILED with the reason, no trade of it is in the journal."""
    check = TradeWriter.check
    calls = {"n": 0}

    def dying(self, fields):
        calls["n"] += 1
        if os.getpid() != PARENT and calls["n"] == 3:
            os.kill(os.getpid(), signal.SIGKILL)
        return check(self, fields)

    monkeypatch.setattr(TradeWriter, "check", dying)
    with pytest.raises(ApartDied, match="journal's checks"):
        backtests.backtest_execute(start=START, end=END, seed=3, checks_apart=True)
    run = BacktestRun.objects.get()
    assert run.status == RunStatus.FAILED and "ApartDied" in run.error
    assert not Trade.objects.exists()


def test_where_no_process_can_be_forked_the_checks_stay_here(
    checked_where, monkeypatch, no_child_left
) -> None:
    inline = _journal(_command("--checks-inline"))
    _fresh()
    checked_where()

    def no_fork():
        raise BlockingIOError(11, "Resource temporarily unavailable")  # EAGAIN: the process limit

    monkeypatch.setattr(os, "fork", no_fork)
    run = _command()
    assert run.status == RunStatus.DONE and _journal(run) == inline
    assert checked_where() == {PARENT}
