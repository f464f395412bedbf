"""Text cells that a spreadsheet would run: the OWASP rule against CSV/formula injection, and its
exact inverse for the import of the journal's own CSV.

A text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a formula (or
becomes one) when Excel, LibreOffice or Google Sheets open the file: ``=HYPERLINK(...)`` in a note,
``=cmd|' /C calc'!A0`` as a strategy name. The exports write such a cell with a leading ``'``, which
spreadsheets show as text. To make the import the exact inverse, a cell that already starts with
``'`` followed (after any more quotes) by one of those characters is escaped too, so ``unescape``
removes one quote exactly when ``escape`` added one: ``unescape(escape(s)) == s`` for every ``s``.
Numbers, dates and booleans are not text and are never touched.

Pure Python: the exports (Python and PostgreSQL's COPY, through ``SQL_NEEDS_ESCAPE``) and the
importer use the same rule.
"""

from __future__ import annotations

import re

TRIGGERS = "=+-@\t\r"
QUOTE = "'"
_NEEDS_ESCAPE = re.compile(r"'*[=+\-@\t\r]")


def needs_escape(text: str) -> bool:
    """True when ``text`` starts, after any quotes, with a character that makes a formula."""
    return bool(_NEEDS_ESCAPE.match(text))


def escape(text: str) -> str:
    """The cell as the exports write it: a quote in front when a spreadsheet would run it."""
    return QUOTE + text if needs_escape(text) else text


def unescape(text: str) -> str:
    """The exact inverse of ``escape``: the quote it added, removed."""
    return text[1:] if text.startswith(QUOTE) and needs_escape(text[1:]) else text


def sql_escaped(column: str) -> str:
    """SQL (PostgreSQL) of ``escape`` over a text expression ``column``."""
    pattern = "'^''*[-=+@' || chr(9) || chr(13) || ']'"
    return f"CASE WHEN {column} ~ ({pattern}) THEN '''' || {column} ELSE {column} END"
