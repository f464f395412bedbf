"""``hold_quietly`` has two scans of the quiet bars - a Python loop over each position's marks,
worked out once a session in numpy (``_scan_python``, ``_scan_floats``: a process that prefers
Python, a one-shot command) and a compiled loop over the chain (``_quiet_scan``), both stopping at
the first bar near a level - which must end the stretch on the same bar and mark the positions the same way:
held against each other here on positions of every kind (stop, target, a trail or its activation, a
high water or none, a strike the chain does not list, an expiry the session does not hold), and
against the every-bar loop through ``tests/engine/test_backtest_stream.py`` run both ways."""

from __future__ import annotations

import copy
import dataclasses
import random
from datetime import UTC, date, datetime
from decimal import Decimal

import numpy as np
import pytest

from trading.core import jit
from trading.core.backtest import hold_quietly
from trading.core.risk import to_tick
from trading.core.simulator import MarketSimulator
from trading.core.state import EngineConfig, EngineState, OpenPosition

pytestmark = pytest.mark.skipif(not jit.AVAILABLE, reason="numba is not installed: only the Python scan runs")

SESSION = date(2025, 2, 5)


@pytest.fixture(scope="module")
def day():
    """A simulated session with holes in its quotes, as a recorded one has: LTPs missing or zero
    or garbled (the mark falls back to the mid of a two-sided quote), one-sided and missing quotes (no mark)."""
    day = MarketSimulator(seed=11, start=date(2025, 1, 1)).day(SESSION)
    rng = np.random.default_rng(7)
    holed = {}
    for side in ("call", "put"):
        ltp, bid, ask = (getattr(day, f"{side}_{name}").copy() for name in ("ltp", "bid", "ask"))
        ltp[rng.random(ltp.shape) < 0.15] = np.nan
        ltp[rng.random(ltp.shape) < 0.05] = 0.0
        ltp[rng.random(ltp.shape) < 0.01] = np.inf  # a garbled tick: not a price
        bid[rng.random(bid.shape) < 0.05] = np.nan
        ask[rng.random(ask.shape) < 0.05] = 0.0
        holed.update({f"{side}_ltp": ltp, f"{side}_bid": bid, f"{side}_ask": ask})
    return dataclasses.replace(day, **holed)


def _position(day, rng: random.Random, n: int) -> OpenPosition:
    e = rng.randrange(len(day.expiries))
    listed = day.strikes[0, e][np.isfinite(day.strikes[0, e])]
    strike = float(rng.choice(listed)) if rng.random() > 0.1 else 1.5  # now and then one never listed
    expiry = day.expiries[e] if rng.random() > 0.05 else date(2031, 1, 2)  # or an expiry not in the day
    side = rng.choice(["call", "put"])
    k = int(np.argmax(day.strikes[0, e] == strike)) if strike in listed else 0
    price = float(getattr(day, f"{side}_ltp")[0, e, k]) if strike in listed else 100.0
    entry = to_tick(max(price, 1.0) if np.isfinite(price) else 100.0)  # a hole at the first bar
    pick = rng.random
    return OpenPosition(
        position_id=f"P{n}",
        strategy="S",
        index="NIFTY",
        tradingsymbol=f"X{n}",
        exchange="NFO",
        option_type="CE" if side == "call" else "PE",
        strike=strike,
        expiry=expiry,
        quantity=75,
        lot_size=75,
        entry_price=entry,
        entry_time=datetime(2025, 2, 5, 4, 0, tzinfo=UTC),
        stop=None if pick() < 0.2 else to_tick(entry * Decimal(str(rng.uniform(0.3, 0.97)))),
        target=None if pick() < 0.2 else to_tick(entry * Decimal(str(rng.uniform(1.02, 3.0)))),
        trail_fraction=rng.uniform(0.05, 0.4),
        trail_activation=to_tick(entry * Decimal(str(rng.uniform(0.9, 1.5)))),
        trail=None if pick() < 0.6 else to_tick(entry * Decimal(str(rng.uniform(0.5, 0.95)))),
        high_water=None if pick() < 0.4 else to_tick(entry * Decimal(str(rng.uniform(1.0, 1.3)))),
        low_water=None if pick() < 0.4 else to_tick(entry * Decimal(str(rng.uniform(0.7, 1.0)))),
    )


def _hold(day, state, start, stop, *, compiled: bool):
    config = EngineConfig(index="NIFTY", mode="BACKTEST")
    times = day.times.astype("datetime64[ns]").astype(np.int64)
    before = jit.python_preferred()
    jit.prefer_python(not compiled)  # a stretch of a few hundred bars: Python unless compiled
    try:
        return hold_quietly(day, start, stop, state, config, times, marks={})
    finally:
        jit.prefer_python(before)


def _facts(state: EngineState) -> list[tuple]:
    return [
        (p.position_id, p.last_price, p.high_water, p.low_water, p.trail) for p in state.positions.values()
    ]


def test_both_scans_end_the_stretch_on_the_same_bar_and_mark_the_same(day):
    rng = random.Random(20261206)
    ended_early = 0
    for case in range(300):
        state = EngineState(index="NIFTY")
        for n in range(rng.randint(1, 4)):
            position = _position(day, rng, n)
            state.positions[position.position_id] = position
        start = rng.randrange(0, len(day) - 2)
        stop = rng.randrange(start + 1, len(day) + 1)
        python_state, compiled_state = copy.deepcopy(state), copy.deepcopy(state)
        got = _hold(day, compiled_state, start, stop, compiled=True)
        want = _hold(day, python_state, start, stop, compiled=False)
        assert got == want, case
        assert _facts(compiled_state) == _facts(python_state), case
        assert compiled_state.last_bar_time == python_state.last_bar_time, case
        ended_early += start < got < stop
    assert ended_early > 30, "the cases must stop on a level often for this test to mean anything"


def test_the_backtest_trades_the_same_either_way():
    """A simulated month of every strategy through ``run_backtest``: the same trades, signals and
    orders as the every-bar loop, with the compiled scan and with Python's."""
    from tests.engine import test_backtest_stream as stream

    before = jit.python_preferred()
    try:
        for prefer in (False, True):
            jit.prefer_python(prefer)
            stream.test_streaming_loop_trades_as_the_whole_history_loop()
    finally:
        jit.prefer_python(before)
