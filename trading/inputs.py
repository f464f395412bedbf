"""Rules for input from outside, shared by pages, API and services, so that bad input is a 400 naming
the field, never a server error further down (PostgreSQL refuses NUL characters and time-zone
offsets of 16 hours or more; Python's JSON parser recurses once per nesting level).

* date-times: an offset from UTC of 16 hours or more is refused (``utc_offset_problem``);
* trade ids: letters, digits and ``- _ . :``, starting with a letter or digit, at most 64 characters
  (``trade_id_problem``): an id is a path segment of the API and a cell of the exports;
* labels (tags, strategy names): no control, format (bidi overrides, zero-width) or separator
  characters; free text (notes, reasons): no NUL and no bidi controls (``text_problem``);
* JSON bodies: at most ``MAX_JSON_DEPTH`` levels deep and no NUL in any string (``json_problem``;
  the API's parser, ``tradingsite.parsers.JSONParser``, applies it to every body).

A leaf: imports nothing of the project (nor DRF: a process that serves no API - a backtest,
the trading loop - does not load it for these rules).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timedelta
from typing import Any

MAX_UTC_OFFSET = timedelta(hours=16)  # PostgreSQL's timestamptz refuses 16:00 and more
MAX_JSON_DEPTH = 32
TRADE_ID_MAX = 64
TRADE_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-]*")
TRADE_ID_PATTERN = TRADE_ID_RE.pattern  # the API's route and schema use the same pattern
# Characters that reorder or hide text (Trojan Source, CVE-2021-42574): never in any text.
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_LABEL_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def utc_offset_problem(value: datetime) -> str | None:
    """Why the aware ``value``'s offset cannot be stored (None when it can)."""
    offset = value.utcoffset()
    if offset is not None and abs(offset) >= MAX_UTC_OFFSET:
        return f"time-zone offset {_format_offset(offset)} is out of range (at most 15:59 either way)"
    return None


def _format_offset(offset: timedelta) -> str:
    sign = "-" if offset < timedelta(0) else "+"
    minutes = int(abs(offset).total_seconds()) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def trade_id_problem(text: str) -> str | None:
    """Why ``text`` cannot be a trade id (None when it can)."""
    if len(text) > TRADE_ID_MAX:
        return f"at most {TRADE_ID_MAX} characters"
    if not TRADE_ID_RE.fullmatch(text):
        return "only letters, digits and - _ . : (starting with a letter or a digit)"
    return None


def _describe(char: str) -> str:
    return f"U+{ord(char):04X} {unicodedata.name(char, 'control character')}"


def text_problem(text: str, *, label: bool) -> str | None:
    """Why ``text`` is refused (None when it is fine). ``label``: a one-line name (a tag, a strategy)
    - no control, format or line-separator character at all; otherwise free text - tabs and line
    breaks are fine, NUL, other controls and bidi controls are not."""
    if text.isascii() and text.isprintable():
        return None  # U+0020..U+007E only: letters, digits, punctuation, symbols and the space
    for char in text:
        if char in BIDI_CONTROLS:
            return f"contains {_describe(char)} (it reorders the text shown)"
        category = unicodedata.category(char)
        if label and category in _LABEL_CATEGORIES:
            return f"contains {_describe(char)}"
        if not label and category == "Cc" and char not in "\t\n\r":
            return f"contains {_describe(char)}"
    return None


# --- JSON bodies ------------------------------------------------------------------------------------


_WALKED = (dict, list, str)


def json_problem(data: Any) -> tuple[str, str] | None:
    """(field, reason) when parsed JSON nests deeper than ``MAX_JSON_DEPTH`` or holds a NUL in a
    string (key or value); the field is the top-level key it is under. Walks without recursion."""
    stack: list[tuple[Any, int, str]] = [(data, 1, "non_field_errors")]
    while stack:
        value, depth, field = stack.pop()
        if isinstance(value, dict):
            if depth > MAX_JSON_DEPTH:
                return field, f"nested more than {MAX_JSON_DEPTH} levels deep"
            for key, item in value.items():
                name = key if depth == 1 and isinstance(key, str) and "\x00" not in key else field
                if "\x00" in key:
                    return field, "a key contains a NUL character"
                if isinstance(item, _WALKED):  # a number, a boolean or null cannot be refused
                    stack.append((item, depth + 1, name))
        elif isinstance(value, list):
            if depth > MAX_JSON_DEPTH:
                return field, f"nested more than {MAX_JSON_DEPTH} levels deep"
            stack.extend((item, depth + 1, field) for item in value if isinstance(item, _WALKED))
        elif isinstance(value, str) and "\x00" in value:
            return field, "contains a NUL character"
    return None
