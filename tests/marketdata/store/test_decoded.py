"""Decoded sessions beside the store (``store.decoded``): a session read once is served again from its
decoded file with arrays equal to the Parquet decode, and with its digest (the data version's part of
it) equal to the arrays' hashed afresh; a file made from other partitions (a store write since), by
other code, or damaged (its digest included) is not trusted - the session is decoded again and the
file rewritten; a store that cannot take the file is read as before."""

from __future__ import annotations

import hashlib
import json
from datetime import date

import numpy as np
import pytest

from tests.marketdata.store.test_store_feed import assert_same_day
from trading.core import bars
from trading.core import calendar as market_calendar
from trading.core.bars import byte_runs, session_digest
from trading.core.simulator import MarketSimulator
from trading.execution.backtest_market import MarketHistory
from trading.marketdata import store_feed
from trading.marketdata.store import decoded
from trading.marketdata.store.minute import day_frames
from trading.marketdata.store_feed import StoreFeed

START = date(2025, 1, 1)


def _write(store, sim: MarketSimulator, session: date, *, bump: float = 0.0) -> None:
    frames = day_frames(sim.day(session))
    if bump:
        frames["spot_minute"] = frames["spot_minute"].assign(close=frames["spot_minute"]["close"] + bump)
    with store.lock():
        staged = [store.stage(k, "NIFTY", session, f) for k, f in frames.items()]
        store.commit([p for p in staged if p is not None])


@pytest.fixture
def stored(store):
    sim = MarketSimulator(seed=11, start=START)
    sessions = market_calendar.trading_days_from(sim.first_session, 3)
    for d in sessions:
        _write(store, sim, d)
    return store, sim, sessions


def _parquet(store, session: date):
    return StoreFeed(store, "NIFTY", cache=0, decoded=False).day(session)


def _digest(day) -> str:
    return session_digest(day).hex()


def test_a_session_read_once_is_served_from_its_decoded_file_equal_to_the_parquet_decode(
    stored, monkeypatch
) -> None:
    store, _, sessions = stored
    first = [StoreFeed(store, "NIFTY", cache=0).day(d) for d in sessions]  # decoded and written
    assert all(decoded.path(store.root, "NIFTY", d).exists() for d in sessions)

    def no_parquet(*args, **kwargs):
        raise AssertionError("read from Parquet")

    monkeypatch.setattr(store_feed, "_partition_arrays", no_parquet)
    again = [StoreFeed(store, "NIFTY", cache=0).day(d) for d in sessions]
    monkeypatch.undo()
    for d, a, b in zip(sessions, first, again, strict=True):
        reference = _parquet(store, d)
        assert_same_day(b, reference)
        assert_same_day(a, reference)
        assert "digest" not in vars(reference)  # a Parquet decode is hashed ...
        assert vars(a)["digest"] == vars(b)["digest"]  # ... a decoded one carries its digest
        assert _digest(b) == _digest(reference)  # the run's data version is the same


def test_a_store_write_makes_the_decoded_file_stale_and_it_is_rebuilt(stored) -> None:
    store, sim, sessions = stored
    day = sessions[1]
    before = StoreFeed(store, "NIFTY", cache=0).day(day)
    _write(store, sim, day, bump=5.0)  # the partition replaced (a new file)
    after = StoreFeed(store, "NIFTY", cache=0).day(day)
    assert np.array_equal(after.close, before.close + 5.0)
    assert_same_day(after, _parquet(store, day))
    # The rewritten file is trusted again, and serves the new rows.
    assert_same_day(StoreFeed(store, "NIFTY", cache=0).day(day), after)


def test_a_file_made_by_other_code_is_not_trusted(stored, monkeypatch) -> None:
    store, _, sessions = stored
    day = sessions[0]
    StoreFeed(store, "NIFTY", cache=0).day(day)
    feed = StoreFeed(store, "NIFTY", cache=0)
    assert decoded.load(store.root, "NIFTY", day, feed._sources(day), store_feed._DECODER) is not None
    assert decoded.load(store.root, "NIFTY", day, feed._sources(day), "another decoder") is None


@pytest.mark.parametrize(
    "damage",
    ["flipped byte", "truncated", "header", "digest", "empty", "foreign session", "format before"],
)
def test_a_damaged_file_is_not_trusted_and_the_session_is_decoded_again(stored, damage) -> None:
    store, _, sessions = stored
    day = sessions[2]
    StoreFeed(store, "NIFTY", cache=0).day(day)
    path = decoded.path(store.root, "NIFTY", day)
    data = bytearray(path.read_bytes())
    if damage == "flipped byte":
        data[-200] ^= 0x40  # inside the arrays
    elif damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "header":
        data[20:30] = b"\xff" * 10
    elif damage == "digest":  # one hex digit of the digest changed: the header still reads as JSON
        at = data.index(b'"sha256":"') + len(b'"sha256":"')
        data[at] = ord("0") if data[at] != ord("0") else ord("1")
        json.loads(bytes(data[12 : data.index(b"}", at) + 1]))  # (the header is still well formed)
    elif damage == "empty":
        data = bytearray()
    elif damage == "format before":  # a file of DAYBARS2 (no digest): decoded again, once
        data[:8] = b"DAYBARS2"
    else:  # another session's file under this session's name
        StoreFeed(store, "NIFTY", cache=0).day(sessions[0])
        data = bytearray(decoded.path(store.root, "NIFTY", sessions[0]).read_bytes())
    path.write_bytes(bytes(data))
    feed = StoreFeed(store, "NIFTY", cache=0)
    assert decoded.load(store.root, "NIFTY", day, feed._sources(day), store_feed._DECODER) is None
    assert_same_day(feed.day(day), _parquet(store, day))
    # ... and the file is whole again
    assert decoded.load(store.root, "NIFTY", day, feed._sources(day), store_feed._DECODER) is not None


def test_arrays_of_a_decoded_session_are_private_to_the_process(stored) -> None:
    """Copy-on-write: a write into a served array changes neither the file nor the next read."""
    store, _, sessions = stored
    day = sessions[0]
    StoreFeed(store, "NIFTY", cache=0).day(day)
    served = StoreFeed(store, "NIFTY", cache=0).day(day)
    original = served.close.copy()
    served.close[:] = -1.0
    served.call_ltp[...] = 0.0
    assert np.array_equal(StoreFeed(store, "NIFTY", cache=0).day(day).close, original)


def test_a_store_that_cannot_take_the_file_is_read_as_before(stored, monkeypatch) -> None:
    store, _, sessions = stored

    def refuse(*args, **kwargs):
        raise PermissionError("read-only store")

    monkeypatch.setattr(decoded.os, "replace", refuse)
    day = StoreFeed(store, "NIFTY", cache=0).day(sessions[0])
    assert_same_day(day, _parquet(store, sessions[0]))
    assert not decoded.path(store.root, "NIFTY", sessions[0]).exists()
    assert not list(decoded.path(store.root, "NIFTY", sessions[0]).parent.glob("*.tmp"))


def test_the_data_version_hashes_each_arrays_bytes_in_c_order(stored) -> None:
    """The run's data version reads the arrays' bytes where they are (memory-mapped ones included, a
    strided one in C order): the same digest as hashing a copy of each array's C-order bytes."""
    store, _, sessions = stored

    def reference(day) -> str:
        digest = hashlib.sha256(f"{day.index}|{day.session}|{','.join(map(str, day.expiries))}".encode())
        for value in vars(day).values():
            if isinstance(value, np.ndarray):
                digest.update(value.tobytes(order="C"))
        return digest.hexdigest()

    strided = _parquet(store, sessions[1])
    strided.close = strided.close[::-1]
    StoreFeed(store, "NIFTY", cache=0).day(sessions[0])  # decoded from Parquet, its file written
    mapped = StoreFeed(store, "NIFTY", cache=0).day(sessions[0])  # ... and memory-mapped
    for day in (_parquet(store, sessions[0]), mapped, strided):
        assert _digest(day) == reference(day)
    # A decoded session's arrays lie back to back in its file: hashed in one piece.
    arrays = [v for v in vars(mapped).values() if isinstance(v, np.ndarray)]
    assert len(list(byte_runs(arrays))) == 1


def test_sessions_read_from_their_decoded_files_are_not_hashed_again(stored, monkeypatch) -> None:
    """The data version of sessions read back from their decoded files takes each session's digest
    from the file (no hashing: ``byte_runs`` is never called) and equals the version of the same
    sessions decoded from Parquet and hashed."""
    store, _, sessions = stored
    for d in sessions:
        StoreFeed(store, "NIFTY", cache=0).day(d)  # decoded from Parquet, the files written
    parquet = MarketHistory(days=[_parquet(store, d) for d in sessions], iv_history=None)

    def no_hashing(arrays):
        raise AssertionError("a decoded session hashed again")

    monkeypatch.setattr(bars, "byte_runs", no_hashing)
    mapped = MarketHistory(
        days=[StoreFeed(store, "NIFTY", cache=0).day(d) for d in sessions], iv_history=None
    )
    remembered = mapped.version()
    monkeypatch.undo()
    assert remembered == parquet.version()
    # The version is the digests' hash, in order: another order, another version.
    assert MarketHistory(days=mapped.days[::-1], iv_history=None).version() != remembered
    expected = hashlib.sha256(b"".join(session_digest(d) for d in parquet.days)).hexdigest()
    assert remembered == expected
