"""CSV and Excel exports of the (filtered) journal, streamed in constant memory.

The columns and their names are ``journal.serializers.TRADE_COLUMNS``, the API's; values are
formatted as below. Rows come newest exit first.

* Formats as the API's, but for date-times, which print as PostgreSQL prints them in IST:
  ``2026-05-05 09:30:00+05:30`` (a space, not a ``T``; fractions of a second only when there are).
* CSV on PostgreSQL: ``COPY (SELECT ...) TO STDOUT WITH (FORMAT csv, HEADER)`` through psycopg 3,
  its output passed on in 256 KiB chunks - PostgreSQL formats the rows in C (formatting in Python
  manages ~30,000 rows/s, COPY several hundred thousand).
* CSV elsewhere (SQLite): a Python csv writer over ``.iterator()``.
* Excel: xlsxwriter in ``constant_memory`` mode into a temporary file, then streamed. A sheet holds
  1,048,576 rows including the header; a bigger export is refused (``ExportTooLarge``) - use CSV.
* Text cells a spreadsheet would run as a formula start with ``'``, in both formats
  (``journal.spreadsheet``; the import of the journal's CSV removes exactly that quote).

Used by the API (``/api/trades/export.csv``, ``/api/trades/export.xlsx``) and by the journal page.
Under the ASGI server both stream asynchronously, chunk by chunk (``tradingsite.streaming``).
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Iterator
from datetime import date, datetime

from django.db import connections, transaction
from django.db.models import QuerySet
from django.http import FileResponse, StreamingHttpResponse
from django.utils import timezone

from journal import spreadsheet
from journal.filters import TradeFilterSet
from journal.selectors import HISTORY_ORDER, trade_count
from journal.serializers import COLUMN_KINDS, IST, TRADE_COLUMNS, trade_csv_row

EXCEL_MAX_ROWS = 1_048_576  # rows of one .xlsx sheet, header included
CHUNK_BYTES = 256 * 1024
_SQLITE_ROWS_PER_CHUNK = 1000


class ExportTooLarge(Exception):
    """The selection has more rows than an Excel sheet holds; the message says to use CSV."""

    def __init__(self, rows: int):
        self.rows = rows
        super().__init__(
            f"{rows:,} trades do not fit in an Excel sheet ({EXCEL_MAX_ROWS - 1:,} rows at most besides "
            "the header): narrow the filters or export CSV (export.csv), which has no limit."
        )


def _ordered(queryset: QuerySet) -> QuerySet:
    return queryset.order_by(*HISTORY_ORDER)


def _queryset_of(selection: TradeFilterSet | QuerySet) -> QuerySet:
    return _ordered(selection.qs if isinstance(selection, TradeFilterSet) else selection)


def _filename(ext: str) -> str:
    return f"trades-{timezone.now().astimezone(IST):%Y%m%d-%H%M%S}.{ext}"


# --- CSV -------------------------------------------------------------------------------------------


def _pg_column(name: str) -> str:
    """The SQL that prints one column as the API formats it (``q`` is the filtered subquery)."""
    col = f'q."{name}"'
    kind = COLUMN_KINDS[name]
    # Date-times and dates print natively (the session is in IST, DateStyle ISO, see _pg_csv_chunks):
    # to_char() would cost PostgreSQL twice the time of all the other columns together.
    if kind == "bool":
        expr = f"CASE WHEN {col} THEN 'true' WHEN NOT {col} THEN 'false' END"
    elif kind == "tags":
        expr = spreadsheet.sql_escaped(f"NULLIF(btrim({col}, ','), '')")
    elif kind == "json":
        expr = f"{col}::text"
    elif kind == "text":
        # COPY quotes an empty string ("") to tell it from NULL; the Python writer writes nothing.
        expr = spreadsheet.sql_escaped(f"NULLIF({col}, '')")
    else:
        expr = col
    return f'{expr} AS "{name}"'


def copy_statement(queryset: QuerySet) -> tuple[str, tuple]:
    """The ``COPY ... TO STDOUT`` statement (with %s parameters) exporting ``queryset`` as CSV."""
    inner = _ordered(queryset).values_list(*TRADE_COLUMNS)
    sql, params = inner.query.get_compiler(using=inner.db).as_sql()
    columns = ", ".join(_pg_column(name) for name in TRADE_COLUMNS)
    # The subquery has an ORDER BY, so PostgreSQL keeps it as a scan in that order (it is not
    # flattened into the outer query, which therefore needs no ORDER BY of its own).
    return f"COPY (SELECT {columns} FROM ({sql}) AS q) TO STDOUT WITH (FORMAT csv, HEADER)", tuple(params)


def _pg_csv_chunks(queryset: QuerySet) -> Iterator[bytes]:
    sql, params = copy_statement(queryset)
    conn = connections[queryset.db]
    # One transaction: the export is one consistent snapshot, and SET LOCAL ends with it (the
    # connection goes back to Django in UTC).
    # Inside a caller's transaction the block is a savepoint and SET LOCAL would outlive it - and
    # Django reads every timestamptz as if the session were in UTC - so the settings are put back
    # at the end (an error or an abandoned download rolls back to the savepoint, which reverts them).
    with transaction.atomic(using=queryset.db):
        # The raw psycopg cursor: Django's wrapper has no copy(). Parameters are merged client-side.
        with conn.connection.cursor() as cursor:
            saved = cursor.execute(
                f"SELECT {', '.join(f'current_setting({k!r})' for k in _SESSION)}"
            ).fetchone()
            _set_local(cursor, _SESSION)
            with cursor.copy(sql, params or None) as copy:
                buffer = bytearray()
                for data in copy:  # one row per item: gather them so the server writes big chunks
                    buffer += data
                    if len(buffer) >= CHUNK_BYTES:
                        yield bytes(buffer)
                        buffer.clear()
                if buffer:
                    yield bytes(buffer)
            _set_local(cursor, dict(zip(_SESSION, saved)))


# The session settings the COPY prints under: date-times in IST, ISO dates, shortest exact floats.
_SESSION = {"TimeZone": "Asia/Kolkata", "DateStyle": "ISO, YMD", "extra_float_digits": "1"}


def _set_local(cursor, settings: dict) -> None:
    for name, value in settings.items():
        cursor.execute("SELECT set_config(%s, %s, true)", (name, value))


def _python_csv_chunks(queryset: QuerySet) -> Iterator[bytes]:
    out = io.StringIO()
    # Python's csv quotes a field with a character of the line terminator, and only then: with "\n"
    # alone a field holding a carriage return would be written bare and split its row. So rows are
    # written ending "\r\n" (every field with CR or LF quoted, as COPY does) and the "\r" is dropped.
    writer = csv.writer(out, lineterminator="\r\n")

    def write(row) -> None:
        writer.writerow(row)
        out.seek(out.tell() - 2)
        out.write("\n")
        out.truncate()

    write(TRADE_COLUMNS)
    rows = 0
    for values in _ordered(queryset).values_list(*TRADE_COLUMNS).iterator(chunk_size=2000):
        write(trade_csv_row(values))
        rows += 1
        if rows % _SQLITE_ROWS_PER_CHUNK == 0:
            yield out.getvalue().encode()
            out.seek(0)
            out.truncate()
    yield out.getvalue().encode()


def csv_chunks(selection: TradeFilterSet | QuerySet) -> Iterator[bytes]:
    """The CSV export of the selection (a valid filterset or a Trade queryset) as UTF-8 chunks."""
    queryset = _queryset_of(selection)
    if connections[queryset.db].vendor == "postgresql":
        return _pg_csv_chunks(queryset)
    return _python_csv_chunks(queryset)


def csv_response(
    selection: TradeFilterSet | QuerySet, *, filename: str | None = None
) -> StreamingHttpResponse:
    """A streamed CSV download of the selection (constant memory, every row; under ASGI the
    ``tradingsite.streaming`` middleware makes it an asynchronous stream)."""
    response = StreamingHttpResponse(csv_chunks(selection), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename or _filename("csv")}"'
    response["Cache-Control"] = "no-store"
    return response


# --- Excel -----------------------------------------------------------------------------------------


def _excel_value(kind: str, value):
    if value is None:
        return None
    if kind == "decimal":
        return float(value)
    if kind == "datetime":
        return value.astimezone(IST).replace(tzinfo=None, microsecond=0)
    if kind == "tags":
        return spreadsheet.escape(value.strip(","))
    if kind == "json":
        return json.dumps(value, ensure_ascii=False)[:32767]
    if kind == "text":
        return spreadsheet.escape(value)[:32767]  # the most characters a cell holds
    return value


def write_xlsx(queryset: QuerySet, path: str) -> int:
    """Write the queryset's trades as an .xlsx file at ``path``; return the number of trade rows."""
    import xlsxwriter

    workbook = xlsxwriter.Workbook(
        path,
        {
            "constant_memory": True,
            "tmpdir": tempfile.gettempdir(),
            # A note beginning with "=" stays text: nothing a trader typed becomes a formula.
            "strings_to_formulas": False,
            "strings_to_numbers": False,
            "strings_to_urls": False,
        },
    )
    # A sheet near a million rows is XML of several GB before compression: past 4 GB a zip needs
    # ZIP64, which Excel reads; without it xlsxwriter refuses to close the file.
    workbook.use_zip64()
    sheet = workbook.add_worksheet("trades")
    bold = workbook.add_format({"bold": True})
    formats = {
        "datetime": workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"}),
        "date": workbook.add_format({"num_format": "yyyy-mm-dd"}),
    }
    kinds = [COLUMN_KINDS[name] for name in TRADE_COLUMNS]
    sheet.write_row(0, 0, TRADE_COLUMNS, bold)
    row = 0
    for values in _ordered(queryset).values_list(*TRADE_COLUMNS).iterator(chunk_size=2000):
        row += 1
        for col, (kind, value) in enumerate(zip(kinds, values)):
            value = _excel_value(kind, value)
            if value is None:
                continue
            if kind in formats and isinstance(value, date | datetime):
                sheet.write_datetime(row, col, value, formats[kind])
            elif isinstance(value, str):
                sheet.write_string(row, col, value)
            elif isinstance(value, bool):
                sheet.write_boolean(row, col, value)
            else:
                sheet.write_number(row, col, value)
    sheet.freeze_panes(1, 0)
    workbook.close()
    return row


def xlsx_response(selection: TradeFilterSet | QuerySet, *, filename: str | None = None) -> FileResponse:
    """A streamed .xlsx download of the selection. Raises ``ExportTooLarge`` when it has more rows
    than a sheet holds (checked before any work, from the per-day counts when the filters allow)."""
    if isinstance(selection, TradeFilterSet):
        rows = trade_count(selection)
    else:
        rows = selection.count()
    if rows + 1 > EXCEL_MAX_ROWS:
        raise ExportTooLarge(rows)
    fd, path = tempfile.mkstemp(suffix=".xlsx", prefix="journal-export-")
    os.close(fd)
    try:
        write_xlsx(_queryset_of(selection), path)
        handle = open(path, "rb")  # noqa: SIM115 - FileResponse closes it when the download ends
    finally:
        # Unlinked now, the file lives on only as the open handle being streamed.
        os.unlink(path)
    name = filename or _filename("xlsx")
    content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return FileResponse(handle, as_attachment=True, filename=name, content_type=content_type)
