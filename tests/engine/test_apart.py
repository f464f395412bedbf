"""``core.apart.MapApart``: a function over items in a forked process - the results in the order
sent, equal to the function run here; an item the child could not work out handed back as it was;
a child that dies is an error, never a short list; no process is left behind, whoever stops first."""

from __future__ import annotations

import io
import os
import signal
import time
from decimal import Decimal

import pytest

from tests.helpers import assert_child_ends_with, child_processes, process_alive, script_process
from trading.core.apart import END, ApartDied, MapApart, Truncated, can_fork, read_item, write_item

pytestmark = pytest.mark.skipif(not can_fork(), reason="needs os.fork")


@pytest.fixture
def no_child_left():
    before = child_processes()
    yield
    assert child_processes() - before == set()  # the child was reaped, whatever happened


def _facts(n: int) -> dict:
    return {"n": n, "price": Decimal(n) / 7, "text": "x" * (n % 50)}


def test_the_framing_tells_an_end_from_a_writer_that_died_mid_item() -> None:
    buf = io.BytesIO()
    for n in range(3):
        write_item(buf, _facts(n))
    whole = buf.getvalue()
    src = io.BytesIO(whole + bytes(8))  # the end marker MapApart writes: a length of 0
    assert [read_item(src) for _ in range(3)] == [_facts(n) for n in range(3)]
    assert read_item(src) is END
    with pytest.raises(EOFError) as ended:
        read_item(io.BytesIO(b""))  # nothing at all: no more items, not a torn one
    assert not isinstance(ended.value, Truncated)
    for cut in (3, 8 + 5, len(whole) - 1):  # inside the first length, the first pickle, the last one
        src = io.BytesIO(whole[:cut])
        with pytest.raises(Truncated):
            while True:
                read_item(src)


def _work(item: dict) -> dict:
    if item["n"] % 5 == 3:
        raise ValueError(f"bad {item['n']}")
    return {"n": item["n"], "value": item["price"] * 3, "pid": os.getpid()}


def test_the_results_come_in_order_as_the_function_gives_them_here(no_child_left) -> None:
    items = [_facts(n) for n in range(2000)]  # ~100 kB: more than a small pipe holds
    apart = MapApart(_work)
    for item in items:
        apart.send(item)
    got = list(apart.results())
    expected = []  # the same function, run here
    for item in items:
        try:
            expected.append((True, _work(item)))
        except ValueError:
            expected.append((False, item))
    assert [(ok, {**v, "pid": 0} if ok else v) for ok, v in got] == [
        (ok, {**v, "pid": 0} if ok else v) for ok, v in expected
    ]
    assert {v["pid"] for ok, v in got if ok} == {apart.pid} != {os.getpid()}  # done in the child
    assert sum(1 for ok, _ in got if not ok) == 400  # every fifth item, handed back as it was


def test_nothing_sent_gives_nothing(no_child_left) -> None:
    assert list(MapApart(_work).results()) == []


def test_the_child_runs_at_the_niceness_asked(no_child_left) -> None:
    apart = MapApart(lambda _: os.nice(0), nice=5)
    apart.send(None)
    ((ok, niceness),) = list(apart.results())
    assert ok and niceness == min(19, os.nice(0) + 5)


def _dies_at(at: int):
    def work(item: dict) -> dict:
        if item["n"] == at:
            os.kill(os.getpid(), signal.SIGKILL)
        return item

    return work


def test_a_child_killed_midway_is_an_error_not_a_short_list(no_child_left) -> None:
    apart = MapApart(_dies_at(10), what="test work")
    with pytest.raises(ApartDied, match="test work"):
        for n in range(5000):  # the pipe breaks once the child is gone ...
            apart.send(_facts(n))
            time.sleep(0.0005 if n < 20 else 0)
        list(apart.results())  # ... or the results say so: never fewer results than items


def test_a_child_killed_after_the_last_item_is_an_error_too(no_child_left) -> None:
    apart = MapApart(_dies_at(4))
    for n in range(5):
        apart.send(_facts(n))
    with pytest.raises(ApartDied, match="code -9, no of 5 results"):
        list(apart.results())


def test_stopping_first_kills_and_reaps_the_child(no_child_left) -> None:
    apart = MapApart(lambda item: time.sleep(30))
    apart.send(1)
    apart.close()  # the caller failed: the child's work is not needed
    apart.close()  # twice is harmless
    assert not process_alive(apart.pid)


_PARENT = """
import time
from trading.core.apart import MapApart
apart = MapApart(lambda item: item)
apart.send(1)
print(apart.pid, flush=True)
time.sleep(30)  # held here until killed
"""


def test_the_child_ends_when_the_parent_is_killed(tmp_path) -> None:
    """kill -9 of the process that sends: the child reads the end of its input and ends."""
    parent = script_process(tmp_path, _PARENT)
    assert_child_ends_with(parent, int(parent.stdout.readline()))
