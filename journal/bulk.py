"""Rows into a table in bulk, for the trade writers of ``journal.services`` (never called elsewhere:
a trade enters the journal through ``record_trade`` or its bulk siblings).

``insert(model, objs)`` stores unsaved instances as ``bulk_create`` would - each field's value through
the field's own conversion for the database (``pre_save``, then ``get_db_prep_save``) - with one
``executemany`` of a one-row INSERT, and sets each instance's primary key. What it leaves out is the
query compiler's work per value (placeholders, expressions, batches of 999 parameters on SQLite),
about two thirds of a backtest's insert time. A value whose conversion is the identity - a ``str``
into a ``CharField``, a ``float`` into a ``FloatField``, a finite ``Decimal`` into a
``DecimalField``, None into any of them, ... (``_IDENTITY``: the exact classes, whose conversions
return such a value unchanged on every backend) - is passed as it is; every other value (dates,
times, JSON, integers, foreign keys, subclasses, other types) goes through the field. A test holds the
parameters equal to the fields' own conversions for every field.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django.db import connection, models

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


def params_of(obj: models.Model, fields: Sequence[models.Field]) -> tuple:
    """One row's parameters: each field's value converted for the database, as ``bulk_create``
    converts it (the identity where that conversion is one, see the module's docstring)."""
    row: list[Any] = []
    for f in fields:
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


def insert(model: type[models.Model], objs: Sequence[models.Model], *, key: str) -> None:
    """Insert the unsaved ``objs`` of ``model`` (one ``executemany``) and give each its primary key,
    read back by ``key`` (a unique field: the rows' ``key`` values must not be stored yet). In the
    caller's transaction; no signals, as ``bulk_create``."""
    if not objs:
        return
    sql, fields, pk_column = _plan(model, connection.vendor)
    rows = [params_of(obj, fields) for obj in objs]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)
    key_field = model._meta.get_field(key)
    qn = connection.ops.quote_name
    by_key: dict[Any, Any] = {}
    with connection.cursor() as cursor:
        for start in range(0, len(objs), 500):
            chunk = [getattr(obj, key_field.attname) for obj in objs[start : start + 500]]
            cursor.execute(
                f"SELECT {qn(key_field.column)}, {qn(pk_column)} FROM {qn(model._meta.db_table)} "
                f"WHERE {qn(key_field.column)} IN ({', '.join(['%s'] * len(chunk))})",
                chunk,
            )
            by_key.update(cursor.fetchall())
    for obj in objs:
        obj.pk = by_key[getattr(obj, key_field.attname)]
        obj._state.adding = False
        obj._state.db = connection.alias
