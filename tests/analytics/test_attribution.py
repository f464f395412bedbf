"""Greeks P&L attribution: a hand-worked trade, and full repricing with the project's option models."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np
import pytest

from trading.core.attribution import aggregate, attribute, attribute_many, days_held, side_sign
from trading.core.calendar import IST
from trading.core.options import black76_price, bs_price, greeks

# A hand-worked trade: 75 units bought at 200.00, sold at 237.70 six hours later.
# Spot 25,000 -> 25,100 (dS = 100); IV 15% -> 14% (-1 vol point).
# Entry Greeks of one long option: delta 0.5, gamma 0.0004, theta -10 per day, vega 12 per vol point.
#   delta: 75 x 0.5 x 100                = 3,750.00
#   gamma: 75 x 0.5 x 0.0004 x 100^2     =   150.00
#   theta: 75 x (-10) x 0.25 day         =  -187.50
#   vega:  75 x 12 x (14 - 15)           =  -900.00
#   sum                                  = 2,812.50
#   gross: 75 x (237.70 - 200.00)        = 2,827.50  -> residual 15.00
HAND = dict(
    quantity=75,
    spot_entry=25_000.0,
    spot_exit=25_100.0,
    iv_entry=0.15,
    iv_exit=0.14,
    delta=0.5,
    gamma=0.0004,
    theta=-10.0,
    vega=12.0,
    days=0.25,
)


def test_hand_worked_long_trade():
    a = attribute(gross_pnl=75 * (237.70 - 200.00), side="LONG", **HAND)
    assert a.delta == pytest.approx(3750.0)
    assert a.gamma == pytest.approx(150.0)
    assert a.theta == pytest.approx(-187.5)
    assert a.vega == pytest.approx(-900.0)
    assert a.residual == pytest.approx(15.0)
    assert a.delta + a.gamma + a.theta + a.vega + a.residual == pytest.approx(a.gross)


def test_a_short_trade_flips_every_part():
    # Sold at 200.00 and bought back at 237.70: the gross is the mirror image, and so is each part.
    a = attribute(gross_pnl=-75 * (237.70 - 200.00), side="SHORT", **HAND)
    assert (a.delta, a.gamma, a.theta, a.vega, a.residual) == pytest.approx((-3750, -150, 187.5, 900, -15))


def test_missing_snapshot_gives_none_and_bad_side_raises():
    assert attribute(gross_pnl=1.0, side="LONG", **{**HAND, "gamma": None}) is None
    assert attribute(gross_pnl=1.0, side="LONG", **{**HAND, "iv_exit": float("nan")}) is None
    with pytest.raises(ValueError, match="side"):
        side_sign("BUY")
    assert side_sign("short") == -1.0 and side_sign(1) == 1.0


def test_days_held_counts_calendar_time():
    entry = datetime(2025, 2, 28, 15, 0, tzinfo=IST)  # Friday 15:00
    assert days_held(entry, entry + timedelta(days=3, hours=-5)) == pytest.approx(2 + 19 / 24)
    with pytest.raises(ValueError, match="naive"):
        days_held(datetime(2025, 2, 28, 15, 0), entry)


def test_vectorised_equals_one_by_one_and_aggregates():
    rng = np.random.default_rng(5)
    n = 50
    arrays = dict(
        gross_pnl=rng.normal(0, 3000, n),
        sign=rng.choice([1.0, -1.0], n),
        quantity=rng.choice([75, 150, 225], n).astype(float),
        spot_entry=rng.uniform(24_000, 26_000, n),
        spot_exit=rng.uniform(24_000, 26_000, n),
        iv_entry=rng.uniform(0.1, 0.2, n),
        iv_exit=rng.uniform(0.1, 0.2, n),
        delta=rng.uniform(-1, 1, n),
        gamma=rng.uniform(0, 0.001, n),
        theta=rng.uniform(-20, 0, n),
        vega=rng.uniform(0, 20, n),
        days=rng.uniform(0, 3, n),
    )
    arrays["gamma"][3] = np.nan  # a trade without its snapshot
    parts = attribute_many(**arrays)
    for i in range(n):
        one = attribute(
            **{k: v[i] for k, v in arrays.items() if k not in ("sign", "gross_pnl")},
            gross_pnl=arrays["gross_pnl"][i],
            side=arrays["sign"][i],
        )
        if i == 3:
            assert (
                one is None and np.isnan(parts["residual"][i]) and parts["gross"][i] == arrays["gross_pnl"][i]
            )
            continue
        for name in ("delta", "gamma", "theta", "vega", "residual"):
            assert parts[name][i] == pytest.approx(getattr(one, name), rel=1e-12, abs=1e-9)
    groups = ["CE buy" if i % 2 else "PE buy" for i in range(n)]
    totals = aggregate(groups, parts)
    assert list(totals) == ["PE buy", "CE buy"]
    pe = totals["PE buy"]
    idx = [i for i in range(n) if i % 2 == 0]
    assert pe["trades"] == 25 and pe["attributed"] == 25
    ce = totals["CE buy"]
    assert ce["trades"] == 25 and ce["attributed"] == 24  # trade 3 has no snapshot
    assert ce["gross"] - ce["gross_attributed"] == pytest.approx(arrays["gross_pnl"][3])
    assert pe["gross"] == pytest.approx(sum(arrays["gross_pnl"][i] for i in idx))
    for row in totals.values():
        parts_sum = row["delta"] + row["gamma"] + row["theta"] + row["vega"] + row["residual"]
        assert parts_sum == pytest.approx(row["gross_attributed"])
    with pytest.raises(ValueError, match="group keys"):
        aggregate(groups[:-1], parts)


R = 0.065


def _bs_trade(h, *, is_call, side, model):
    """A trade repriced in full: the move (dS, dIV, time) scaled by h; gross and entry Greeks."""
    s0, k, vol0, t0, qty = 25_000.0, 25_100.0, 0.15, 5 / 365, 75
    ds, dvol, dt_days = 180.0 * h, -0.02 * h, 1.0 * h
    s1, vol1, t1 = s0 + ds, vol0 + dvol, t0 - dt_days / 365
    if model == "bs":
        p0 = bs_price(vol0, s0, k, t0, R, is_call)
        p1 = bs_price(vol1, s1, k, t1, R, is_call)
        g = greeks(vol0, s0, k, t0, R, is_call)
    else:  # Black-76 on the forward: the forward plays the spot; Greeks are Black-Scholes with q = r.
        p0 = black76_price(vol0, s0, k, t0, R, is_call)
        p1 = black76_price(vol1, s1, k, t1, R, is_call)
        g = greeks(vol0, s0, k, t0, R, is_call, q=R)
    sign = side_sign(side)
    return attribute(
        gross_pnl=sign * qty * (p1 - p0),
        side=side,
        quantity=qty,
        spot_entry=s0,
        spot_exit=s1,
        iv_entry=vol0,
        iv_exit=vol1,
        delta=g["delta"],
        gamma=g["gamma"],
        theta=g["theta"],
        vega=g["vega"],
        days=dt_days,
    )


@pytest.mark.parametrize("model", ["bs", "black76"])
@pytest.mark.parametrize("is_call,side", [(True, "LONG"), (False, "LONG"), (True, "SHORT"), (False, "SHORT")])
def test_residual_shrinks_faster_than_the_move_under_full_repricing(model, is_call, side):
    scales = [2.0**-k for k in range(8)]  # the whole move, then halved seven times
    trades = [_bs_trade(h, is_call=is_call, side=side, model=model) for h in scales]
    residuals = [abs(a.residual) for a in trades]
    shares = [abs(a.residual) / abs(a.gross) for a in trades]
    # The four parts explain the repriced P&L to within 3% at every size of move.
    assert max(shares) < 0.03
    # The residual is second order: each halving of the move halves the first-order parts but cuts the
    # residual by about four (from a quarter of the move down; above that the second-order terms of
    # opposite signs cross and the residual passes near 0).
    ratios = [big / small for big, small in zip(residuals[2:], residuals[3:])]
    assert all(ratio > 3.0 for ratio in ratios)
    assert 3.8 < ratios[-1] < 4.2
    assert shares[2:] == sorted(shares[2:], reverse=True) and shares[-1] < 0.001
    for a in trades:
        assert math.isclose(a.delta + a.gamma + a.theta + a.vega + a.residual, a.gross, abs_tol=1e-9)
