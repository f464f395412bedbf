"""Recovery from killed processes, with real processes:

* a Celery worker's child killed with SIGKILL mid-task, and a whole worker killed: each time the task
  comes back and finishes - one order, one position, one trade - within 2 minutes (real worker
  against Redis and the test PostgreSQL database);
* ``runtrader`` killed with SIGKILL mid-session and started again: it resumes on the same open
  positions and orders, with no duplicates, and ends with the trades an uninterrupted run makes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from journal.models import Trade
from tests.engine.conftest import DAY, SEED
from trading.brokers.paper import PaperBroker
from trading.core import orders
from trading.core.backtest import run_backtest
from trading.core.calendar import IST
from trading.core.state import StrategySlot
from trading.execution.config import engine_config
from trading.execution.models import Order, Position, PositionStatus, TradingState
from trading.strategies.models import Signal

ROOT = Path(settings.BASE_DIR)
BAR = timedelta(minutes=1)
REDELIVERY_LIMIT = 120  # seconds: the bound for a task lost with its worker


def _database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "postgresql":
        user = s.get("USER") or "postgres"
        auth = f"{user}:{s['PASSWORD']}" if s.get("PASSWORD") else user
        return f"postgres://{auth}@{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{s['NAME']}"
    return f"sqlite:///{s['NAME']}"


def _env(tmp_path: Path, **extra: str) -> dict:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=_database_url(),  # the TEST database, not the developer's
        VAR_DIR=str(tmp_path / "var"),
        TRADE_SPOOL_PATH=str(tmp_path / "spool.jsonl"),
        SECRET_KEY="recovery-tests-" + "0123456789abcdef" * 4,  # strong enough for DEBUG off
        DEBUG="0",
        SIM_SEED=str(SEED),
        SIM_START=DAY.isoformat(),
        PYTHONUNBUFFERED="1",
    )
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(extra)
    return env


def _wait(predicate, timeout: float, what: str, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def backtested():
    """The trades of an uninterrupted run of DAY (the backtest: same decisions as the live path)."""
    from trading.core.live import SimSource
    from trading.core.strategies import registry

    source = SimSource(index="NIFTY", seed=SEED, start=DAY)
    slots = {
        s.name: StrategySlot(name=s.name, cooldown_minutes=s.cooldown_minutes)
        for s in registry.all_strategies()
    }
    return run_backtest(
        [source.day(DAY)],
        strategies=slots,
        broker=PaperBroker(),
        config=engine_config("NIFTY", mode="PAPER"),
        iv_history=source.iv_history(),
    )


def _entry_bar(backtested):
    first = min(backtested.trades, key=lambda c: c.position.entry_time)
    return first.position.signal_bar_time


# --- Celery ------------------------------------------------------------------------------------------------


@pytest.fixture
def queue(request):
    """A queue of this test's own on our Redis db, emptied first."""
    import redis

    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    return f"engine-test-{os.getpid()}-{request.node.name[-20:]}"


def _worker(tmp_path: Path, queue: str, pause_at: str, name: str) -> subprocess.Popen:
    env = _env(
        tmp_path,
        DESK_TEST_PAUSE_AT=pause_at,
        DESK_TEST_PAUSE_FILE=str(tmp_path / "pause"),
        CELERY_TASK_ALWAYS_EAGER="0",
    )
    log = open(tmp_path / f"{name}.log", "ab")
    return subprocess.Popen(
        [
            str(ROOT / ".venv/bin/celery"),
            "-A",
            "tradingsite",
            "worker",
            "--pool",
            "prefork",
            "--concurrency",
            "1",
            "-Q",
            queue,
            "-n",
            f"{name}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel",
            "INFO",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _entry_order_count(coid: str) -> int:
    return Order.objects.filter(client_order_id=coid).count()


def _processed(bar_time) -> bool:
    ts = TradingState.objects.filter(index="NIFTY").first()
    return bool(ts and ts.last_bar_time and ts.last_bar_time >= bar_time)


def _send_cycle(queue: str, at):
    from trading import tasks

    return tasks.run_cycle.apply_async(kwargs={"index": "NIFTY", "at": at.isoformat()}, queue=queue)


def _one_order_one_position_one_trade(tmp_path, queue, bar_time, worker):
    signal_row = Signal.objects.filter(bar_time=bar_time, status="ACCEPTED").first()
    assert signal_row is not None
    coid = orders.entry_order_id(
        mode="PAPER",
        index="NIFTY",
        strategy=signal_row.strategy_name,
        bar_time=bar_time,
        direction=signal_row.direction,
    )
    assert _entry_order_count(coid) == 1
    order = Order.objects.get(client_order_id=coid)
    assert order.status == orders.FILLED and order.position is not None
    assert Position.objects.filter(position_id=order.position_ref).count() == 1
    from trading import tasks

    off = (bar_time + 5 * BAR).isoformat()
    tasks.square_off.apply_async(kwargs={"index": "NIFTY", "at": off}, queue=queue)
    tasks.square_off.apply_async(kwargs={"index": "NIFTY", "at": off}, queue=queue)  # delivered twice
    _wait(lambda: Trade.objects.filter(trade_id=order.position_ref).exists(), 60, "the trade")
    _wait(
        lambda: not Position.objects.filter(status=PositionStatus.OPEN).exists(), 30, "all positions closed"
    )
    time.sleep(1.0)
    assert Trade.objects.filter(trade_id=order.position_ref).count() == 1
    assert (
        Order.objects.filter(position=order.position, purpose=orders.EXIT, parent__isnull=True).count() == 1
    )


@pytest.mark.services
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_worker_child_killed_mid_task_is_redelivered_and_finishes_once(tmp_path, queue, backtested):
    bar_time = _entry_bar(backtested)
    pause = tmp_path / "pause"
    pause.write_text("block")
    worker = _worker(tmp_path, queue, "after_broker", "child-kill")
    try:
        _send_cycle(queue, bar_time + BAR)
        reached = Path(str(pause) + ".reached")
        child = int(
            _wait(lambda: reached.exists() and reached.read_text().split(), 90, "the task at its pause")[0]
        )
        killed_at = time.monotonic()
        # The order is stored and the broker filled it; the position is not stored yet.
        assert Order.objects.filter(purpose="ENTRY", status="FILLED").count() == 1
        assert not Position.objects.exists()
        os.kill(child, signal.SIGKILL)
        pause.unlink()
        _wait(lambda: _processed(bar_time), REDELIVERY_LIMIT, "the redelivered task to finish")
        took = time.monotonic() - killed_at
        print(f"\n[recovery] worker child SIGKILLed: task redelivered and finished in {took:.1f}s")
        assert took < REDELIVERY_LIMIT
        _one_order_one_position_one_trade(tmp_path, queue, bar_time, worker)
    finally:
        _stop(worker)


@pytest.mark.services
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_whole_worker_killed_mid_task_comes_back_within_two_minutes(tmp_path, queue, backtested):
    bar_time = _entry_bar(backtested)
    pause = tmp_path / "pause"
    pause.write_text("block")
    first = _worker(tmp_path, queue, "order_created", "first")
    second = None
    try:
        _send_cycle(queue, bar_time + BAR)
        reached = Path(str(pause) + ".reached")
        _wait(lambda: reached.exists() and reached.read_text().split(), 90, "the task at its pause")
        assert Order.objects.filter(purpose="ENTRY", status="NEW").count() == 1
        killed_at = time.monotonic()
        os.killpg(first.pid, signal.SIGKILL)  # the worker and its children, no warm shutdown
        first.wait(timeout=10)
        pause.unlink()
        second = _worker(tmp_path, queue, "", "second")
        _wait(lambda: _processed(bar_time), REDELIVERY_LIMIT, "the task to come back and finish", every=0.5)
        took = time.monotonic() - killed_at
        print(f"\n[recovery] whole worker SIGKILLed: task came back and finished in {took:.1f}s")
        assert took < REDELIVERY_LIMIT, f"redelivered after {took:.0f}s"
        _one_order_one_position_one_trade(tmp_path, queue, bar_time, second)
    finally:
        _stop(first)
        if second is not None:
            _stop(second)


# --- runtrader ------------------------------------------------------------------------------------------


def _runtrader(tmp_path: Path, name: str) -> subprocess.Popen:
    env = _env(tmp_path)
    if connection.vendor != "postgresql":
        env.pop("REDIS_URL", None)
    log = open(tmp_path / f"{name}.log", "ab")
    return subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "runtrader",
            "--speed",
            "max",
            "--seed",
            str(SEED),
            "--days",
            "1",
            "--start",
            DAY.isoformat(),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_runtrader_killed_mid_session_resumes_with_the_same_positions_and_no_duplicates(tmp_path, backtested):
    open_during = [c for c in backtested.trades if c.position.entry_time.astimezone(IST).hour < 12]
    assert open_during, "the simulated day should trade in the morning"
    kill_after = min(c.position.entry_time for c in open_during) + 2 * BAR
    first = _runtrader(tmp_path, "first")
    try:
        _wait(lambda: _processed(kill_after) or first.poll() is not None, 120, "the loop to trade")
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        _stop(first)
    open_at_kill = set(
        Position.objects.filter(status=PositionStatus.OPEN).values_list("position_id", flat=True)
    )
    orders_at_kill = dict(Order.objects.values_list("client_order_id", "status"))
    assert open_at_kill, "killed while positions were open"
    last_bar = TradingState.objects.get(index="NIFTY").last_bar_time

    second = _runtrader(tmp_path, "second")
    try:
        assert second.wait(timeout=120) == 0, (tmp_path / "second.log").read_text()[-3000:]
    finally:
        _stop(second)
    log = (tmp_path / "second.log").read_text()
    assert f"resuming after {last_bar.astimezone(IST):%Y-%m-%d %H:%M}" in log
    assert f"{len(open_at_kill)} open position(s)" in log

    # The same orders are still there (none placed twice), the positions open at the kill were
    # closed by the resumed run, and the whole day made the trades of an uninterrupted run.
    after = dict(Order.objects.values_list("client_order_id", "status"))
    assert set(orders_at_kill) <= set(after)
    assert not Position.objects.filter(status=PositionStatus.OPEN).exists()
    for pid in open_at_kill:
        assert Trade.objects.filter(trade_id=pid).count() == 1
    entry_orders = Order.objects.filter(purpose=orders.ENTRY, parent__isnull=True)
    assert entry_orders.count() == Position.objects.count() == Trade.objects.count()
    paper = sorted(
        (
            t.strategy_name,
            t.tradingsymbol,
            t.quantity,
            t.entry_time,
            t.entry_price,
            t.exit_time,
            t.exit_price,
            t.exit_type,
        )
        for t in Trade.objects.all()
    )
    expected = sorted(
        (
            c.trade["strategy_name"],
            c.trade["tradingsymbol"],
            c.trade["quantity"],
            c.trade["entry_time"],
            c.trade["entry_price"],
            c.trade["exit_time"],
            c.trade["exit_price"],
            c.trade["exit_type"],
        )
        for c in backtested.trades
    )
    assert paper == expected
