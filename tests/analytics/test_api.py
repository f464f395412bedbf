"""The analytics API (/api/analytics/*): its figures against independent references over the same stored
trades - the per-trade functions of analytics.stats (themselves equal to quantstats) for the summary,
a naive second implementation over Python lists for the breakdowns and the daily series - its filters
(the journal's, one mode, ``mode=ALL``) and its 400s naming the parameter."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal as D

import numpy as np
import pytest
from django.conf import settings
from rest_framework.test import APIClient

from analytics import stats
from analytics.returns import TradeColumns
from journal.models import Trade
from journal.services import record_trade
from tests.helpers import IST, NOW, ist, trade_fields, user_with_role
from trading.core import calendar as market_calendar

pytestmark = pytest.mark.django_db

STRATEGIES = ("PCRStrategy", "MaxPainStrategy", "VixMeanReversion")
TAGS = ([], ["expiry"], ["gap-up", "news"], ["news"])


def _trades(n: int = 48, seed: int = 7) -> list[Trade]:
    """``n`` trades over about three months: PAPER and a few BACKTEST, three strategies, CE/PE, LONG and
    SHORT, every exit type, entries across the session and the week, 0-9 days to expiry, VIX/PCR/IV
    percentile/max pain spread over their buckets (some missing), tags, trades without a stop (no R),
    without MAE/MFE, a scratch, and a run of losses."""
    rng = random.Random(seed)
    out = []
    day = date(2026, 2, 2)
    exit_types = ("TARGET", "STOP_LOSS", "TRAILING_STOP", "TIME_EXIT", "SQUARE_OFF", "MANUAL")
    for i in range(n):
        while not market_calendar.is_trading_day(day):
            day += timedelta(days=1)
        minute = rng.randrange(0, 6 * 60)  # 09:15 .. 15:15
        entry = ist(day.year, day.month, day.day, 9, 15) + timedelta(
            minutes=minute, seconds=rng.randrange(60)
        )
        hold = rng.randrange(3, 14)
        exit_ = min(entry + timedelta(minutes=hold), ist(day.year, day.month, day.day, 15, 29))
        if 20 <= i < 27:
            move = D("-7.50")  # seven losses in a row
        elif i == 30:
            move = D("0")
        else:
            move = D(rng.randrange(-300, 500)) / 20
        entry_price = D("100")
        side = "SHORT" if i % 5 == 4 else "LONG"
        exit_price = entry_price + (move if side == "LONG" else -move)
        expiry = day + timedelta(days=rng.choice((0, 0, 1, 2, 3, 4, 5, 7, 9)))
        spot = 24000 + rng.randrange(-400, 400)
        features = {"vix": 14.0}
        if i % 7 != 3:
            features["iv_percentile"] = round(rng.uniform(0, 100), 2)
        fields = trade_fields(
            trade_id=f"API-{i}",
            entry_time=entry,
            exit_time=exit_,
            expiry_date=expiry.isoformat(),
            instrument_type="CALL" if i % 2 == 0 else "PUT",
            side=side,
            entry_price=entry_price,
            exit_price=exit_price,
            exit_type=exit_types[i % len(exit_types)],
            strategy_name=STRATEGIES[i % 3],
            entry_mode="BACKTEST" if i % 8 == 5 else "PAPER",
            stop_loss_price=(D("80") if side == "LONG" else D("120")) if i % 6 != 2 else None,
            target_price=None,
            vix_entry=round(rng.uniform(9, 26), 3) if i % 9 != 4 else None,
            pcr_entry=round(rng.uniform(0.4, 1.7), 4) if i % 10 != 6 else None,
            spot_price_entry=D(spot),
            max_pain_entry=D(spot + rng.choice((-390, -170, -70, 10, 90, 190, 300))) if i % 11 != 8 else None,
            mae=D(-rng.randrange(0, 2000)) if i % 4 != 1 else None,
            mfe=D(rng.randrange(0, 3000)) if i % 4 != 1 else None,
            tags=TAGS[i % len(TAGS)],
            entry_features=features,
        )
        out.append(record_trade(now=NOW, **fields))
        day += timedelta(days=rng.choice((1, 1, 2, 3)))
    return out


@pytest.fixture
def trades():
    return _trades()


def _get(api, path: str, **params):
    response = api.get(f"/api/analytics/{path}", params)
    assert response.status_code == 200, response.content[:400]
    return response.json()


def _close(a, b, rel=1e-9):
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=rel, abs_tol=1e-9)


def _columns(trades: list[Trade]) -> TradeColumns:
    trades = sorted(trades, key=lambda t: (t.exit_time, t.pk))

    def f(v):
        return math.nan if v is None else float(v)

    return TradeColumns(
        trade_date=np.array([t.trade_date for t in trades], dtype="datetime64[D]"),
        net=np.array([f(t.net_pnl) for t in trades]),
        gross=np.array([f(t.gross_pnl) for t in trades]),
        charges=np.array([f(t.total_charges) for t in trades]),
        hold_minutes=np.array([f(t.hold_duration_minutes) for t in trades]),
        r_multiple=np.array([f(t.r_multiple) for t in trades]),
        mae=np.array([f(t.mae) for t in trades]),
        mfe=np.array([f(t.mfe) for t in trades]),
    )


def _paper(trades):
    return [t for t in trades if t.entry_mode == "PAPER"]


# --- summary ---------------------------------------------------------------------------------------------


def test_summary_equals_the_per_trade_figures_of_the_same_trades(trades, api):
    body = _get(api, "summary")
    paper = _paper(trades)
    expected = stats.summary(_columns(paper), capital=settings.TRADING_CAPITAL)
    assert body["mode"] == "PAPER" and body["trades"] == len(paper) > 30
    assert set(expected) <= set(body)
    for key, value in expected.items():
        if key in ("start", "end"):
            assert body[key] == value.isoformat(), key
        else:
            assert _close(body[key], value), (key, body[key], value)
    # A few by hand, over the plain list.
    nets = [float(t.net_pnl) for t in sorted(paper, key=lambda t: (t.exit_time, t.pk))]
    assert body["win_rate"] == pytest.approx(sum(n > 0 for n in nets) / len(nets) * 100)
    assert body["net_pnl"] == pytest.approx(round(sum(nets), 2))
    run = longest = 0
    for n in nets:
        run = run + 1 if n < 0 else 0
        longest = max(longest, run)
    assert body["longest_loss_streak"] == longest >= 6
    assert body["sharpe"] is not None and body["sortino"] is not None


def test_summary_takes_a_risk_free_rate_and_mixes_modes_only_for_all(trades, api):
    paper = _paper(trades)
    with_rf = _get(api, "summary", rf="0.065")
    expected = stats.summary(_columns(paper), capital=settings.TRADING_CAPITAL, rf=0.065)
    assert _close(with_rf["sharpe"], expected["sharpe"]) and with_rf["risk_free_rate"] == 0.065
    everything = _get(api, "summary", mode="ALL")
    assert everything["mode"] == "ALL" and everything["trades"] == len(trades)
    backtest = _get(api, "summary", mode="backtest")
    assert backtest["trades"] == len(trades) - len(paper) > 0


def test_summary_of_nothing_is_zeros_and_nulls(api):
    body = _get(api, "summary")
    assert body["trades"] == 0 and body["win_rate"] is None and body["sharpe"] is None
    assert body["days"] == 0 and body["start"] is None


# --- the daily series --------------------------------------------------------------------------------------


def _naive_days(trades: list[Trade], capital: float) -> list[dict]:
    by_day: dict[date, list] = defaultdict(list)
    for t in trades:
        by_day[t.trade_date].append(float(t.net_pnl))
    days = market_calendar.trading_days(min(by_day), max(by_day))
    out, equity, peak = [], capital, capital
    for d in sorted(set(days) | set(by_day)):
        net = round(sum(by_day.get(d, [])), 2)
        start = equity
        equity += net
        peak = max(peak, equity)
        out.append(
            {
                "date": d.isoformat(),
                "trades": len(by_day.get(d, [])),
                "net": net,
                "equity": equity,
                "return": net / start,
                "drawdown": equity - peak,
            }
        )
    return out


def test_daily_equity_and_drawdown_equal_a_naive_walk_over_the_days(trades, api):
    capital = float(settings.TRADING_CAPITAL)
    naive = _naive_days(_paper(trades), capital)
    daily = _get(api, "daily")["days"]
    assert [d["date"] for d in daily] == [d["date"] for d in naive]
    for got, want in zip(daily, naive, strict=True):
        assert got["trades"] == want["trades"]
        assert got["net"] == pytest.approx(want["net"], abs=1e-6)
        assert got["equity"] == pytest.approx(want["equity"], abs=1e-6)
        assert got["return"] == pytest.approx(want["return"], rel=1e-9)
    equity = _get(api, "equity")
    assert equity["capital"] == capital
    assert [p["equity"] for p in equity["points"]] == pytest.approx([d["equity"] for d in naive])
    dd = _get(api, "drawdown")
    assert [p["drawdown"] for p in dd["points"]] == pytest.approx([d["drawdown"] for d in naive], abs=1e-6)
    assert dd["max_drawdown"] == pytest.approx(min(d["drawdown"] for d in naive), abs=1e-6)
    assert dd["spells"] and all(s["depth"] < 0 for s in dd["spells"])
    assert max(s["trading_days"] for s in dd["spells"]) == dd["longest_drawdown_days"]


def test_monthly_compounds_the_days_of_each_month(trades, api):
    capital = float(settings.TRADING_CAPITAL)
    naive = _naive_days(_paper(trades), capital)
    months: dict[str, dict] = {}
    for d in naive:
        m = months.setdefault(d["date"][:7], {"net": 0.0, "growth": 1.0, "trades": 0})
        m["net"] += d["net"]
        m["growth"] *= 1 + d["return"]
        m["trades"] += d["trades"]
    body = _get(api, "monthly")
    assert [m["month"] for m in body["months"]] == sorted(months)
    for m in body["months"]:
        want = months[m["month"]]
        assert m["trades"] == want["trades"]
        assert m["net"] == pytest.approx(want["net"], abs=1e-6)
        assert m["return"] == pytest.approx(want["growth"] - 1, rel=1e-9)
    assert body["years"][0]["year"] == 2026
    assert body["years"][0]["trades"] == sum(m["trades"] for m in months.values())


def test_the_per_day_rows_and_the_trades_give_the_same_series(trades, api):
    # mode (and dates) alone: the per-day performance rows; with a strategy: a GROUP BY of the trades.
    fast = _get(api, "daily", date_from="2026-02-10", date_to="2026-04-10")["days"]
    slow = _get(api, "daily", date_from="2026-02-10", date_to="2026-04-10", pnl_min="-1e9")["days"]
    assert fast == slow and fast
    one = _get(api, "daily", strategy="PCRStrategy")["days"]
    naive = _naive_days([t for t in _paper(trades) if t.strategy_name == "PCRStrategy"], 1.0)
    assert [(d["date"], d["trades"]) for d in one] == [(d["date"], d["trades"]) for d in naive]


# --- breakdowns --------------------------------------------------------------------------------------------


def _minute_key(t: Trade) -> str:
    at = t.entry_time.astimezone(IST)
    m = at.hour * 60 + at.minute
    if m < 555:
        return "pre"
    if m >= 930:
        return "post"
    lo = 555 + (m - 555) // 15 * 15
    return f"{lo // 60:02d}{lo % 60:02d}"


def _dte(t: Trade) -> int:
    return (t.expiry_date - t.entry_time.astimezone(IST).date()).days


def _band(v, low, high):
    if v is None:
        return "na"
    return "low" if v < low else ("normal" if v <= high else "high")


def _edges(v, edges, keys):
    if v is None:
        return "na"
    for edge, key in zip(edges, keys, strict=False):
        if v < edge:
            return key
    return keys[-1]


def _mp(t: Trade):
    if t.max_pain_entry is None or not t.spot_price_entry:
        return None
    return float((t.spot_price_entry - t.max_pain_entry) * 100 / t.spot_price_entry)


NAIVE_KEYS = {
    "strategy": lambda t: [t.strategy_name],
    "instrument_type": lambda t: ["CE" if t.instrument_type == "CALL" else "PE"],
    "side": lambda t: [t.side],
    "exit_type": lambda t: [t.exit_type],
    "entry_time": lambda t: [_minute_key(t)],
    "weekday": lambda t: [
        ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[t.entry_time.astimezone(IST).weekday()]
    ],
    "days_to_expiry": lambda t: [str(_dte(t)) if _dte(t) < 3 else ("3-5" if _dte(t) < 6 else "6+")],
    "expiry_day": lambda t: ["expiry" if _dte(t) == 0 else "other"],
    "vix_regime": lambda t: [_band(t.vix_entry, 12, 20)],
    "pcr": lambda t: [_band(t.pcr_entry, 0.7, 1.3)],
    "iv_percentile": lambda t: [
        _edges(
            (t.entry_features or {}).get("iv_percentile"),
            (20, 40, 60, 80),
            ("lt20", "20_40", "40_60", "60_80", "ge80"),
        )
    ],
    "max_pain_distance": lambda t: [
        _edges(
            _mp(t),
            (-1, -0.5, -0.2, 0.2, 0.5, 1),
            ("ltm1", "m1_m0.5", "m0.5_m0.2", "m0.2_0.2", "0.2_0.5", "0.5_1", "ge1"),
        )
    ],
    "tag": lambda t: t.tag_list or ["na"],
    "month": lambda t: [f"{t.trade_date:%Y-%m}"],
}


def _naive_breakdown(trades: list[Trade], key) -> dict[str, dict]:
    groups: dict[str, list[Trade]] = defaultdict(list)
    for t in trades:
        for k in key(t):
            groups[k].append(t)
    out = {}
    for k, ts in groups.items():
        nets = [float(t.net_pnl) for t in ts]
        rs = [float(t.r_multiple) for t in ts if t.r_multiple is not None]
        wins, losses = [n for n in nets if n > 0], [n for n in nets if n < 0]
        out[k] = {
            "trades": len(ts),
            "wins": len(wins),
            "losses": len(losses),
            "win_rate": len(wins) / len(ts) * 100,
            "net_pnl": round(sum(nets), 2),
            "expectancy": sum(nets) / len(ts),
            "profit_factor": sum(wins) / -sum(losses) if losses else None,
            "average_r": sum(rs) / len(rs) if rs else None,
        }
    return out


def test_each_breakdown_equals_a_naive_grouping_of_the_trades(trades, api):
    for by, key_of in NAIVE_KEYS.items():  # one set of trades for all fourteen (the suite's time)
        body = _get(api, "breakdown", by=by)
        naive = _naive_breakdown(_paper(trades), key_of)
        got = {row["key"]: row for row in body["rows"]}
        assert body["by"] == by and set(got) == set(naive), by
        for key, want in naive.items():
            row = got[key]
            for name, value in want.items():
                assert _close(row[name], value, rel=1e-9), (by, key, name, row[name], value)
        assert len(naive) >= 2, by


def test_breakdown_rows_come_in_bucket_order_with_labels(trades, api):
    rows = _get(api, "breakdown", by="weekday")["rows"]
    order = ("mon", "tue", "wed", "thu", "fri", "sat", "sun", "na")
    assert [r["key"] for r in rows] == sorted((r["key"] for r in rows), key=order.index)
    assert rows[0]["label"] in ("Monday", "Tuesday")
    months = _get(api, "breakdown", by="month")["rows"]
    assert [m["key"] for m in months] == sorted(m["key"] for m in months)
    assert months[0]["label"] == "Feb 2026"
    strategies = _get(api, "breakdown", by="strategy", mode="ALL", strategy="PCRStrategy")["rows"]
    assert [r["key"] for r in strategies] == ["PCRStrategy"]
    assert strategies[0]["trades"] == sum(t.strategy_name == "PCRStrategy" for t in trades)


# --- bad input -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("breakdown", {"by": "colour"}, "by"),
        ("breakdown", {}, "by"),
        ("breakdown", {"by": "strategy", "date_from": "yesterday"}, "date_from"),
        ("summary", {"mode": "DEMO"}, "mode"),
        ("summary", {"mode": ""}, "mode"),
        ("summary", {"rf": "lots"}, "rf"),
        ("summary", {"rf": "1.5"}, "rf"),
        ("equity", {"winning": "maybe"}, "winning"),
        ("daily", {"pnl_min": "a"}, "pnl_min"),
        ("monthly", {"exit_from": "2026-13-01T00:00"}, "exit_from"),
        ("drawdown", {"instrument_type": "FUT"}, "instrument_type"),
    ],
)
def test_bad_input_is_a_400_naming_the_parameter(api, path, params, field):
    response = api.get(f"/api/analytics/{path}", params)
    assert response.status_code == 400 and field in response.json(), response.content


def test_the_api_needs_a_login(db):
    assert APIClient().get("/api/analytics/summary").status_code == 401


# --- Greeks attribution, stored on the trade -------------------------------------------------------------


def _worked(side: str = "LONG", **over) -> Trade:
    """docs/analytics.md's hand-worked trade: 75 units at 200.00 -> 237.70 over six hours (0.25 day),
    spot 25,000 -> 25,100, IV 15% -> 14%, entry Greeks delta 0.5, gamma 0.0004, theta -10, vega 12."""
    buy, sell = D("200.00"), D("237.70")
    fields = trade_fields(
        trade_id=f"WORKED-{side}",
        entry_time=ist(2025, 6, 2, 9, 20),
        exit_time=ist(2025, 6, 2, 15, 20),
        expiry_date="2025-06-05",
        quantity=75,
        side=side,
        entry_price=buy if side == "LONG" else sell,
        exit_price=sell if side == "LONG" else buy,
        stop_loss_price=None,
        target_price=None,
        spot_price_entry=D("25000"),
        spot_price_exit=D("25100"),
        iv_entry=0.15,
        iv_exit=0.14,
        delta_entry=0.5,
        gamma_entry=0.0004,
        theta_entry=-10.0,
        vega_entry=12.0,
    )
    fields.update(over)
    return record_trade(now=NOW, **fields)


def test_the_attribution_of_the_hand_worked_trade_is_stored_on_it():
    long_ = _worked("LONG")
    # LONG buys at 200 and sells at 237.70; SHORT sells at 237.70 and buys back at 200: the same
    # market path read the other way round is the negated trade only when it sells first at 200.
    assert long_.gross_pnl == D("2827.50")
    parts = (long_.delta_pnl, long_.gamma_pnl, long_.theta_pnl, long_.vega_pnl, long_.residual_pnl)
    assert parts == (D("3750.00"), D("150.00"), D("-187.50"), D("-900.00"), D("15.00"))
    short = record_trade(
        now=NOW,
        **{
            **trade_fields(),
            "trade_id": "WORKED-SHORT",
            "entry_time": long_.entry_time,
            "exit_time": long_.exit_time,
            "expiry_date": "2025-06-05",
            "quantity": 75,
            "side": "SHORT",
            "entry_price": D("200.00"),
            "exit_price": D("237.70"),
            "stop_loss_price": None,
            "target_price": None,
            "spot_price_entry": D("25000"),
            "spot_price_exit": D("25100"),
            "iv_entry": 0.15,
            "iv_exit": 0.14,
            "delta_entry": 0.5,
            "gamma_entry": 0.0004,
            "theta_entry": -10.0,
            "vega_entry": 12.0,
        },
    )
    assert short.gross_pnl == D("-2827.50")
    assert (short.delta_pnl, short.gamma_pnl, short.theta_pnl, short.vega_pnl, short.residual_pnl) == tuple(
        -p for p in parts
    )


def test_a_trade_without_its_snapshots_has_no_attribution_and_an_edit_recomputes_it(db):
    from journal.services import trade_update

    bare = record_trade(now=NOW, **trade_fields(trade_id="BARE"))
    assert bare.delta_pnl is bare.residual_pnl is None
    worked = _worked()
    operator = user_with_role("operator", "fixer")
    fixed = trade_update(trade=worked, user=operator, source="api", exit_price=D("240.00"))
    # gross 75 x 40 = 3,000.00; the Greek parts depend on the snapshots only; the residual takes the rest.
    assert (fixed.gross_pnl, fixed.delta_pnl, fixed.residual_pnl) == (D("3000.00"), D("3750.00"), D("187.50"))


def test_attribution_api_sums_the_stored_parts_per_group(trades, api):
    from journal.services import trade_update

    worked = _worked()
    operator = user_with_role("operator", "op")
    for i, t in enumerate(trades[:12]):  # snapshots on a few of the random trades, through an edit
        trade_update(
            trade=t,
            user=operator,
            source="api",
            spot_price_exit=t.spot_price_entry + 40 - 7 * i,
            iv_entry=0.13,
            iv_exit=0.13 + 0.002 * (i - 5),
            delta_entry=0.5 if t.side == "LONG" else 0.45,
            gamma_entry=0.0007,
            theta_entry=-11.0,
            vega_entry=12.5,
        )
    stored = list(Trade.objects.filter(entry_mode="PAPER"))
    body = _get(api, "attribution")
    assert body["by"] == "strategy" and body["components"] == ["delta", "gamma", "theta", "vega", "residual"]
    rows = {r["key"]: r for r in body["rows"]}
    assert set(rows) == {t.strategy_name for t in stored}
    for name, row in rows.items():
        group = [t for t in stored if t.strategy_name == name]
        done = [t for t in group if t.delta_pnl is not None]
        assert row["trades"] == len(group) and row["attributed"] == len(done)
        assert row["gross_pnl"] == pytest.approx(float(sum(t.gross_pnl for t in group)), abs=1e-6)
        assert row["gross_attributed"] == pytest.approx(float(sum(t.gross_pnl for t in done)), abs=1e-6)
        for c in ("delta", "gamma", "theta", "vega", "residual"):
            assert row[c] == pytest.approx(float(sum(getattr(t, f"{c}_pnl") for t in done)), abs=1e-6)
        parts = sum(row[c] for c in ("delta", "gamma", "theta", "vega", "residual"))
        assert parts == pytest.approx(row["gross_attributed"], abs=0.01 * max(row["attributed"], 1))
    assert (
        rows["PCRStrategy"]["attributed"]
        >= 1 + sum(1 for t in trades[:12] if t.strategy_name == "PCRStrategy" and t.entry_mode == "PAPER") - 0
    )  # the worked trade is a PCRStrategy trade too
    assert body["total"]["trades"] == len(stored)
    by_tag = _get(api, "attribution", by="tag")
    assert by_tag["total"] == {**body["total"]}
    assert worked.delta_pnl == D("3750.00")


def test_the_trade_page_shows_its_attribution(client):
    worked = _worked()
    client.force_login(user_with_role("viewer", "reader"))
    page = client.get(f"/journal/{worked.pk}/").content.decode()
    assert "Greeks attribution" in page
    assert 'data-field="delta_pnl">\u20b93,750.00<' in page
    assert 'data-field="vega_pnl">-\u20b9900.00<' in page


# --- the performance rows and the trades agree ----------------------------------------------------------


def test_the_summary_from_the_performance_rows_equals_the_one_from_the_trades(trades, api):
    from journal.models import DailyPerformance

    for params in ({}, {"date_from": "2026-03-01"}, {"strategy": "MaxPainStrategy"}, {"mode": "ALL"}):
        rows = _get(api, "summary", **params)  # dates/mode, or a strategy: the performance rows
        direct = _get(api, "summary", **params, pnl_min="-1e9")  # a filter they cannot answer
        _same(rows, direct, params)
    # Rows written before their analytics sums existed (first_sign null) are not trusted.
    DailyPerformance.objects.update(first_sign=None, r_count=0, best_loss_run=0)
    _same(_get(api, "summary"), _get(api, "summary", pnl_min="-1e9"), "not computed")


def test_breakdowns_from_the_performance_rows_equal_those_from_the_trades(trades, api):
    for by, params in (
        ("strategy", {}),
        ("strategy", {"mode": "ALL"}),
        ("strategy", {"strategy": "PCRStrategy", "mode": "BACKTEST"}),
        ("month", {}),
        ("month", {"mode": "ALL", "date_from": "2026-03-02"}),
    ):
        rows = _get(api, "breakdown", by=by, **params)["rows"]
        direct = _get(api, "breakdown", by=by, **params, pnl_min="-1e9")["rows"]
        assert [r["key"] for r in rows] == [r["key"] for r in direct] and rows, (by, params)
        for a, b in zip(rows, direct, strict=True):
            _same(a, b, (by, params))


def _same(a: dict, b: dict, why) -> None:
    assert set(a) == set(b), why
    for key in a:
        if isinstance(a[key], float) and isinstance(b[key], float):
            assert math.isclose(a[key], b[key], rel_tol=1e-12, abs_tol=1e-12), (why, key, a[key], b[key])
        else:
            assert a[key] == b[key], (why, key, a[key], b[key])


def test_runs_of_rows_join_into_the_streaks_of_their_trades():
    from journal.accumulator import Accumulator, join_runs

    rng = random.Random(3)
    for _ in range(300):
        nets = [D(rng.choice((-2, -1, -1, 0, 1, 1, 3))) for _ in range(rng.randrange(1, 40))]
        cuts = sorted(
            set(rng.sample(range(1, len(nets) + 1), k=min(len(nets), rng.randrange(1, 6)))) | {len(nets)}
        )
        rows, start = [], 0
        for cut in cuts:
            acc = Accumulator()
            for n in nets[start:cut]:
                acc.add(net_pnl=n, gross_pnl=n, charges=D(0), hold_minutes=D(1))
            rows.append(acc)
            start = cut

        def longest(flags):
            best = run = 0
            for f in flags:
                run = run + 1 if f else 0
                best = max(best, run)
            return best

        assert join_runs(rows) == (longest(n > 0 for n in nets), longest(n < 0 for n in nets)), (nets, cuts)


def test_the_migration_fills_the_attribution_of_trades_recorded_before_it():
    import importlib

    from django.apps import apps

    migration = importlib.import_module("journal.migrations.0005_analytics_attribution_and_sums")
    worked = _worked()
    bare = record_trade(now=NOW, **trade_fields(trade_id="BARE-2"))
    Trade.objects.update(delta_pnl=None, gamma_pnl=None, theta_pnl=None, vega_pnl=None, residual_pnl=None)
    migration.fill(apps, None)
    worked.refresh_from_db()
    bare.refresh_from_db()
    assert (worked.delta_pnl, worked.vega_pnl, worked.residual_pnl) == (
        D("3750.00"),
        D("-900.00"),
        D("15.00"),
    )
    assert bare.delta_pnl is None
