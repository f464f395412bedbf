"""The breakdown cells (journal.cells): after every kind of trade write (record_trade one by one, bulk
record_trades, an admin edit, a delete, a rebuild) they equal a naive second implementation over Python
lists - each trade's group of every breakdown worked out in Python (tests.analytics.test_api's
NAIVE_KEYS), summed per (breakdown, mode, day, strategy, group). The API answers the same from the cells
and from the live GROUP BY, and a changed bound setting sends the breakdown back to the live path.
Runs on SQLite and on PostgreSQL (DATABASE_URL), like the rest of tests/analytics."""

from __future__ import annotations

import io
import math
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from analytics import selectors
from analytics.report_filters import report_filters
from journal import cells
from journal.models import BreakdownCell, BreakdownCellSpec, Trade
from journal.services import record_trade, record_trades, trade_delete, trade_update
from tests.analytics.test_api import NAIVE_KEYS, _band, _get, _trades
from tests.helpers import NOW, trade_fields

pytestmark = pytest.mark.django_db


@pytest.fixture
def trades():
    return _trades()


def _same(a, b, why) -> None:
    """Equal answers; floats to 1e-9 (SQLite sums decimals as floats, in any order)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), why
        for k in a:
            _same(a[k], b[k], (why, k))
    elif isinstance(a, list | tuple):
        assert type(b) is type(a) and len(a) == len(b), why
        for x, y in zip(a, b, strict=True):
            _same(x, y, why)
    elif isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9), (why, a, b)
    else:
        assert a == b, (why, a, b)


PARTS = ("delta_pnl", "gamma_pnl", "theta_pnl", "vega_pnl", "residual_pnl")
SUMS = (
    "trades",
    "wins",
    "losses",
    "net_pnl",
    "sum_wins",
    "sum_losses",
    "r_count",
    "r_sum",
    "attributed",
    "gross_pnl",
    "gross_attributed",
    *PARTS,
)


def _greeks(i: int) -> dict:
    """Entry and exit snapshots (so the trade has a Greeks attribution) for some trades."""
    return dict(
        spot_price_entry=D("24000"),
        spot_price_exit=D(24000 + 10 * (i % 7) - 30),
        iv_entry=0.15,
        iv_exit=0.14 + 0.001 * (i % 5),
        delta_entry=0.5,
        gamma_entry=0.0004,
        theta_entry=-10.0,
        vega_entry=12.0,
        max_pain_entry=None,
    )


def _naive_cells(trades: list[Trade]) -> dict[tuple, dict]:
    """(breakdown, mode, day, strategy, key) -> the cell's sums, over Python lists."""
    groups: dict[tuple, list[Trade]] = defaultdict(list)
    for t in trades:
        for name, key_of in NAIVE_KEYS.items():
            for k in dict.fromkeys(key_of(t)):  # a tag given twice is one group
                groups[(name, t.entry_mode, t.trade_date, t.strategy_name, k)].append(t)
    out = {}
    for cell, ts in groups.items():
        nets = [t.net_pnl for t in ts]
        attributed = [t for t in ts if t.delta_pnl is not None]
        out[cell] = {
            "trades": len(ts),
            "wins": sum(1 for n in nets if n > 0),
            "losses": sum(1 for n in nets if n < 0),
            "net_pnl": sum(nets),
            "sum_wins": sum(n for n in nets if n > 0),
            "sum_losses": sum(n for n in nets if n < 0),
            "r_count": sum(1 for t in ts if t.r_multiple is not None),
            "r_sum": sum(t.r_multiple for t in ts if t.r_multiple is not None),
            "attributed": len(attributed),
            "gross_pnl": sum(t.gross_pnl for t in ts),
            "gross_attributed": sum(t.gross_pnl for t in attributed),
            **{p: sum(getattr(t, p) for t in attributed) for p in PARTS},
        }
    return out


def _stored_cells() -> dict[tuple, dict]:
    return {
        (c.dimension, c.mode, c.date, c.strategy_name, c.key): {s: getattr(c, s) for s in SUMS}
        for c in BreakdownCell.objects.all()
    }


def _assert_cells_equal_naive(why: str) -> None:
    naive = _naive_cells(list(Trade.objects.all()))
    stored = _stored_cells()
    assert set(stored) == set(naive), (why, set(stored) ^ set(naive))
    assert {k[0] for k in naive} == set(NAIVE_KEYS), why  # every breakdown has cells
    for cell, want in naive.items():
        for name, value in want.items():
            got = stored[cell][name]
            assert math.isclose(float(got), float(value), rel_tol=1e-12, abs_tol=1e-6), (why, cell, name)


def _more_fields(n: int, prefix: str, start: int = 0) -> list[dict]:
    """Trades on days and strategies that already have cells, some with a Greeks attribution."""
    out = []
    for i in range(start, start + n):
        entry = NOW.replace(year=2026, month=2, day=2 + i % 20, hour=4, minute=10 + i % 40)
        while entry.weekday() >= 5:
            entry += timedelta(days=1)
        out.append(
            trade_fields(
                trade_id=f"{prefix}-{i}",
                entry_time=entry,
                exit_time=entry + timedelta(minutes=7),
                expiry_date=(entry + timedelta(days=i % 6)).date().isoformat(),
                exit_price=D(100 + (i % 9) * 5 - 20),
                strategy_name=("PCRStrategy", "MaxPainStrategy")[i % 2],
                entry_mode=("PAPER", "BACKTEST")[i % 3 == 0],
                tags=(["news"], ["expiry", "news"], [])[i % 3],
                vix_entry=None if i % 4 == 0 else 9.0 + i,
                **(_greeks(i) if i % 2 else {}),
            )
        )
    return out


def test_cells_equal_a_naive_grouping_after_every_kind_of_write(trades):
    _assert_cells_equal_naive("record_trade one by one")
    for fields in _more_fields(6, "ONE"):
        record_trade(now=NOW, **fields)
    _assert_cells_equal_naive("record_trade with attribution")
    stored = record_trades(now=NOW, trades=[*_more_fields(30, "BULK"), *_more_fields(2, "ONE")])
    assert len(stored) == 30  # the two stored already are not stored again
    _assert_cells_equal_naive("bulk record_trades")

    paper = Trade.objects.filter(entry_mode="PAPER").order_by("id")
    edited = paper[3]
    trade_update(trade=edited, strategy_name="VixMeanReversion", tags=["fomo", "news"])
    trade_update(trade=paper[5], exit_price=D("55"), vix_entry=30.5)
    trade_update(trade=paper[7], entry_mode="BACKTEST")
    _assert_cells_equal_naive("admin edits")
    trade_delete(trade=paper[9])
    trade_delete(trade=Trade.objects.get(trade_id="BULK-1"))
    _assert_cells_equal_naive("deletes")

    before = _stored_cells()
    cells.rebuild()
    assert _stored_cells() == before  # the rebuild finds what the writes kept
    _assert_cells_equal_naive("rebuild")


@pytest.mark.django_db(transaction=True)
def test_one_trade_at_a_time_stays_exact_on_a_new_connection_and_after_many_writes():
    """``record_trade``'s cells statement is prepared once per connection on PostgreSQL: a new
    connection prepares it again, and writes past PostgreSQL's first five (its generic plan) stay exact."""
    for i, fields in enumerate(_more_fields(16, "ONE")):
        if i == 8:
            connection.close()  # the next write is on a new connection
        record_trade(now=NOW, **fields)
    _assert_cells_equal_naive("one by one, over two connections")


FILTERS = (
    {},
    {"mode": "ALL"},
    {"mode": "BACKTEST"},
    {"date_from": "2026-02-16", "date_to": "2026-03-20"},
    {"strategy": "MaxPainStrategy"},
    {"strategy": "PCRStrategy", "mode": "ALL", "date_to": "2026-03-31"},
)


def _filterset(params: dict):
    f = report_filters(dict(params)).filterset
    assert f.is_valid()
    return f


def test_the_api_answers_the_same_from_the_cells_and_from_the_trades(trades, api):
    record_trades(now=NOW, trades=_more_fields(12, "BULK"))
    for params in FILTERS:
        for by in selectors.BREAKDOWN_NAMES:
            assert selectors.from_cells(_filterset(params), selectors.breakdowns()[by]), (by, params)
            from_cells = _get(api, "breakdown", by=by, **params)
            with override_settings(ANALYTICS_BREAKDOWN_CELLS=False):
                live = _get(api, "breakdown", by=by, **params)
            _same(from_cells, live, (by, params))
            assert from_cells["rows"], (by, params)
        for by in ("strategy", "side", "entry_time", "tag"):
            from_cells = _get(api, "attribution", by=by, **params)
            with override_settings(ANALYTICS_BREAKDOWN_CELLS=False):
                live = _get(api, "attribution", by=by, **params)
            _same(from_cells, live, (by, params))
    # Both paths forced on the selectors themselves, for every breakdown (PAPER).
    f = _filterset({})
    for by in selectors.breakdowns().values():
        cells_rows = selectors.breakdown(f, by, source="cells")
        live_rows = selectors.breakdown(f, by, source="live")
        assert cells_rows, by.name
        _same(
            [(r.key, r.label, r.figures) for r in cells_rows],
            [(r.key, r.label, r.figures) for r in live_rows],
            by.name,
        )
        a = selectors.attribution_groups(f, by, source="cells")
        b = selectors.attribution_groups(f, by, source="live")
        _same([(r.key, r.label, r.figures) for r in a], [(r.key, r.label, r.figures) for r in b], by.name)
    # A filter the cells do not hold groups the trades.
    assert not selectors.from_cells(_filterset({"symbol": "NIFTY"}), selectors.breakdowns()["side"])


def _vix_rows(api, **params) -> dict[str, int]:
    return {r["key"]: r["trades"] for r in _get(api, "breakdown", by="vix_regime", **params)["rows"]}


def test_a_changed_bound_falls_back_to_the_live_group_by_until_a_rebuild(trades, api):
    paper = [t for t in trades if t.entry_mode == "PAPER"]

    def naive(low, high):
        counts: dict[str, int] = defaultdict(int)
        for t in paper:
            counts[_band(t.vix_entry, low, high)] += 1
        return dict(counts)

    default = selectors.breakdowns(selectors.configured_dimensions())["vix_regime"]
    assert selectors.from_cells(_filterset({}), default)
    assert _vix_rows(api) == naive(12, 20)
    with override_settings(ANALYTICS_VIX_BOUNDS=(15.0, 18.0)):
        changed = selectors.breakdowns(selectors.configured_dimensions())["vix_regime"]
        assert not selectors.from_cells(_filterset({}), changed)  # cells of other bounds: live
        assert selectors.from_cells(_filterset({}), selectors.breakdowns()["entry_time"])
        assert _vix_rows(api) == naive(15, 18)
        # A writer under the changed bounds makes the cells mix two bucketings: marked stale.
        extra = record_trade(now=NOW, **_more_fields(1, "NEW", start=1)[0])  # PAPER
        paper.append(extra)
    assert BreakdownCellSpec.objects.get(dimension="vix_regime").spec == cells.STALE
    assert not selectors.from_cells(_filterset({}), default)
    assert _vix_rows(api) == naive(12, 20)  # live, and right
    assert selectors.from_cells(_filterset({}), selectors.breakdowns()["pcr"])  # the others still hold
    call_command("rebuild_breakdown_cells", stdout=io.StringIO())
    assert selectors.from_cells(_filterset({}), default)
    assert _vix_rows(api) == naive(12, 20)
    _assert_cells_equal_naive("rebuilt after the bounds changed back")


def test_an_empty_journal_starts_with_whole_cells_and_the_first_trade_uses_them(api):
    assert cells.is_current()  # the migration recorded the specs of the empty journal
    record_trade(now=NOW, **_more_fields(1, "FIRST")[0])
    _assert_cells_equal_naive("first trade")
    assert selectors.from_cells(_filterset({}), selectors.breakdowns()["tag"])
