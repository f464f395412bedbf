"""Performance figures against a naive second implementation."""

from __future__ import annotations

import random
from decimal import Decimal as D

from journal.accumulator import Accumulator, max_drawdown, summarize


def _naive(pnls):
    wins = [p for p in pnls if p > 0]
    losses = [p for p in pnls if p < 0]
    curve, cum = [D(0)], D(0)
    for p in pnls:
        cum += p
        curve.append(cum)
    dd = max(max(curve[: i + 1]) - curve[i] for i in range(len(curve)))
    return {
        "trades": len(pnls),
        "wins": len(wins),
        "losses": len(losses),
        "net": sum(pnls, D(0)),
        "pf": sum(wins, D(0)) / -sum(losses, D(0)) if losses else None,
        "dd": dd,
    }


def test_figures_match_a_naive_computation():
    rng = random.Random(3)
    pnls = [D(rng.randint(-300000, 300000)) / 100 for _ in range(500)] + [D("0")]
    figures = summarize((p, p + 40, D(40), D(10)) for p in pnls)
    ref = _naive(pnls)
    assert figures["trades"] == ref["trades"] and figures["wins"] == ref["wins"]
    assert figures["losses"] == ref["losses"]
    assert figures["net_pnl"] == ref["net"]
    assert figures["max_drawdown"] == ref["dd"] == max_drawdown(pnls)
    assert abs(figures["profit_factor"] - ref["pf"]) < D("0.0001")
    assert figures["total_charges"] == D(40) * len(pnls)


def test_hand_worked_example():
    # +100, -50, -80, +200: peak 100, trough -30 -> drawdown 130; PF 300/130 = 2.3077
    f = summarize((D(p), D(p), D(0), D(30)) for p in ("100", "-50", "-80", "200"))
    assert f["max_drawdown"] == D("130.00") and f["profit_factor"] == D("2.3077")
    assert f["win_rate"] == D("50.00") and f["expectancy"] == D("42.50")
    assert f["avg_win"] == D("150.00") and f["avg_loss"] == D("-65.00")
    assert f["best_trade"] == D("200.00") and f["worst_trade"] == D("-80.00")


def test_resuming_from_stored_figures_equals_one_pass():
    pnls = [D("10"), D("-30"), D("25"), D("-5"), D("40")]
    whole = summarize((p, p, D(0), D(1)) for p in pnls)
    acc = Accumulator()
    for p in pnls[:2]:
        acc.add(net_pnl=p, gross_pnl=p, charges=D(0), hold_minutes=D(1))
    resumed = Accumulator.from_figures(acc.figures())
    for p in pnls[2:]:
        resumed.add(net_pnl=p, gross_pnl=p, charges=D(0), hold_minutes=D(1))
    assert resumed.figures() == whole
