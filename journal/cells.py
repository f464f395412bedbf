"""The breakdown cells (``BreakdownCell``): every breakdown of ``journal.breakdowns`` pre-aggregated per
mode, day (IST date of the exit), strategy and group, so that a breakdown under the filters mode, dates
and strategy sums a few thousand cells instead of grouping a million trades.

Kept exact in the transaction of every trade write (``journal.services``), after the performance rows
(so every writer locks a day's performance row before its cells: no deadlock between two writers):

* a new trade (``record_trade``) and a batch of new trades (``record_trades``/``trade_writer``, each
  batch of 500, at the end): ``add_trades`` - their own groups, added to the cells by one upsert
  (``INSERT ... SELECT ... GROUP BY ... ON CONFLICT DO UPDATE SET trades = trades + excluded.trades``);
* an edit or a delete: ``refresh_keys`` - the cells of the (day, mode, strategy) keys it touched are
  deleted and recomputed from those keys' trades by one ``INSERT ... SELECT ... GROUP BY``;
* ``rebuild`` (``manage.py rebuild_breakdown_cells``, ``performance.rebuild_all``, a bulk load): all of
  them, from all the trades.

Each statement groups the trades (the subquery ``t``) once for every breakdown of one row per trade
(the trades crossed with the breakdowns' names, the key SQL chosen by name) and once more per breakdown
with a join (tags), with the key SQL of ``journal.breakdowns`` - the same SQL the live ``GROUP BY`` of
``analytics.selectors`` uses, so the two cannot disagree on a bucket. The statements are built once per
process (per vendor and bounds, ``_plan``).

The bucket bounds are configurable (``ANALYTICS_VIX_BOUNDS``, ``ANALYTICS_PCR_BOUNDS``): each breakdown's
spec (``Breakdown.spec``, its buckets) is recorded in ``BreakdownCellSpec`` by ``rebuild``. ``usable``
is true only while the recorded spec equals the breakdown's (the API's: the configured bounds); a writer whose spec differs marks the
recorded one stale (its cells now mix two bucketings), so the readers group the trades live until the
cells are rebuilt.
"""

from __future__ import annotations

import functools
import hashlib
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from journal.breakdowns import (
    ATTRIBUTION_PARTS,
    ATTRIBUTION_SUMS,
    TRADE_SUMS,
    Breakdown,
    breakdowns,
    configured_dimensions,
)
from journal.models import BreakdownCell, BreakdownCellSpec, Trade

TABLE = BreakdownCell._meta.db_table
SPEC_TABLE = BreakdownCellSpec._meta.db_table
STALE = "stale"
_UNIQUE = ("dimension", "mode", "date", "strategy_name", "key")
# The cell's sums, by column, as SQL over the subquery ``t`` (the trade figures, then the attribution).
SUMS: tuple[tuple[str, str], ...] = (
    *TRADE_SUMS,
    *((name, sql) for name, sql in ATTRIBUTION_SUMS if name not in dict(TRADE_SUMS)),
)
SUM_COLUMNS: tuple[str, ...] = tuple(name for name, _ in SUMS)
_KEY_COLUMNS = ("entry_mode", "trade_date", "strategy_name")
_VALUE_COLUMNS = ("net_pnl", "r_multiple", "gross_pnl", *ATTRIBUTION_PARTS)


def configured() -> dict[str, Breakdown]:
    """The breakdowns the cells hold, with the configured bounds."""
    return _plan(connection.vendor, _bounds()).breakdowns


def _bounds() -> tuple:
    return (tuple(settings.ANALYTICS_VIX_BOUNDS), tuple(settings.ANALYTICS_PCR_BOUNDS))


@dataclass(frozen=True)
class _Plan:
    """What the writers need under one vendor and one set of bounds, built once per process."""

    breakdowns: dict[str, Breakdown]
    specs: dict[str, str]
    trades_sql: str  # every trade as the subquery ``a`` (its id, keys, values, IST annotations)
    trades_params: tuple
    insert: str  # ``... {where} ...``: the groups of the trades ``where`` selects, into the cells
    add: str  # the same, added to the cells already there
    stale: str  # the UPDATE that marks the specs that differ from ``specs``
    stale_params: tuple


@functools.lru_cache(maxsize=8)
def _plan(vendor: str, bounds: tuple) -> _Plan:
    bys = breakdowns(configured_dimensions())
    annotations: dict = {}
    for by in bys.values():
        if by.annotations:
            annotations.update(by.annotations())
    fields = dict.fromkeys(
        ["id", *_KEY_COLUMNS, *_VALUE_COLUMNS, *(f for by in bys.values() for f in by.fields)]
    )
    qs = Trade.objects.order_by().annotate(**annotations)
    trades_sql, trades_params = qs.values(*fields, *annotations).query.sql_with_params()

    sums = ", ".join(f"COALESCE({sql}, 0)" for _, sql in SUMS)
    # One pass for the breakdowns of one row per trade: each trade crossed with their names, the key by
    # name; one more per breakdown with a join (tags: a row per tag).
    plain = [by for by in bys.values() if not by.join]
    names = " UNION ALL ".join(f"SELECT '{by.name}' AS dimension" for by in plain)
    key = " ".join(f"WHEN '{by.name}' THEN {by.key_sql(vendor)}" for by in plain)
    branches = [
        f"SELECT d.dimension, t.entry_mode, t.trade_date, t.strategy_name, CASE d.dimension {key} END AS k, "
        f"{sums} FROM t CROSS JOIN ({names}) AS d GROUP BY 1, 2, 3, 4, 5"
    ]
    for by in bys.values():
        if by.join:
            branches.append(
                f"SELECT '{by.name}', t.entry_mode, t.trade_date, t.strategy_name, {by.key_sql(vendor)}, "
                f"{sums} FROM t {by.join(vendor)} GROUP BY 2, 3, 4, 5"
            )
    columns = ", ".join((*_UNIQUE, *SUM_COLUMNS))
    insert = (
        f"WITH t AS (SELECT * FROM ({trades_sql}) AS a WHERE {{where}}) "
        f"INSERT INTO {TABLE} ({columns}) SELECT * FROM ({' UNION ALL '.join(branches)}) AS c"
    )
    updates = ", ".join(f"{c} = {TABLE}.{c} + excluded.{c}" for c in SUM_COLUMNS)
    add = f"{insert} WHERE 1 = 1 ON CONFLICT ({', '.join(_UNIQUE)}) DO UPDATE SET {updates}"
    specs = {name: by.spec() for name, by in bys.items()}
    whens = " ".join("WHEN %s THEN %s" for _ in specs)
    stale = (
        f"UPDATE {SPEC_TABLE} SET spec = %s WHERE spec <> %s AND spec <> CASE dimension {whens} ELSE spec END"
    )
    stale_params = (STALE, STALE, *(x for item in specs.items() for x in item))
    return _Plan(bys, specs, trades_sql, tuple(trades_params), insert, add, stale, stale_params)


def _write(where: str, params: Sequence, *, add: bool) -> None:
    """Every breakdown's groups of the trades ``where`` selects (SQL over the subquery ``a``), per
    (mode, day, strategy), into the cells (``add``: added to those there), after marking stale the
    specs this process's bounds differ from: two statements."""
    plan = _plan(connection.vendor, _bounds())
    with connection.cursor() as cursor:
        # The specs that differ from this process's are marked stale (its cells would mix two
        # bucketings after this write): an UPDATE that changes nothing while the bounds agree.
        cursor.execute(plan.stale, plan.stale_params)
        sql = (plan.add if add else plan.insert).replace("{where}", where)
        cursor.execute(sql, (*plan.trades_params, *params))


def add_trades(ids: Sequence[int]) -> None:
    """Add the new trades ``ids`` to their cells (one statement), in the caller's transaction."""
    ids = [int(i) for i in ids]
    if len(ids) == 1 and connection.vendor == "postgresql":
        plan = _plan(connection.vendor, _bounds())
        with connection.cursor() as cursor:
            cursor.execute(plan.stale, plan.stale_params)
            cursor.execute(f"EXECUTE {_prepared_add_one(cursor, plan)}(%s)", ids)
    elif ids:
        _write(f"a.id IN ({', '.join(['%s'] * len(ids))})", ids, add=True)


# PostgreSQL: the statements this process has prepared, per open connection (a new connection has none).
_prepared: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _prepared_add_one(cursor, plan: _Plan) -> str:
    """The name of ``plan.add`` for the one trade ``a.id = $1``, prepared on this connection on first
    use. Why: PostgreSQL takes longer to plan that statement (every breakdown's key, ~12 kB of SQL)
    than to run it for one trade, and ``record_trade`` runs it for every trade; prepared, it is planned
    a few times per connection (then PostgreSQL keeps its generic plan: an index scan on the id), not on
    every trade. A batch (``trade_writer``) is planned once for its 500 trades and is not prepared."""
    names = _prepared.setdefault(connection.connection, set())
    sql = plan.add.replace("{where}", "a.id = $1")
    name = "journal_cells_add_" + hashlib.sha1(sql.encode()).hexdigest()[:16]  # one per vendor and bounds
    if name not in names:
        body = connection.ops.compose_sql(sql, plan.trades_params)  # the plan's constants, quoted
        cursor.execute(f"PREPARE {name} (bigint) AS {body}")
        names.add(name)
    return name


def _keys_where(keys: set[tuple[date, str, str]], day: str, mode: str, strategy: str) -> tuple[str, list]:
    """SQL and params of the rows of the (day, mode, strategy) ``keys``: one condition per (mode,
    strategy) and its days."""
    days: dict[tuple[str, str], set[date]] = {}
    for d, m, s in keys:
        days.setdefault((m, s), set()).add(d)
    conditions, params = [], []
    for (m, s), ds in sorted(days.items()):
        conditions.append(f"({mode} = %s AND {strategy} = %s AND {day} IN ({', '.join(['%s'] * len(ds))}))")
        params += [m, s, *sorted(ds)]
    return " OR ".join(conditions), params


def refresh_keys(keys: Iterable[tuple[date, str, str]]) -> None:
    """Recompute the cells of each (day, mode, strategy) from its trades (after an edit or a delete):
    one DELETE, one INSERT ... SELECT ... GROUP BY, in the caller's transaction."""
    keys = set(keys)
    if not keys:
        return
    where, params = _keys_where(keys, "date", "mode", "strategy_name")
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {TABLE} WHERE {where}", params)
    where, params = _keys_where(keys, "a.trade_date", "a.entry_mode", "a.strategy_name")
    _write(where, params, add=False)


@transaction.atomic
def rebuild() -> None:
    """Every cell from every trade, and the specs they were built with (the configured bounds)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Writers wait (their upserts need the table) until the cells are whole again.
            cursor.execute(f"LOCK TABLE {TABLE} IN EXCLUSIVE MODE")
            cursor.execute(f"TRUNCATE {TABLE}")
        else:
            cursor.execute(f"DELETE FROM {TABLE}")
    _write("1 = 1", (), add=False)
    mark_built()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {TABLE}")


def mark_built() -> None:
    """Record that the cells hold every trade under the configured bounds (``rebuild``; the migration
    on an empty journal, whose empty cells are whole)."""
    now = timezone.now()
    BreakdownCellSpec.objects.all().delete()
    BreakdownCellSpec.objects.bulk_create(
        [BreakdownCellSpec(dimension=name, spec=by.spec(), built_at=now) for name, by in configured().items()]
    )


def usable(by: Breakdown) -> bool:
    """True when the cells of the breakdown ``by`` hold every trade under its buckets (the spec
    recorded for its cells is ``by``'s: built with them, and no writer under other bounds since)."""
    return BreakdownCellSpec.objects.filter(dimension=by.name, spec=by.spec()).exists()


def is_current() -> bool:
    """True when every breakdown's cells are usable (else ``rebuild``)."""
    specs = dict(BreakdownCellSpec.objects.values_list("dimension", "spec"))
    return all(specs.get(name) == by.spec() for name, by in configured().items())


def groups(
    name: str,
    columns: Sequence[str],
    *,
    mode: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    strategy: str | None = None,
) -> list[tuple]:
    """``(key, *sums of columns)`` per group of breakdown ``name`` over the cells of the mode (None:
    every mode), the days and the strategy: one ``GROUP BY key`` over the cells."""
    rows = BreakdownCell.objects.filter(dimension=name)
    if mode:
        rows = rows.filter(mode=mode)
    if date_from:
        rows = rows.filter(date__gte=date_from)
    if date_to:
        rows = rows.filter(date__lte=date_to)
    if strategy:
        rows = rows.filter(strategy_name=strategy)
    inner, params = rows.order_by().values("key", *columns).query.sql_with_params()
    sums = ", ".join(f"SUM(c.{col})" for col in columns)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT c.key, {sums} FROM ({inner}) AS c GROUP BY c.key", params)
        return cursor.fetchall()
