"""record_trades, the bulk sibling of record_trade: the same journal and performance tables and
breakdown cells as trade-by-trade recording, the same checks (all or nothing), each trade_id once."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.exceptions import ValidationError
from django.forms.models import model_to_dict

from journal.models import BreakdownCell, DailyPerformance, StrategyPerformance, Trade, TradeOrigin
from journal.services import TradeWriter, record_trade, record_trades
from tests.helpers import NOW, trade_fields
from trading.brokers.paper import PaperBroker
from trading.core import calendar as market_calendar
from trading.core.backtest import run_backtest
from trading.core.live import SimSource
from trading.core.state import EngineConfig, StrategySlot
from trading.core.strategies import registry

pytestmark = pytest.mark.django_db

START, END = date(2025, 3, 3), date(2025, 3, 7)


@pytest.fixture(scope="module")
def backtest_trades() -> list[dict]:
    source = SimSource(index="NIFTY", seed=3, start=START)
    result = run_backtest(
        source.sim.days(START, END),
        strategies={name: StrategySlot(name=name) for name in registry.names()},
        broker=PaperBroker(),
        config=EngineConfig(index="NIFTY", mode="BACKTEST", position_prefix="BT0-"),
        iv_history=source.iv_history(),
    )
    assert len(result.trades) > 10
    return [closed.trade for closed in result.trades]


def _tables() -> tuple[list, list, list, list]:
    def rows(qs, skip):
        return [
            {k: v for k, v in model_to_dict(obj).items() if k not in skip}
            for obj in qs.order_by(*qs.model._meta.ordering, "pk")
        ]

    return (
        rows(Trade.objects.all(), {"id", "tags"}),
        rows(DailyPerformance.objects.all(), {"id", "updated_at"}),
        rows(StrategyPerformance.objects.all(), {"id", "updated_at"}),
        sorted(
            rows(BreakdownCell.objects.all(), {"id"}),
            key=lambda c: (c["dimension"], c["mode"], c["date"], c["strategy_name"], c["key"]),
        ),
    )


def _clear() -> None:
    BreakdownCell.objects.all().delete()
    Trade.objects.all().delete()
    DailyPerformance.objects.all().delete()
    StrategyPerformance.objects.all().delete()


def test_bulk_gives_the_journal_and_performance_of_one_by_one(backtest_trades) -> None:
    now = market_calendar.session_close(END)
    for fields in backtest_trades:
        record_trade(now=now, origin=TradeOrigin.ENGINE, **fields)
    one_by_one = _tables()
    _clear()
    stored = record_trades(now=now, origin=TradeOrigin.ENGINE, trades=backtest_trades)
    assert len(stored) == len(backtest_trades)
    bulk = _tables()
    assert bulk == one_by_one
    assert len(bulk[1]) == 5 and len(bulk[2]) > 1  # five days, several strategies


def test_a_bad_trade_stores_nothing_and_is_named(backtest_trades, monkeypatch) -> None:
    monkeypatch.setattr(TradeWriter, "BATCH", 2)  # the good ones before it are inserted already
    bad = dict(backtest_trades[3], exit_price="-1")
    with pytest.raises(ValidationError) as err:
        record_trades(
            now=market_calendar.session_close(END),
            origin=TradeOrigin.ENGINE,
            trades=[*backtest_trades[:3], bad],
        )
    assert any(key.startswith("trades[3].") for key in err.value.message_dict)
    assert not Trade.objects.exists() and not DailyPerformance.objects.exists()


def test_checked_against_the_callers_clock_like_record_trade() -> None:
    early = market_calendar.session_close(date(2026, 5, 4))  # before the worked example's exit
    with pytest.raises(ValidationError):
        record_trade(now=early, **trade_fields())
    with pytest.raises(ValidationError):
        record_trades(now=early, trades=[trade_fields()])
    assert not Trade.objects.exists()


def test_each_trade_id_once() -> None:
    first = record_trade(now=NOW, **trade_fields())
    stored = record_trades(
        now=NOW, trades=[trade_fields(), trade_fields(trade_id="T-2"), trade_fields(trade_id="T-2")]
    )
    assert [t.trade_id for t in stored] == ["T-2"]
    assert Trade.objects.count() == 2 and Trade.objects.get(trade_id="T-1").pk == first.pk
    perf = DailyPerformance.objects.get()
    assert perf.trades == 2


@pytest.mark.parametrize("one_read", [True, False])
def test_a_second_run_over_the_same_days_rebuilds_the_rows_of_both(backtest_trades, monkeypatch, one_read):
    """A bulk write on top of other trades of the same days and strategies (a second backtest run):
    the rows equal a rebuild from the whole journal - whether the days and strategies are read in
    one query for both tables or table by table (many keys)."""
    from journal import performance

    if not one_read:
        monkeypatch.setattr(performance, "_ONE_READ", 0)
    now = market_calendar.session_close(END)
    record_trades(now=now, origin=TradeOrigin.ENGINE, trades=backtest_trades[::2])
    second = [{**f, "trade_id": f"{f['trade_id']}-2"} for f in backtest_trades[1::2]]
    record_trade(now=NOW, **trade_fields(trade_id="MANUAL-1"))  # another mode's rows stay as they are
    record_trades(now=now, origin=TradeOrigin.ENGINE, trades=second)
    written = _tables()
    performance.rebuild_all()
    assert _tables() == written
    assert len(written[0]) == len(backtest_trades[::2]) + len(second) + 1


def test_not_keeping_the_trades_stores_the_same_and_hooks_see_each_once(
    backtest_trades, monkeypatch, django_capture_on_commit_callbacks
):
    """keep=False (a backtest's journal): the same tables, nothing returned, and the hooks see every
    stored trade once, in order, read back after the commit."""
    from journal import services

    seen: list[str] = []
    monkeypatch.setattr(services, "_trade_hooks", [lambda trade, handed_at: seen.append(trade.trade_id)])
    monkeypatch.setattr(TradeWriter, "BATCH", 3)  # several batches, read back in several chunks
    now = market_calendar.session_close(END)
    with django_capture_on_commit_callbacks(execute=True):
        kept = record_trades(now=now, origin=TradeOrigin.ENGINE, trades=backtest_trades)
    assert seen == [t.trade_id for t in kept]
    tables = _tables()
    _clear()
    seen.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert record_trades(now=now, origin=TradeOrigin.ENGINE, trades=backtest_trades, keep=False) == []
    assert _tables() == tables
    assert seen == [f["trade_id"] for f in backtest_trades]


def test_hooks_that_say_what_they_read_get_those_fields_and_any_other_on_access(
    backtest_trades, monkeypatch, django_capture_on_commit_callbacks, django_assert_num_queries
):
    """keep=False reads the trades back with only the fields the hooks declare: the metrics hook reads
    nothing else (no query per trade), and a field a hook did not declare still reads right."""
    from journal import services
    from trading import metrics

    observed, late = [], []

    def reads_declared(trade, handed_at):
        with django_assert_num_queries(0):
            metrics.trade_recorded(trade, handed_at)  # its declared fields: no query
            observed.append((trade.trade_id, trade.strategy_name, trade.net_pnl))

    def reads_more(trade, handed_at):
        late.append((trade.trade_id, trade.symbol))  # not declared: loaded on access

    monkeypatch.setattr(services, "_trade_hooks", [reads_declared])
    monkeypatch.setattr(services, "_hook_reads", {reads_declared: frozenset(metrics.TRADE_RECORDED_READS)})
    now = market_calendar.session_close(END)
    with django_capture_on_commit_callbacks(execute=True):
        record_trades(now=now, origin=TradeOrigin.ENGINE, trades=backtest_trades[:5], keep=False)
    stored = {t.trade_id: t for t in Trade.objects.filter(trade_id__in=[o[0] for o in observed])}
    assert observed == [
        (i, stored[i].strategy_name, stored[i].net_pnl) for i in (f["trade_id"] for f in backtest_trades[:5])
    ]

    Trade.objects.all().delete()
    monkeypatch.setattr(services, "_trade_hooks", [reads_declared, reads_more])  # one did not say: all fields
    assert services._hooks_read() is None
    monkeypatch.setattr(
        services,
        "_hook_reads",
        {reads_declared: frozenset(metrics.TRADE_RECORDED_READS), reads_more: frozenset()},  # says: nothing
    )
    with django_capture_on_commit_callbacks(execute=True):
        record_trades(now=now, origin=TradeOrigin.ENGINE, trades=backtest_trades[:3], keep=False)
    assert late == [
        (f["trade_id"], Trade.objects.get(trade_id=f["trade_id"]).symbol) for f in backtest_trades[:3]
    ]


def test_the_bulk_insert_converts_every_value_as_its_field_does(backtest_trades, monkeypatch) -> None:
    """``journal.bulk`` passes a value as it is only where the field's own conversion would return it
    unchanged: its parameters equal ``get_db_prep_save(pre_save(...))`` of every field, for every
    trade of a backtest and a manual one (naive-free datetimes, dates, JSON, Decimals, None, keys)."""
    from django.db import connection
    from django.utils import timezone

    from journal import bulk
    from journal.services import _checked

    monkeypatch.setattr(timezone, "now", lambda: NOW)  # the auto_now stamps, the same in both
    now = market_calendar.session_close(END)
    _, fields, _ = bulk._plan(Trade, connection.vendor)
    values = [_checked(dict(f), now=now, origin=TradeOrigin.ENGINE) for f in backtest_trades]
    values.append(_checked(trade_fields(), now=NOW, origin=TradeOrigin.MANUAL))
    passed_as_is = 0
    for v in values:
        obj = Trade(**v)
        got = bulk.params_of(obj, fields)
        want = tuple(f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields)
        assert [repr(x) for x in got] == [repr(x) for x in want]  # the same type and text
        passed_as_is += sum(x is getattr(obj, f.attname) for x, f in zip(got, fields, strict=True))
    assert passed_as_is > len(values) * len(fields) // 2  # the point: most values need no conversion


def test_rows_worked_out_elsewhere_store_the_same_journal_stamped_when_stored(backtest_trades, monkeypatch):
    """``Checked`` trades carrying their INSERT parameters (``check_row``, worked out where the checks
    ran: here pickled there and back, as from the process beside a run) store the journal that
    checking them here stores. The stamped fields (created_at, updated_at) are the insert's time, not
    the checks', in the rows and on the trades returned; a row for another database is not taken."""
    import pickle

    from django.db import connection
    from django.utils import timezone

    from journal import bulk
    from journal.services import Checked, trade_checks

    now = market_calendar.session_close(END)
    record_trades(now=now, origin=TradeOrigin.ENGINE, trades=backtest_trades)
    here = _tables()
    _clear()
    checked_at, stored_at = NOW.replace(hour=4), NOW.replace(hour=9)
    monkeypatch.setattr(timezone, "now", lambda: checked_at)
    check = trade_checks(now=now, origin=TradeOrigin.ENGINE)
    rows = [pickle.loads(pickle.dumps(check(dict(f)))) for f in backtest_trades]
    assert all(isinstance(c, Checked) and c.row is not None for c in rows)
    assert rows[0].values == TradeWriter(now=now, origin=TradeOrigin.ENGINE, common={}).check(
        backtest_trades[0]
    )
    monkeypatch.setattr(timezone, "now", lambda: stored_at)
    taken = []
    row_of = bulk.row_of
    monkeypatch.setattr(
        bulk, "row_of", lambda model, values: taken.append(values["trade_id"]) or row_of(model, values)
    )
    stored = record_trades(now=now, origin=TradeOrigin.ENGINE, trades=rows)
    assert taken == []  # every row as it came
    assert _tables() == here
    assert {(t.created_at, t.updated_at) for t in stored} == {(stored_at, stored_at)}
    assert set(Trade.objects.values_list("created_at", "updated_at")) == {(stored_at, stored_at)}

    _clear()
    other = [Checked(c.values, c.row, "another database") for c in rows[:3]]
    record_trades(now=now, origin=TradeOrigin.ENGINE, trades=other)
    assert taken == [c.values["trade_id"] for c in rows[:3]]  # worked out again here
    assert connection.vendor != "another database"


def test_a_row_is_the_fields_own_conversions_but_the_stamps(backtest_trades) -> None:
    """``row_of`` equals the fields' own conversions of the new trade (as the bulk insert's
    parameters), with None exactly at the fields stamped on save."""
    from django.db import connection

    from journal import bulk
    from journal.services import _checked

    _, fields, _ = bulk._plan(Trade, connection.vendor)
    values = _checked(
        dict(backtest_trades[0]), now=market_calendar.session_close(END), origin=TradeOrigin.ENGINE
    )
    obj = Trade(**values)
    row = bulk.row_of(Trade, values)
    stamped = [f.name for f in fields if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)]
    assert stamped == ["created_at", "updated_at"]
    for f, got in zip(fields, row, strict=True):
        if f.name in stamped:
            assert got is None
        else:
            assert repr(got) == repr(f.get_db_prep_save(f.pre_save(obj, True), connection)), f.name


def test_the_performance_upsert_stores_what_bulk_create_stores(monkeypatch) -> None:
    """``bulk.upsert`` (the performance rows' rebuild) leaves the table ``bulk_create(...,
    update_conflicts=True)`` leaves: a row whose key is there is updated in place (its id kept, the
    fields not named left alone), a new one inserted, the stamps of the write."""
    from decimal import Decimal as D

    from django.utils import timezone

    from journal import bulk

    def rows(net: str, day: int, trades: int) -> list[DailyPerformance]:
        return [
            DailyPerformance(date=date(2025, 3, day), mode="PAPER", trades=trades, net_pnl=D(net), wins=1),
            DailyPerformance(date=date(2025, 3, day + 1), mode="BACKTEST", trades=trades, net_pnl=D(net)),
        ]

    def table() -> list[tuple]:
        return list(DailyPerformance.objects.order_by("date", "mode").values_list(
            "id", "date", "mode", "trades", "net_pnl", "wins", "updated_at"
        ))  # fmt: skip

    fields = ["trades", "net_pnl", "updated_at"]  # not wins: it stays as it was
    results = []
    for write in (
        lambda objs: DailyPerformance.objects.bulk_create(
            objs, update_conflicts=True, unique_fields=["date", "mode"], update_fields=fields
        ),
        lambda objs: bulk.upsert(DailyPerformance, objs, unique=["date", "mode"], update=fields),
    ):
        DailyPerformance.objects.all().delete()
        monkeypatch.setattr(timezone, "now", lambda: NOW.replace(hour=3))
        DailyPerformance.objects.bulk_create(rows("10.50", 3, 1))
        first = {(r[1], r[2]): r[0] for r in table()}
        monkeypatch.setattr(timezone, "now", lambda: NOW.replace(hour=5))
        write([*rows("-7.25", 4, 2), DailyPerformance(date=date(2025, 3, 3), mode="PAPER", trades=9)])
        got = table()
        assert {(r[1], r[2]): r[0] for r in got if (r[1], r[2]) in first} == first  # updated in place
        results.append([r[1:] for r in got])
    assert results[1] == results[0]
    assert results[0] == [
        (date(2025, 3, 3), "PAPER", 9, D("0"), 1, NOW.replace(hour=5)),
        (date(2025, 3, 4), "BACKTEST", 1, D("10.50"), 0, NOW.replace(hour=3)),
        (date(2025, 3, 4), "PAPER", 2, D("-7.25"), 1, NOW.replace(hour=5)),
        (date(2025, 3, 5), "BACKTEST", 2, D("-7.25"), 0, NOW.replace(hour=5)),
    ]


def test_the_migration_marks_the_cells_stale_when_backtests_were_journaled(backtest_trades, capsys) -> None:
    """Before issue 18's fix a backtest's trades never reached the cells: a journal holding BACKTEST
    trades gets its cells marked stale (the breakdowns group live until a rebuild); others keep theirs."""
    import importlib
    from types import SimpleNamespace

    from django.apps import apps
    from django.db import connection

    from journal import cells

    migration = importlib.import_module("journal.migrations.0009_backtest_cells_stale")
    editor = SimpleNamespace(connection=connection)
    cells.mark_built()
    record_trade(now=NOW, **trade_fields())  # a PAPER trade only
    migration.mark_cells_stale_when_backtests_were_journaled(apps, editor)
    assert cells.is_current()
    record_trades(
        now=market_calendar.session_close(END), origin=TradeOrigin.ENGINE, trades=backtest_trades[:3]
    )
    migration.mark_cells_stale_when_backtests_were_journaled(apps, editor)
    assert not any(cells.usable(by) for by in cells.configured().values())
    assert "rebuild_breakdown_cells" in capsys.readouterr().out
    cells.rebuild()
    assert cells.is_current()
