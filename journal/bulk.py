"""Rows into a table in bulk, for the trade writers of ``journal.services`` (never called elsewhere:
a trade enters the journal through ``record_trade`` or its bulk siblings) and the performance rows
they rebuild (``upsert``).

New rows are stored as ``bulk_create`` would store instances - each field's value through the
field's own conversion for the database (``pre_save``, then ``get_db_prep_save``) - with one
``executemany`` of a one-row INSERT, their primary keys read back. What it leaves out is the query
compiler's work per value (placeholders, expressions, batches of 999 parameters on SQLite), about two
thirds of a backtest's insert time. A value whose conversion is the identity - a ``str`` into a
``CharField``, a ``float`` into a ``FloatField``, a finite ``Decimal`` into a ``DecimalField``, None
into any of them, ... (``_IDENTITY``: the exact classes, whose conversions return such a value
unchanged on every backend) - is passed as it is; every other value (dates, times, JSON, integers,
foreign keys, subclasses, other types) goes through the field. A test holds the parameters equal to
the fields' own conversions for every field.

A row's parameters (``row_of``) run no query, so they may be worked out in another process (beside a
backtest's run); ``insert_rows`` stores them. The fields stamped on save (``auto_now``,
``auto_now_add``) are None in a row and stamped when it is stored, as ``bulk_create`` stamps them
then.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django.db import connection, models
from django.db.models.constants import OnConflict

# Field classes (exactly these, not subclasses) and the value types their conversion returns as is.
_IDENTITY: dict[type, type] = {
    models.CharField: str,
    models.TextField: str,
    # (not the integer fields: on PostgreSQL their conversion types the value, Int4(75))
    models.FloatField: float,
    models.BooleanField: bool,
    models.DecimalField: Decimal,
}


_READ = models.Field.pre_save


def _stamped(field: models.Field) -> bool:
    """Whether ``field`` is stamped on save (``auto_now``, ``auto_now_add``: its ``pre_save`` sets it)."""
    return bool(getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False))


@functools.lru_cache(maxsize=16)
def _plan(model: type[models.Model], vendor: str) -> tuple[str, tuple, str]:
    """The INSERT of ``model``'s concrete fields but an auto primary key, those fields, and the
    column that identifies a row back (the primary key's)."""
    # As bulk_create of instances without a primary key: no generated column, no auto key.
    fields = tuple(
        f
        for f in model._meta.concrete_fields
        if not getattr(f, "generated", False) and not isinstance(f, models.AutoField)
    )
    qn = connection.ops.quote_name
    sql = (
        f"INSERT INTO {qn(model._meta.db_table)} ({', '.join(qn(f.column) for f in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))})"
    )
    return sql, fields, model._meta.pk.column


def params_of(obj: models.Model, fields: Sequence[models.Field], *, stamp: bool = True) -> tuple:
    """One row's parameters: each field's value converted for the database, as ``bulk_create``
    converts it (the identity where that conversion is one, see the module's docstring).
    ``stamp=False``: None for the fields stamped on save (``insert_rows`` stamps them)."""
    row: list[Any] = []
    for f in fields:
        if not stamp and _stamped(f):
            row.append(None)
            continue
        # Field.pre_save reads the attribute; an override (auto_now, auto_now_add) stamps it.
        value = getattr(obj, f.attname) if type(f).pre_save is _READ else f.pre_save(obj, True)
        kind = _IDENTITY.get(type(f))
        if kind is not None and (value is None or type(value) is kind):
            if kind is Decimal and value is not None and not value.is_finite():
                row.append(f.get_db_prep_save(value, connection))  # refused as the field refuses it
            else:
                row.append(value)
        else:
            row.append(f.get_db_prep_save(value, connection))
    return tuple(row)


def row_of(model: type[models.Model], values: dict) -> tuple:
    """The INSERT parameters of a new ``model(**values)`` on this database (``params_of``), None at
    the fields stamped on save. It runs no query: another process may work it out
    (``journal.services.TradeWriter.check_row``)."""
    _, fields, _ = _plan(model, connection.vendor)
    return params_of(model(**values), fields, stamp=False)


def insert_rows(
    model: type[models.Model], rows: Sequence[tuple], *, key: str, keys: Sequence
) -> tuple[list, dict]:
    """Insert ``rows`` (``row_of``'s parameters) into ``model``'s table - one ``executemany`` - each
    row's stamped fields stamped now (one instance's ``pre_save``, as ``bulk_create`` stamps each of
    its own); ``keys`` are the rows' values of ``key`` (a unique field; none of them stored yet).
    Returns the rows' primary keys, in order, read back by ``key``, and the stamps (attname ->
    value) for the caller's instances. In the caller's transaction; no signals, as
    ``bulk_create``."""
    if not rows:
        return [], {}
    sql, fields, pk_column = _plan(model, connection.vendor)
    blank = model()
    stamped = [(i, f) for i, f in enumerate(fields) if _stamped(f)]
    stamps = {f.attname: f.pre_save(blank, True) for _, f in stamped}
    if stamped:
        at = {i: f.get_db_prep_save(stamps[f.attname], connection) for i, f in stamped}
        rows = [tuple(at.get(i, v) for i, v in enumerate(row)) for row in rows]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)
    key_field = model._meta.get_field(key)
    qn = connection.ops.quote_name
    by_key: dict[Any, Any] = {}
    with connection.cursor() as cursor:
        for start in range(0, len(keys), 500):
            chunk = list(keys[start : start + 500])
            cursor.execute(
                f"SELECT {qn(key_field.column)}, {qn(pk_column)} FROM {qn(model._meta.db_table)} "
                f"WHERE {qn(key_field.column)} IN ({', '.join(['%s'] * len(chunk))})",
                chunk,
            )
            by_key.update(cursor.fetchall())
    return [by_key[k] for k in keys], stamps


def stored(model: type[models.Model], values: dict, pk: Any, stamps: dict) -> models.Model:
    """The instance of a row ``insert_rows`` stored: ``values``, its primary key and the stamps."""
    obj = model(**{**values, **stamps})
    obj.pk = pk
    obj._state.adding = False
    obj._state.db = connection.alias
    return obj


def upsert(
    model: type[models.Model], objs: Sequence[models.Model], *, unique: Sequence[str], update: Sequence[str]
) -> None:
    """``model.objects.bulk_create(objs, update_conflicts=True, unique_fields=unique,
    update_fields=update)`` as one ``executemany`` of a one-row INSERT ... ON CONFLICT DO UPDATE,
    each value converted as ``params_of`` converts it (the fields stamped on save stamped). No
    primary key is read back. In the caller's transaction; no signals."""
    if not objs:
        return
    sql, fields, _ = _plan(model, connection.vendor)
    column = [model._meta.get_field(name).column for name in (*update, *unique)]
    suffix = connection.ops.on_conflict_suffix_sql(
        fields, OnConflict.UPDATE, column[: len(update)], column[len(update) :]
    )
    with connection.cursor() as cursor:
        cursor.executemany(f"{sql} {suffix}", [params_of(obj, fields) for obj in objs])
