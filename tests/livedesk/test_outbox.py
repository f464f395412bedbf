"""The outbox: events written in the same transaction as the change they describe, every kind a
trader watches with the ids a client needs, positions in commit order (two concurrent writers on
PostgreSQL), pruning and the resume horizon, no events from backtests, and the closes of an outage
entering the outbox in order when the spool drains."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from journal import spool
from journal.models import Trade
from tests.engine.conftest import DAY
from tests.helpers import NOW, at_once, database_unreachable, trade_fields, user_with_role
from trading import outbox
from trading.brokers.paper import PaperBroker
from trading.core import risk
from trading.core.calendar import session_open
from trading.core.state import SignalInput
from trading.execution.backtests import backtest_execute
from trading.execution.config import engine_config
from trading.execution.controls import circuit_breaker_reset, kill_switch_set
from trading.execution.desk import Desk
from trading.execution.models import Order, OrderEvent, Position
from trading.outbox import OutboxEvent
from trading.strategies.models import Signal

pytestmark = pytest.mark.django_db


def kinds() -> Counter:
    return Counter(OutboxEvent.objects.values_list("kind", flat=True))


def inject(desk, signals_by_bar: dict):
    """The strategies' signals replaced by ``{bar index: [SignalInput]}`` (the features still run)."""
    real = desk.live.signals
    state = {"i": None}

    def signals(pairs):
        real(pairs)
        return list(signals_by_bar.get(state["i"], []))

    desk.live.signals = signals
    return state


def run(desk, day, i, state, **kw):
    state["i"] = i
    return desk.cycle(bar=day.bar(i), **kw)


def test_an_event_commits_with_its_change_or_not_at_all():
    with pytest.raises(RuntimeError), transaction.atomic():
        outbox.emit(outbox.FEED, key="NIFTY", data={"state": "down"})
        raise RuntimeError("the change failed")
    assert not OutboxEvent.objects.exists()
    with transaction.atomic():
        event = outbox.emit(outbox.FEED, key="NIFTY", data={"state": "down"})
    assert outbox.read(0) == [event]
    with pytest.raises(ValueError):
        outbox.emit("no-such-kind")


@pytest.mark.slow
def test_a_simulated_session_writes_every_event_with_the_ids_a_client_needs(paper_desk, source):
    day = source.day(DAY)
    for i in range(len(day)):
        paper_desk.cycle(bar=day.bar(i))
    events = outbox.read(0, limit=100_000)
    seqs = [e.seq for e in events]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # dense, in order
    by_kind = Counter(e.kind for e in events)

    # A bar event per bar, with the market strip and the day's P&L point.
    bars = [e for e in events if e.kind == outbox.BAR]
    assert len(bars) == len(day)
    assert all(b.data["spot"] and b.data["vix"] and b.data["expiry"] for b in bars)
    assert bars[-1].data["day_pnl"] == bars[-1].data["realised"]  # all squared off at the close
    realised = sum((t.net_pnl for t in Trade.objects.all()), start=0)
    assert float(bars[-1].data["realised"]) == pytest.approx(float(realised))
    assert by_kind[outbox.SESSION_CLOSED] == 1

    # Orders: one event per stored transition (creation included), keyed by the client order id.
    order_events = [e for e in events if e.kind == outbox.ORDER]
    assert len(order_events) == OrderEvent.objects.count() > 0
    for e in order_events:
        order = Order.objects.get(client_order_id=e.key)
        assert e.data["client_order_id"] == order.client_order_id
    last_status = {e.key: e.data["status"] for e in order_events}
    assert last_status == dict(Order.objects.values_list("client_order_id", "status"))
    fills = [e for e in events if e.kind == outbox.FILL]
    assert {e.key for e in fills} == set(
        Order.objects.filter(filled_quantity__gt=0).values_list("client_order_id", flat=True)
    )

    # Signals: each stored signal once, with its outcome and reason code.
    signal_events = [e for e in events if e.kind == outbox.SIGNAL]
    assert sorted(int(e.key) for e in signal_events) == sorted(Signal.objects.values_list("pk", flat=True))
    for e in signal_events:
        signal = Signal.objects.get(pk=int(e.key))
        assert (e.data["status"], e.data["reject_reason"]) == (signal.status, signal.reject_reason)

    # Positions: opened, marked while open, closed; each trade recorded once with its trade_id.
    trades = set(Trade.objects.values_list("trade_id", flat=True))
    positions = set(Position.objects.values_list("position_id", flat=True))
    assert trades == positions and trades
    assert {e.key for e in events if e.kind == outbox.POSITION_OPENED} == positions
    assert Counter(e.key for e in events if e.kind == outbox.POSITION_CLOSED) == dict.fromkeys(positions, 1)
    recorded = [e for e in events if e.kind == outbox.TRADE_RECORDED]
    assert Counter(e.data["trade_id"] for e in recorded) == dict.fromkeys(trades, 1)
    for e in recorded:
        assert e.data["net_pnl"] == str(Trade.objects.get(trade_id=e.key).net_pnl)
    marks = [e for e in events if e.kind == outbox.POSITION_MARKED]
    assert {e.key for e in marks} == positions
    for e in marks:
        data = e.data
        assert data["greeks"]["delta"] is not None and data["greeks"]["iv"]
        last, stop, target = (float(data[k]) for k in ("last_price", "stop", "target"))
        assert float(data["to_stop"]) == pytest.approx(last - stop, abs=0.011)
        assert float(data["to_target"]) == pytest.approx(target - last, abs=0.011)
        unrealised = (last - float(data["entry_price"])) * data["quantity"]
        assert float(data["unrealised"]) == pytest.approx(unrealised, abs=0.011)
    # A position's events come in its life's order: opened < marks < closed < trade recorded.
    for pid in positions:
        mine = [e.kind for e in events if e.key == pid]
        assert mine[0] == outbox.POSITION_OPENED and mine[-2:] == [
            outbox.POSITION_CLOSED,
            outbox.TRADE_RECORDED,
        ]
    assert by_kind[outbox.MODE] == 1  # the desk said which mode it trades in, once


def test_controls_write_their_events_with_who_and_why():
    staff = user_with_role("operator", "boss", password="pw")
    kill_switch_set(index="NIFTY", on=True, user=staff, reason="news")
    circuit_breaker_reset(index="NIFTY", user=staff, reason="checked")
    kill, breaker = outbox.read(0)
    assert (kill.kind, kill.key, kill.data["on"], kill.data["reason"], kill.data["user"]) == (
        outbox.KILL_SWITCH,
        "NIFTY",
        True,
        "news",
        "boss",
    )
    assert (breaker.kind, breaker.data["on"]) == (outbox.BREAKER, False)


def test_the_breaker_trip_is_an_event_of_the_cycle_that_trips_it(paper_desk, source, settings):
    settings.MAX_CONSECUTIVE_LOSSES = 1
    paper_desk.config = engine_config("NIFTY", mode="PAPER")
    day = source.day(DAY)
    hook = inject(paper_desk, {30: [SignalInput("PCRStrategy", "CALL", 0.9, "t")]})
    run(paper_desk, day, 30, hook)
    run(paper_desk, day, 31, hook, force_exit=risk.SQUARE_OFF)  # a round trip at once: a loss (charges)
    trip = outbox.latest(outbox.BREAKER, index="NIFTY")
    assert trip is not None and trip.data["on"] is True and "consecutive losses" in trip.data["reason"]
    closed = outbox.latest(outbox.TRADE_RECORDED)
    assert closed.seq < trip.seq  # the trade that tripped it, then the trip, in the same commit


def test_backtests_write_no_events():
    backtest_execute(start=DAY, end=DAY, seed=7)
    assert Trade.objects.filter(entry_mode="BACKTEST").exists()
    assert not OutboxEvent.objects.exists()


def test_manual_trades_are_events_and_imports_are_not():
    from journal.services import record_trade

    record_trade(now=NOW, **trade_fields(trade_id="M-1"))
    with outbox.suppressed():
        record_trade(now=NOW, **trade_fields(trade_id="M-2"))
    assert [e.key for e in outbox.read(0)] == ["M-1"]


@pytest.mark.django_db(transaction=True)
def test_closes_spooled_during_an_outage_enter_the_outbox_in_order_when_the_spool_drains(paper_desk, source):
    day = source.day(DAY)
    hook = inject(
        paper_desk,
        {
            30: [
                SignalInput("PCRStrategy", "CALL", 0.9, "t"),
                SignalInput("MaxPainStrategy", "PUT", 0.9, "t"),
            ],
        },
    )
    for i in range(28, 32):
        run(paper_desk, day, i, hook)
    opened = list(Position.objects.order_by("id").values_list("position_id", flat=True))
    assert len(opened) == 2
    before = outbox.head()
    with database_unreachable():
        report = run(paper_desk, day, 33, hook, force_exit=risk.SQUARE_OFF)
        assert report.spooled == 2 and spool.depth() == 4
    assert outbox.head() == before  # nothing could be written meanwhile
    spooled_order = [line for line in spool.spool_path().read_text().splitlines()]
    run(paper_desk, day, 35, hook)  # back: the spool drains first
    assert spool.depth() == 0
    after = [
        e
        for e in outbox.read(before, limit=1000)
        if e.kind in (outbox.POSITION_CLOSED, outbox.TRADE_RECORDED)
    ]
    expected = []
    for line in spooled_order:
        kind = '"kind": "position_close"' in line
        key = next(pid for pid in opened if pid in line)
        expected.append((outbox.POSITION_CLOSED if kind else outbox.TRADE_RECORDED, key))
    assert [(e.kind, e.key) for e in after] == expected
    assert all(e.data.get("spooled") for e in after if e.kind == outbox.POSITION_CLOSED)


def test_pruning_keeps_the_newest_and_the_horizon_says_who_may_resume():
    with transaction.atomic():
        for n in range(5):
            outbox.emit(outbox.FEED, key=f"k{n}", data={"n": n})
    old = timezone.now() - timedelta(days=10)
    first = outbox.head() - 4
    OutboxEvent.objects.update(created_at=old)  # all five are ten days old
    assert outbox.prune(7) == 4
    h = outbox.horizon()
    assert h.oldest == h.head == first + 4  # the newest is kept: positions never restart
    assert h.can_resume(h.head) and h.can_resume(h.head - 1)
    assert not h.can_resume(first) and not h.can_resume(None) and not h.can_resume(h.head + 1)
    with transaction.atomic():
        outbox.emit(outbox.FEED, key="next")
    assert outbox.head() == h.head + 1


# --- commit order on PostgreSQL --------------------------------------------------------------------------


def _writer(started: threading.Event, release: threading.Event, key: str, errors: list) -> None:
    try:
        with transaction.atomic():
            outbox.emit(outbox.FEED, key=key)
            started.set()
            release.wait(10)
    except Exception as exc:  # noqa: BLE001 - reported by the test
        errors.append(exc)
    finally:
        connections.close_all()


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_writers_on_postgresql_a_reader_by_position_misses_nothing():
    assert connection.vendor == "postgresql"
    errors: list = []
    a_started, a_release = threading.Event(), threading.Event()
    b_started, b_release = threading.Event(), threading.Event()
    a = threading.Thread(target=_writer, args=(a_started, a_release, "A", errors))
    a.start()
    assert a_started.wait(10)  # A holds the smaller id, uncommitted
    b = threading.Thread(target=_writer, args=(b_started, b_release, "B", errors))
    b.start()
    assert b_started.wait(10)
    b_release.set()
    b.join(10)  # B (the larger id) commits first
    ids = dict(OutboxEvent.objects.values_list("key", "id"))
    assert list(ids) == ["B"]
    naive_last = ids["B"]  # what a reader taking id > last would remember now

    first = outbox.read(0)
    assert [e.key for e in first] == ["B"]
    a_release.set()
    a.join(10)
    assert not errors
    second = outbox.read(first[-1].seq)
    assert [e.key for e in second] == ["A"]  # A committed later: it comes later, and is not lost
    assert second[0].id < naive_last  # ... which a reader by id (id > last) would have skipped
    assert not OutboxEvent.objects.filter(id__gt=naive_last).exists()


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_many_concurrent_writers_on_postgresql_every_event_read_once_in_commit_order():
    assert connection.vendor == "postgresql"
    writers, per_writer = 6, 25
    stop = threading.Event()
    seen: list[OutboxEvent] = []

    def write(n: int) -> None:
        import random

        rng = random.Random(n)
        for i in range(per_writer):
            with transaction.atomic():
                outbox.emit(outbox.FEED, key=f"{n}-{i}")
                if rng.random() < 0.5:
                    threading.Event().wait(rng.random() * 0.01)  # hold the transaction a little

    def tail() -> None:
        position = 0
        try:
            while not stop.is_set() or position < outbox.head():
                batch = outbox.read(position, limit=50)
                seen.extend(batch)
                position = batch[-1].seq if batch else position
        finally:
            connections.close_all()

    reader = threading.Thread(target=tail)
    reader.start()
    _, errors = at_once(writers, write)
    stop.set()
    reader.join(60)
    assert not errors
    keys = [e.key for e in seen]
    assert sorted(keys) == sorted(f"{n}-{i}" for n in range(writers) for i in range(per_writer))
    assert [e.seq for e in seen] == list(range(1, len(seen) + 1))
    for n in range(writers):  # one writer's events keep its own order
        mine = [int(k.split("-")[1]) for k in keys if k.startswith(f"{n}-")]
        assert mine == sorted(mine)


class FlakySource:
    """A market source that fails, then answers, then answers with an old bar (a frozen feed)."""

    def __init__(self, real, source: str = "KITE") -> None:
        self.real, self.source, self.mode = real, source, "ok"

    def snapshot(self, at):
        if self.mode == "down":
            raise ConnectionError("ticker disconnected")
        if self.mode == "stale":
            return self.real.snapshot(at - timedelta(minutes=10))
        return self.real.snapshot(at)

    def day(self, d):
        return self.real.day(d)

    def iv_history(self):
        return self.real.iv_history()

    def __getattr__(self, name):  # anything else (first session, ...) as the real source has it
        return getattr(self.real, name)


def test_the_feed_going_down_stale_and_back_is_told_once_per_change(source):
    flaky = FlakySource(source)
    desk = Desk("NIFTY", mode="PAPER", source=flaky, broker=PaperBroker())
    at = session_open(DAY) + timedelta(minutes=40)
    desk.cycle(at=at)
    flaky.mode = "down"
    for minute in (1, 2):
        with pytest.raises(ConnectionError):
            desk.cycle(at=at + timedelta(minutes=minute))
    flaky.mode = "stale"
    desk.cycle(at=at + timedelta(minutes=3))
    flaky.mode = "ok"
    desk.cycle(at=at + timedelta(minutes=4))
    states = [e.data["state"] for e in outbox.read(0) if e.kind == outbox.FEED]
    assert states == ["down", "stale", "up"]
    first = next(e for e in outbox.read(0) if e.kind == outbox.FEED)
    assert first.key == "NIFTY" and "ticker disconnected" in first.data["detail"]
