"""Trade-by-trade matching of the drift report (analytics/drift.py), worked by hand."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from analytics.drift import EXTRA, MATCHED, MISSED, SUMMARY_FIELDS, DriftTrade, drift_report
from tests.helpers import ist

D = date(2026, 5, 5)


def _t(
    tid, strategy, minute, price, *, side="CALL", exit_minute=None, exit_price="120", charges="60", net="1000"
):
    return DriftTrade(
        trade_id=tid,
        strategy=strategy,
        session=D,
        instrument_type=side,
        tradingsymbol="NIFTY26MAY24000CE",
        quantity=65,
        entry_time=ist(2026, 5, 5, 10, minute),
        exit_time=ist(2026, 5, 5, 11, exit_minute if exit_minute is not None else minute),
        entry_price=Decimal(price),
        exit_price=Decimal(exit_price),
        exit_type="TARGET",
        charges=Decimal(charges),
        net_pnl=Decimal(net),
    )


def test_matched_missed_and_extra_with_their_differences():
    backtest = [
        _t("B1", "PCR", 0, "100"),
        _t("B2", "PCR", 30, "110"),  # no traded counterpart: missed
        _t("B3", "ORB", 5, "90", side="PUT"),
    ]
    traded = [
        _t("P1", "PCR", 2, "100.50", exit_minute=1, exit_price="119.00", charges="61", net="900"),
        _t("P3", "ORB", 5, "90", side="CALL"),  # the other side: not the backtest's trade -> extra
        _t("P4", "ORB", 40, "95", side="PUT"),  # 35 min after B3: beyond the 15 min tolerance -> extra
    ]
    report = drift_report(backtest, traded, tolerance=timedelta(minutes=15))
    by_status = {}
    for row in report.rows:
        by_status.setdefault(row["status"], []).append(row)
    (m,) = by_status[MATCHED]
    assert (m["backtest_trade_id"], m["traded_trade_id"]) == ("B1", "P1")
    assert m["entry_delay_seconds"] == 120 and m["exit_delay_seconds"] == 60
    assert m["entry_slippage"] == Decimal("0.50") and m["exit_slippage"] == Decimal("-1.00")
    assert m["charges_difference"] == Decimal("1") and m["net_pnl_difference"] == Decimal("-100")
    assert sorted(r["backtest_trade_id"] for r in by_status[MISSED]) == ["B2", "B3"]
    assert sorted(r["traded_trade_id"] for r in by_status[EXTRA]) == ["P3", "P4"]

    assert all(list(s) == ["session", "strategy", *SUMMARY_FIELDS] for s in report.summary)
    summary = {(s["session"], s["strategy"]): s for s in report.summary}
    pcr = summary[(D, "PCR")]
    assert (pcr["matched"], pcr["missed"], pcr["extra"]) == (1, 1, 0)
    assert pcr["match_rate"] == round(100 * 2 * 1 / (2 + 1), 2)
    # (exit slippage - entry slippage) x quantity = (-1.00 - 0.50) x 65 = -97.50
    assert pcr["slippage"] == Decimal("-97.50")
    assert pcr["backtest_net_pnl"] == Decimal("2000") and pcr["traded_net_pnl"] == Decimal("900")
    orb = summary[(D, "ORB")]
    assert (orb["matched"], orb["missed"], orb["extra"], orb["match_rate"]) == (0, 1, 2, 0.0)
    assert report.totals["matched"] == 1 and report.totals["missed"] == 2 and report.totals["extra"] == 2


def test_the_closest_entries_pair_first():
    backtest = [_t("B1", "PCR", 0, "100"), _t("B2", "PCR", 10, "100")]
    traded = [_t("P1", "PCR", 9, "100"), _t("P2", "PCR", 1, "100")]
    pairs = {(r["backtest_trade_id"], r["traded_trade_id"]) for r in drift_report(backtest, traded).rows}
    assert pairs == {("B1", "P2"), ("B2", "P1")}


def test_identical_sides_match_completely():
    trades = [_t("X1", "PCR", 0, "100"), _t("X2", "ORB", 20, "80", side="PUT")]
    report = drift_report(trades, trades)
    assert report.totals["match_rate"] == 100.0 and report.totals["slippage"] == 0
    assert all(r["entry_delay_seconds"] == 0 for r in report.rows)
