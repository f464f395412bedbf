"""The breakdown cells (``BreakdownCell``): every breakdown of ``journal.breakdowns`` pre-aggregated per
mode, day (IST date of the exit), strategy and group, so that a breakdown under the filters mode, dates
and strategy sums a few thousand cells instead of grouping a million trades.

Kept exact in the transaction of every trade write (``journal.services``):

* a new trade (``record_trade``) and a batch of new trades (``record_trades``/``trade_writer``, each
  batch of 500): ``add_trades`` - their own groups, added to the cells by one upsert
  (``INSERT ... SELECT ... GROUP BY ... ON CONFLICT DO UPDATE SET trades = trades + excluded.trades``);
* an edit or a delete: ``refresh_keys`` - the cells of the (day, mode, strategy) keys it touched are
  deleted and recomputed from those keys' trades by one ``INSERT ... SELECT ... GROUP BY``;
* ``rebuild`` (``manage.py rebuild_breakdown_cells``, ``performance.rebuild_all``, a bulk load): all of
  them, from all the trades.

Each statement groups the trades once per breakdown (``UNION ALL`` of one ``GROUP BY`` per breakdown
over the same subquery ``t``), with the key SQL of ``journal.breakdowns`` - the same SQL the live
``GROUP BY`` of ``analytics.selectors`` uses, so the two cannot disagree on a bucket.

The bucket bounds are configurable (``ANALYTICS_VIX_BOUNDS``, ``ANALYTICS_PCR_BOUNDS``): each breakdown's
spec (``Breakdown.spec``, its buckets) is recorded in ``BreakdownCellSpec`` by ``rebuild``. ``usable``
is true only while the recorded spec equals the configured one; a writer whose spec differs marks the
recorded one stale (its cells now mix two bucketings), so the readers group the trades live until the
cells are rebuilt.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from django.db import connection, transaction
from django.db.models import Q
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
    return breakdowns(configured_dimensions())


def _trades_subquery(trades) -> tuple[str, tuple]:
    """SQL and params of ``trades`` (a Trade queryset) as the subquery ``t``: the key columns, the
    values summed, and every column and IST annotation any breakdown reads."""
    bys = configured().values()
    annotations: dict = {}
    for by in bys:
        if by.annotations:
            annotations.update(by.annotations())
    fields = dict.fromkeys([*_KEY_COLUMNS, *_VALUE_COLUMNS, *(f for by in bys for f in by.fields)])
    qs = trades.order_by()
    if annotations:
        qs = qs.annotate(**annotations)
    sql, params = qs.values(*fields, *annotations).query.sql_with_params()
    return sql, tuple(params)


def _insert_sql(inner: str, *, add: bool) -> str:
    """One statement: every breakdown's groups of the trades ``inner`` per (mode, day, strategy), into
    the cells; ``add``: added to the cells already there (new trades), else inserted (none there)."""
    vendor = connection.vendor
    sums = ", ".join(f"COALESCE({sql}, 0)" for _, sql in SUMS)
    branches = []
    for by in configured().values():
        join = by.join(vendor) if by.join else ""
        branches.append(
            f"SELECT '{by.name}' AS dimension, t.entry_mode, t.trade_date, t.strategy_name, "
            f"{by.key_sql(vendor)} AS k, {sums} FROM t {join} GROUP BY 2, 3, 4, 5"
        )
    columns = ", ".join((*_UNIQUE, *SUM_COLUMNS))
    sql = f"WITH t AS ({inner}) INSERT INTO {TABLE} ({columns}) SELECT * FROM ({' UNION ALL '.join(branches)}) AS c"
    if add:
        updates = ", ".join(f"{c} = {TABLE}.{c} + excluded.{c}" for c in SUM_COLUMNS)
        sql += f" WHERE 1 = 1 ON CONFLICT ({', '.join(_UNIQUE)}) DO UPDATE SET {updates}"
    return sql


def _mark_stale() -> None:
    """Mark stale every recorded spec that differs from this process's (its cells would mix two
    bucketings after this write): one UPDATE that changes nothing while the bounds agree."""
    specs = {name: by.spec() for name, by in configured().items()}
    whens = " ".join("WHEN %s THEN %s" for _ in specs)
    params = [x for item in specs.items() for x in item]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {SPEC_TABLE} SET spec = %s WHERE spec <> %s AND spec <> CASE dimension {whens} "
            "ELSE spec END",
            [STALE, STALE, *params],
        )


def add_trades(ids: Sequence[int]) -> None:
    """Add the new trades ``ids`` to their cells (one statement), in the caller's transaction."""
    if not ids:
        return
    _mark_stale()
    inner, params = _trades_subquery(Trade.objects.filter(pk__in=list(ids)))
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(inner, add=True), params)


def _keys_q(keys: Iterable[tuple[date, str, str]], day: str, mode: str, strategy: str) -> Q:
    """The rows of the (day, mode, strategy) ``keys``: one condition per (mode, strategy), its days."""
    days: dict[tuple[str, str], set[date]] = {}
    for d, m, s in keys:
        days.setdefault((m, s), set()).add(d)
    q = Q(pk__in=[])
    for (m, s), ds in days.items():
        q |= Q(**{mode: m, strategy: s, f"{day}__in": sorted(ds)})
    return q


def refresh_keys(keys: Iterable[tuple[date, str, str]]) -> None:
    """Recompute the cells of each (day, mode, strategy) from its trades (after an edit or a delete):
    one DELETE, one INSERT ... SELECT ... GROUP BY, in the caller's transaction."""
    keys = set(keys)
    if not keys:
        return
    _mark_stale()
    BreakdownCell.objects.filter(_keys_q(keys, "date", "mode", "strategy_name")).delete()
    trades = Trade.objects.filter(_keys_q(keys, "trade_date", "entry_mode", "strategy_name"))
    inner, params = _trades_subquery(trades)
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(inner, add=False), params)


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
        inner, params = _trades_subquery(Trade.objects.all())
        cursor.execute(_insert_sql(inner, add=False), params)
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


def usable(name: str) -> bool:
    """True when the cells of breakdown ``name`` hold every trade under the configured bounds."""
    by = configured().get(name)
    if by is None:
        return False
    return BreakdownCellSpec.objects.filter(dimension=name, spec=by.spec()).exists()


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
