"""The engine's hot-path shortcuts give what the plain definitions give (issue 18's speed work).

Each shortcut is checked against a second, naive implementation written here: the order ids' base32
digits, the one-option Greeks against the array path and Black-Scholes by hand, the cheap copy of a
broker order against ``deepcopy``, a chain's cached quote against reading the arrays, and a quiet
stretch's marks against rounding every bar's mark.
"""

from __future__ import annotations

import hashlib
import math
import random
from copy import deepcopy
from datetime import UTC, date, datetime
from decimal import Decimal

import numpy as np
import pytest

from trading.core import jit, options, orders, risk
from trading.core.bars import OptionChain
from trading.core.order_types import BrokerOrder
from trading.core.serialize import json_value


def _naive_b32(data: bytes, length: int) -> str:
    n = int.from_bytes(data, "big")
    out = []
    for _ in range(length):
        n, r = divmod(n, 32)
        out.append(orders._ALPHABET[r])
    return "".join(out)


def test_order_id_digits_equal_the_full_number_read_in_base32():
    rng = random.Random(7)
    for _ in range(2000):
        data = hashlib.sha256(rng.randbytes(16)).digest()
        for length in (1, 8, 19, 51):
            assert orders._b32(data, length) == _naive_b32(data, length)


def _bs_by_hand(vol, spot, strike, t, r, is_call):
    """Black-Scholes Greeks (q = 0) from the textbook formulas, in options.greeks' units."""
    d1 = (math.log(spot / strike) + (r + 0.5 * vol * vol) * t) / (vol * math.sqrt(t))
    d2 = d1 - vol * math.sqrt(t)
    pdf = math.exp(-0.5 * d1 * d1) / math.sqrt(2 * math.pi)
    cdf = lambda x: 0.5 * math.erfc(-x / math.sqrt(2))  # noqa: E731
    delta = cdf(d1) if is_call else cdf(d1) - 1
    gamma = pdf / (spot * vol * math.sqrt(t))
    vega = spot * pdf * math.sqrt(t) / 100
    if is_call:
        theta = (-spot * pdf * vol / (2 * math.sqrt(t)) - r * strike * math.exp(-r * t) * cdf(d2)) / 365
    else:
        theta = (-spot * pdf * vol / (2 * math.sqrt(t)) + r * strike * math.exp(-r * t) * cdf(-d2)) / 365
    return {"delta": delta, "gamma": gamma, "vega": vega, "theta": theta}


@pytest.mark.parametrize("is_call", [True, False])
def test_one_option_greeks_equal_the_array_path_and_the_formulas(is_call):
    cases = [(0.14, 24000.0, 24100.0, 3 / 365, 0.065), (0.3, 22000.0, 21500, 0.05, 0.07)]
    for vol, spot, strike, t, r in cases:
        one = options.greeks(vol, spot, strike, t, r, is_call)
        arrays = options.greeks(np.array([vol, vol]), spot, strike, t, r, is_call)
        by_hand = _bs_by_hand(vol, spot, strike, t, r, is_call)
        for name in ("delta", "gamma", "vega", "theta", "rho"):
            assert isinstance(one[name], float)
            assert one[name] == arrays[name][0]
        for name, value in by_hand.items():
            assert one[name] == pytest.approx(value, rel=1e-9, abs=1e-12)
    assert math.isnan(options.greeks(0.0, 24000.0, 24000.0, 0.01, 0.07, is_call)["delta"])


@pytest.mark.parametrize("is_call", [True, False])
def test_one_option_greeks_equal_the_compiled_kernel_bit_for_bit(is_call, monkeypatch):
    """One option's Greeks on plain floats run the kernel's body on them (in Python, or compiled once
    the kernels are), whichever way the process prefers (a one-shot command, a worker): the same
    numbers as the compiled kernel writes for that option, including the edges (an invalid input, a
    vol * sqrt(t) that underflows to 0 - numpy's IEEE division there, not Python's
    ZeroDivisionError) and 200 options drawn over the whole range."""
    if not jit.AVAILABLE:
        pytest.skip("numba is not installed")
    cases = [
        (0.14, 24000.0, 24100.0, 3 / 365, 0.065),
        (0.3, 22000, 21500, 0.05, 0.07),
        (0.2, 24000.0, 24000.0, 0.0, 0.07),
        (1e-200, 24000.0, 24000.0, 1e-300, 0.07),
        (0.2, 24000.0, math.inf, 0.1, 0.07),
        (0.2, 24000.0, 24000.0, 0.1, math.nan),
    ]
    rng = np.random.default_rng(7)
    for _ in range(200):
        spot = float(rng.uniform(15000, 30000))
        cases.append((float(rng.uniform(0.01, 1.5)), spot, spot * float(rng.uniform(0.7, 1.3)),
                      float(rng.uniform(1e-4, 1.0)), 0.065))  # fmt: skip
    names = ("delta", "gamma", "vega", "theta", "rho")
    kernel = options._numba_kernels()[1]
    for vol, spot, strike, t, r in cases:
        out = np.empty((5, 1))
        args = (vol, spot, strike, t, r, 0.0, 1.0 if is_call else -1.0)
        kernel(*(np.array([float(x)]) for x in args), out)
        for prefer in (False, True):
            monkeypatch.setattr(jit, "_prefer_python", prefer)
            one = options.greeks(vol, spot, strike, t, r, is_call)
            for k, name in enumerate(names):
                assert isinstance(one[name], float)
                same = one[name] == out[k, 0] or (math.isnan(one[name]) and math.isnan(out[k, 0]))
                assert same, (prefer, vol, spot, strike, t, r, name, one[name], out[k, 0])


def test_a_broker_order_copy_is_a_deep_copy():
    at = datetime(2026, 5, 4, 4, 0, tzinfo=UTC)
    child = BrokerOrder("C1", "B1", "FILLED", 75, Decimal("101.5"), [(75, Decimal("101.5"), at)], quantity=75)
    order = BrokerOrder("P1", fills=[(75, Decimal("101.5"), at)], children=[child], quantity=75)
    copied = order.copy()
    assert copied == deepcopy(order)
    copied.fills.append((1, Decimal("1"), at))
    copied.children[0].fills.clear()
    copied.children[0].status = "CANCELLED"
    assert order.fills == [(75, Decimal("101.5"), at)] and child.fills and child.status == "FILLED"


def _chain() -> OptionChain:
    strikes = np.array([23900.0, 24000.0, 24100.0])
    side = {f"{s}_{n}": np.array([1.0, 2.0, 3.0]) * (10 if s == "call" else 20) + k for k, n in enumerate(
        ("ltp", "bid", "ask", "oi", "volume", "iv")) for s in ("call", "put")}  # fmt: skip
    return OptionChain(expiry=date(2026, 5, 7), strikes=strikes, **side)


def test_a_cached_quote_reads_the_arrays_and_hands_out_copies():
    chain = _chain()
    for strike in (23900.0, 24000.0, 24100.0):
        for kind, side in (("CE", "call"), ("PE", "put"), ("CALL", "call")):
            i = int(np.flatnonzero(chain.strikes == strike)[0])
            expected = {
                n: float(getattr(chain, f"{side}_{n}")[i])
                for n in ("ltp", "bid", "ask", "oi", "volume", "iv")
            }
            first = chain.quote(strike, kind)
            assert first == expected
            first["ltp"] = -1.0  # the caller's copy
            assert chain.quote(strike, kind) == expected
    assert chain.quote(25000.0, "CE") is None and chain.quote(25000.0, "CE") is None


def test_json_value_fast_path_answers_as_the_general_rules():
    for value, expected in [(1.5, 1.5), (math.nan, None), (math.inf, None), (3, 3), ("a", "a"), (True, True),
                            (None, None), (np.float64(2.5), 2.5), (np.float64("nan"), None), (Decimal("1.2"), "1.2")]:  # fmt: skip
        got = json_value(value)
        assert got == expected and type(got) is type(expected)
    import pandas as pd

    from trading.core import calendar as market_calendar

    ist = datetime(2026, 5, 4, 9, 15, tzinfo=UTC).astimezone(market_calendar.IST)
    for value, expected in [
        (date(2026, 5, 7), "2026-05-07"),
        (datetime(2026, 5, 4, 3, 45, tzinfo=UTC), "2026-05-04T03:45:00+00:00"),
        (ist, "2026-05-04T14:45:00+05:30"),
        (datetime(2026, 5, 4, 3, 45), "2026-05-04T03:45:00"),
        (pd.Timestamp("2026-05-04 03:45", tz="UTC"), "2026-05-04T03:45:00+00:00"),  # a subclass
        (pd.NaT, None),  # neither type exactly: the general rule
        (np.datetime64("NaT"), None),
        (np.datetime64("2026-05-04T03:45:00"), "2026-05-04T03:45:00"),
    ]:
        assert json_value(value) == expected, value


def test_a_quiet_stretch_marks_as_every_bar_rounded():
    """``_mark_stretch`` takes the tick of the highest, lowest and last float: the same as rounding
    every bar's mark and taking the max, min and last (the rounding is monotonic)."""
    from trading.core.backtest import _mark_stretch
    from trading.core.state import OpenPosition

    rng = np.random.default_rng(3)
    for _ in range(200):
        v = np.round(rng.uniform(50, 150, size=rng.integers(1, 40)), rng.integers(1, 4))
        v[rng.random(v.size) < 0.2] = np.nan
        ticks = [risk.to_tick(float(x)) for x in v if not math.isnan(x)]
        position = OpenPosition.__new__(OpenPosition)
        position.last_price = position.high_water = position.low_water = position.trail = None
        position.trail_fraction, position.trail_activation = 0.2, Decimal("1000")
        _mark_stretch(position, v)
        if not ticks:
            assert position.last_price is None
            continue
        assert (position.high_water, position.low_water, position.last_price) == (
            max(ticks),
            min(ticks),
            ticks[-1],
        )


def _tick_by_hand(value: Decimal, rounding: str) -> Decimal:
    """The 0.05 tick of ``value``: twentieths rounded as ``rounding`` says, worked out in integers."""
    twentieths = value * 20
    floor = int(twentieths.to_integral_value(rounding="ROUND_FLOOR"))
    rest = twentieths - floor
    if rounding == "ROUND_DOWN":  # toward zero (premiums are positive: the floor)
        n = floor if value >= 0 else (floor + (rest > 0))
    elif rounding == "ROUND_UP":
        n = floor + (rest > 0) if value >= 0 else floor
    else:  # half up: away from zero at the half
        n = floor + (rest >= Decimal("0.5")) if value >= 0 else floor + (rest > Decimal("0.5"))
    return Decimal(n) * Decimal("0.05")


@pytest.mark.parametrize("rounding", ["ROUND_HALF_UP", "ROUND_DOWN", "ROUND_UP"])
def test_a_remembered_float_tick_is_the_tick_of_its_shortest_decimal(rounding):
    """``to_tick`` remembers a float's tick: the first and the remembered answers are the tick of the
    float's ``repr`` (half ticks included), never the answer of an equal Decimal or of another
    rounding asked earlier."""
    rng = random.Random(11)
    values = [round(rng.uniform(0, 400), rng.choice((1, 2, 3))) for _ in range(3000)]
    values += [0.025, 0.075, 12.325, 99.975, 0.0, 1e-9]
    for rounding_first in ("ROUND_HALF_UP", "ROUND_DOWN", "ROUND_UP"):
        for v in values[:50]:
            risk.to_tick(v, rounding_first)  # other roundings remembered first
    for v in values:
        expected = _tick_by_hand(Decimal(repr(v)), rounding)
        first, again = risk.to_tick(v, rounding), risk.to_tick(v, rounding)
        assert first == expected and again == expected and str(again) == str(expected)
    # float 0.075 is 0.07499999... in binary: the Decimal of that exact value is another number
    exact = Decimal(0.075)
    assert (
        exact == 0.075 and risk.to_tick(0.075) == Decimal("0.10") and risk.to_tick(exact) == Decimal("0.05")
    )
    # -0.0 equals 0.0 (one key), yet its tick prints with its sign, as a Decimal's does
    assert str(risk.to_tick(0.0)) == "0.00" and str(risk.to_tick(-0.0)) == "-0.00" == str(
        risk.to_tick(Decimal("-0"))
    )


def test_the_remembered_ticks_stay_bounded():
    for k in range(risk._FLOAT_TICKS_MAX + 10):
        risk.to_tick(k + 0.5)
    assert len(risk._FLOAT_TICKS) <= risk._FLOAT_TICKS_MAX
    assert risk.to_tick(123.475) == Decimal("123.50")


def test_the_remembered_ist_date_and_time_answer_for_each_instant():
    """``calendar.ist_date`` and ``risk._ist_time`` remember the last datetime object asked: another
    object (another instant, or the same instant in another zone) gets its own answer, and a naive
    one is still refused."""
    from datetime import timedelta

    from trading.core import calendar as market_calendar

    ist = market_calendar.IST
    late = datetime(2026, 1, 1, 20, 0, tzinfo=UTC)  # 01:30 IST on the 2nd
    early = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
    for _ in range(3):
        for at, day, clock in ((late, date(2026, 1, 2), "01:30"), (early, date(2026, 1, 1), "14:30")):
            assert market_calendar.ist_date(at) == day and market_calendar.ist_date(at) == day
            assert market_calendar.ist_date(at.astimezone(ist)) == day
            assert risk._ist_time(at).strftime("%H:%M") == clock
            assert risk._ist_time(at.astimezone(ist)).strftime("%H:%M") == clock
    for k in range(0, 48 * 60, 7):
        at = early + timedelta(minutes=k)
        assert market_calendar.ist_date(at) == (at + timedelta(hours=5, minutes=30)).date()
    with pytest.raises(ValueError, match="naive"):
        market_calendar.ist_date(datetime(2026, 1, 1, 9, 0))
    # Each instant of the session is remembered (a session memo): asked in turn, as a cycle asks of
    # its clock and a position's entry, every answer is its own instant's; a naive datetime with
    # the wall time of a remembered one is not found, and refused; forgotten, all answer again.
    from trading.core import memo

    instants = [early + timedelta(minutes=k) for k in range(0, 24 * 60, 37)]
    for _ in range(2):
        for at in instants:
            for asked in (at, late, at.astimezone(ist)):
                assert (
                    market_calendar.ist_date(asked) == (asked.astimezone(UTC) + timedelta(hours=5.5)).date()
                )
        assert early in market_calendar._IST_DATES and late in market_calendar._IST_DATES
        with pytest.raises(ValueError, match="naive"):
            market_calendar.ist_date(late.replace(tzinfo=None))
        memo.forget()
        assert not market_calendar._IST_DATES


def test_remembered_stamps_name_the_instant_whatever_its_zone():
    from trading.core import calendar as market_calendar
    from trading.core.entries import _ist_minute

    at = datetime(2026, 5, 4, 4, 5, 6, tzinfo=UTC)
    in_ist = at.astimezone(market_calendar.IST)
    for _ in range(2):
        assert orders.utc_stamp(at) == orders.utc_stamp(in_ist) == "20260504T040506"
        assert _ist_minute(at) == _ist_minute(in_ist) == "20260504-0935"
    for k in range(5000):  # bounded
        orders.utc_stamp(datetime.fromtimestamp(1_700_000_000 + 60 * k, tz=UTC))
    assert len(orders._STAMPS) <= 4096
    rng = random.Random(12)
    for _ in range(3000):  # formatted from the fields as strftime formats them
        at = datetime.fromtimestamp(rng.uniform(946_684_800, 4_102_444_800), tz=UTC)  # 2000-2100
        for zoned in (at, at.astimezone(market_calendar.IST)):
            assert orders.utc_stamp(zoned) == at.strftime("%Y%m%dT%H%M%S")


def test_json_safe_answers_as_json_value_on_every_key():
    from trading.core.serialize import json_safe

    row = {"a": 1.5, "b": math.nan, "c": -math.inf, "d": np.float64(2.0), 7: True, "e": None, "f": date(2026, 1, 2),
           "g": Decimal("3.10"), "h": "x", "i": 4, "j": np.datetime64("NaT")}  # fmt: skip
    got = json_safe(row)
    expected = {str(k): json_value(v) for k, v in row.items()}
    assert got == expected and [type(v) for v in got.values()] == [type(v) for v in expected.values()]


def test_a_day_bar_reads_every_chain_field_by_its_name():
    """``DayBars.bar`` passes the chain arrays to ``OptionChain`` by position: each must land in the
    field of its name, and ``bar_time`` must read any datetime64 unit."""
    from dataclasses import fields

    from trading.core.bars import CHAIN_FIELDS
    from trading.core.simulator import MarketSimulator

    assert [f.name for f in fields(OptionChain) if f.init][2:] == list(CHAIN_FIELDS)
    sim = MarketSimulator(seed=4, start=date(2025, 3, 3))
    day = sim.day(sim.first_session)
    for i in (0, 137, len(day) - 1):
        bar = day.bar(i)
        for e, chain in enumerate(bar.chains):
            assert chain.expiry == day.expiries[e]
            assert np.array_equal(chain.strikes, day.strikes[i, e])
            for name in CHAIN_FIELDS:
                assert np.array_equal(getattr(chain, name), getattr(day, name)[i, e], equal_nan=True)
        expected = datetime.fromtimestamp(int(day.times[i].astype("int64")) / 1e9, tz=UTC)
        assert bar.time == expected
        coarse = day.times.astype("datetime64[us]")
        day.times, kept = coarse, day.times
        try:
            assert day.bar_time(i) == expected
        finally:
            day.times = kept


def test_a_days_bar_reads_its_chains_from_the_days_arrays():
    """``DayBars.bar`` hands out chains that view the day's arrays when read (``bars._DayChain``):
    every field, the quotes, a copy and a pickle equal a plain ``OptionChain`` built from the arrays
    of that bar and expiry by hand."""
    import copy
    import pickle

    from trading.core.bars import CHAIN_FIELDS
    from trading.core.simulator import MarketSimulator

    sim = MarketSimulator(seed=5, start=date(2025, 3, 3))
    day = sim.day(sim.first_session)
    assert len(day.expiries) >= 2
    rng = np.random.default_rng(8)
    for i in rng.integers(0, len(day), size=25).tolist():
        bar = day.bar(i)
        assert [c.expiry for c in bar.chains] == list(day.expiries)
        for e, chain in enumerate(bar.chains):
            by_hand = OptionChain(
                day.expiries[e],
                day.strikes[i, e].copy(),
                *(getattr(day, name)[i, e].copy() for name in CHAIN_FIELDS),
            )
            for name in ("strikes", *CHAIN_FIELDS):
                np.testing.assert_array_equal(getattr(chain, name), getattr(by_hand, name), err_msg=name)
            assert bar.chain(day.expiries[e]) is chain
            for strike in [*by_hand.strikes[:: max(1, len(by_hand.strikes) // 6)].tolist(), 1.0]:
                for kind in ("CE", "PE", "CALL", "PUT"):
                    got = chain.quote(strike, kind)
                    assert got == by_hand.quote(strike, kind) or _same_nan(got, by_hand.quote(strike, kind))
                    if got is not None:
                        got["ask"] = -1.0  # the caller's copy
                        assert chain.quote(strike, kind)["ask"] != -1.0
            for twin in (copy.deepcopy(chain), pickle.loads(pickle.dumps(chain)), copy.copy(chain)):
                assert type(twin) is OptionChain and twin.expiry == chain.expiry
                for name in ("strikes", *CHAIN_FIELDS):
                    np.testing.assert_array_equal(getattr(twin, name), getattr(by_hand, name), err_msg=name)


def _same_nan(a: dict | None, b: dict | None) -> bool:
    """Two quotes equal where NaN counts as equal to NaN."""
    if a is None or b is None:
        return a is b
    return a.keys() == b.keys() and all(a[k] == b[k] or (a[k] != a[k] and b[k] != b[k]) for k in a)


def test_an_expiry_is_the_same_instant_against_a_utc_clock():
    """``risk.is_expired`` compares the clock with the expiry's close in UTC
    (``calendar.session_close_utc``): the same instant as 15:30 IST, so the same answer either side
    of it, in whatever zone the clock is."""
    from datetime import timedelta

    from trading.core import calendar as market_calendar

    for expiry in (date(2025, 1, 2), date(2026, 3, 31), date(2026, 12, 29)):
        close = market_calendar.session_close(expiry)
        utc = market_calendar.session_close_utc(expiry)
        assert utc == close and utc.tzinfo is UTC
        assert (close.hour, close.minute) == (15, 30) and close.astimezone(UTC).time() == utc.time()
        for delta, expired in (
            (-timedelta(microseconds=1), False),
            (timedelta(0), True),
            (timedelta(seconds=1), True),
        ):
            for at in ((close + delta).astimezone(UTC), close + delta):
                assert risk.is_expired(expiry, at) is expired, (expiry, at)


def test_remembered_exit_levels_are_the_levels_of_their_own_configuration():
    """``risk.exit_levels`` remembers the levels of an entry, a VIX and a configuration: asked again
    it answers what it worked out (the stop, target and activation on the tick, by hand below), and
    a configuration of other percentages - even equal to one asked before, or made after one was
    let go - gets its own."""
    rng = random.Random(21)
    configs = [
        risk.RiskConfig(),
        risk.RiskConfig(stop_loss_pct=0.2, target_pct=0.5, trail_activation_pct=0.25),
    ]
    for _ in range(400):
        entry = Decimal(rng.randrange(20, 40_000)) / 20
        vix = rng.choice([13.0, 14.25, 22.5, math.nan, 9.0])
        for cfg in (*configs, risk.RiskConfig(stop_loss_pct=rng.choice([0.1, 0.3]))):
            for _ in range(2):
                got = risk.exit_levels(entry, vix, cfg)
                scale = risk.vix_scale(vix, cfg)
                sl = min(cfg.stop_loss_pct * scale, 0.9)
                assert got.stop == max(_tick_by_hand(entry * Decimal(str(1 - sl)), "ROUND_DOWN"), risk.TICK)
                assert got.target == _tick_by_hand(
                    entry * Decimal(str(1 + cfg.target_pct * scale)), "ROUND_UP"
                )
                assert got.trail_activation == _tick_by_hand(
                    entry * Decimal(str(1 + cfg.trail_activation_pct)), "ROUND_UP"
                )
                assert got.trail_fraction == min(cfg.trail_pct * scale, 0.9)


def test_the_python_scan_hands_the_extremes_of_its_quiet_bars():
    """``_scan_floats``'s highest, lowest and last known mark of the bars it found quiet, against
    numpy's fmax/fmin over those bars and the last that is not NaN (what ``_mark_stretch`` takes)."""
    from trading.core.backtest import _scan_floats

    rng = random.Random(3)
    for _ in range(500):
        n = rng.randrange(1, 60)
        marks = [math.nan if rng.random() < 0.3 else rng.uniform(50, 150) for _ in range(n)]
        lo = rng.randrange(n)
        levels = (rng.uniform(40, 80), rng.uniform(120, 200), math.nan, 0.8, math.nan, math.nan)
        ends = [0.0, 0.0, 0.0]
        quiet = _scan_floats(marks, lo, n, *levels, ends)
        assert quiet == _scan_floats(marks, lo, n, *levels)  # the same answer without ``ends``
        v = np.array(marks[lo : lo + quiet])
        known = v[~np.isnan(v)]
        if known.size == 0:
            assert all(math.isnan(x) for x in ends)
        else:
            assert ends == [float(np.fmax.reduce(v)), float(np.fmin.reduce(v)), float(known[-1])]


def test_remembered_contract_look_ups_answer_as_worked_out():
    """The lot, strike step, freeze quantity, rate and symbol an order asks are remembered per
    argument: each answer equals the one worked out afresh, and a strike given as a float, a
    Decimal or an int names one symbol."""
    from trading.core import contracts

    rng = random.Random(5)
    for _ in range(300):
        index = rng.choice(["NIFTY", "nifty", "BANKNIFTY", "SENSEX"])
        on = date(2024, 1, 1) + (date(2026, 12, 31) - date(2024, 1, 1)) * rng.random()
        expiry = rng.choice(contracts.expiries(index, on, count=4))
        strike = rng.randrange(150, 900) * 100
        kind = rng.choice(["CE", "PE", "call", "PUT"])
        for fn, args in (
            (contracts.lot_size, (index, expiry)),
            (contracts.strike_step, (index, on)),
            (contracts.freeze_quantity, (index, on)),
            (contracts.risk_free_rate, (on,)),
            (contracts.tradingsymbol, (index, expiry, float(strike), kind)),
        ):
            assert fn(*args) == fn.__wrapped__(*args)
        symbol = contracts.tradingsymbol(index, expiry, strike, kind)
        assert contracts.tradingsymbol(index, expiry, float(strike), kind) == symbol
        assert contracts.tradingsymbol(index, expiry, Decimal(strike), kind) == symbol
    with pytest.raises(ValueError, match="unknown index"):
        contracts.lot_size("NOPE", date(2025, 1, 30))
    with pytest.raises(ValueError, match="option type"):
        contracts.tradingsymbol("NIFTY", date(2025, 1, 30), 24000.0, "XX")
