"""How numbers read on every page: one formatter per kind of number (a leaf: standard library only).

* Money in rupees with Indian digit grouping (lakh, crore): ``inr(100000)`` -> ``₹1,00,000.00``,
  ``inr(-1234.5)`` -> ``-₹1,234.50``. The template filter ``inr`` (``trading/templatetags/desk.py``)
  is this function, so a page and a Python caller write the same text.
* Other numbers with the same grouping: ``grouped(23094400, 0)`` -> ``2,30,94,400``.
* Implied volatility, stored as an annualised fraction (``0.131223``), is shown in one unit
  everywhere: percent with one decimal and its sign, ``iv_percent(0.131223)`` -> ``13.1%``.
* A value already in percent (a win rate 0-100): ``percent(55.5)`` -> ``55.5%``.
* A missing value (None, NaN, infinity) is an en dash, never ``None`` or ``nan``.

Rounding is half away from zero on the decimal value (``Decimal(str(x))`` for floats), so 0.125 shows
as 0.13, as a trader rounding by hand would.
"""

from __future__ import annotations

import html
import math
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

MISSING = "\u2013"  # en dash
RUPEE = "\u20b9"
IV_PLACES = 1

Number = int | float | Decimal | str


def to_decimal(value: Number | None) -> Decimal | None:
    """The value as a finite Decimal, or None for None, '', NaN, infinity or text that is no number."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        value = repr(value)
    try:
        d = Decimal(value) if not isinstance(value, Decimal) else value
    except (InvalidOperation, ValueError, TypeError):
        return None
    return d if d.is_finite() else None


def group_digits(digits: str) -> str:
    """Indian grouping of a string of digits: the last three, then pairs (``1234567`` -> ``12,34,567``)."""
    if len(digits) <= 3:
        return digits
    head, tail = digits[:-3], digits[-3:]
    pairs = []
    while len(head) > 2:
        pairs.insert(0, head[-2:])
        head = head[:-2]
    return ",".join([head, *pairs, tail])


def grouped(value: Number | None, places: int = 2) -> str:
    """A number with Indian grouping and ``places`` decimals (``-12,34,567.89``); en dash if missing."""
    d = to_decimal(value)
    if d is None:
        return MISSING
    q = d.quantize(Decimal(1).scaleb(-max(places, 0)), rounding=ROUND_HALF_UP)
    sign = "-" if q < 0 else ""
    text = f"{abs(q):f}"
    whole, _, frac = text.partition(".")
    return f"{sign}{group_digits(whole)}" + (f".{frac}" if places > 0 else "")


def inr(value: Number | None, places: int = 2, *, plus: bool = False) -> str:
    """Rupees with Indian grouping: ``₹1,00,000.00``; a loss ``-₹1,234.50``; ``plus`` marks a gain ``+``."""
    text = grouped(value, places)
    if text == MISSING:
        return MISSING
    if text.startswith("-"):
        return f"-{RUPEE}{text[1:]}"
    zero = to_decimal(value) == 0 or set(text) <= set("0.,")
    return f"{'+' if plus and not zero else ''}{RUPEE}{text}"


def pnl_class(value: Number | None) -> str:
    """``win`` above zero, ``loss`` below, ``""`` at zero, missing or not finite: the colour of a P&L."""
    d = to_decimal(value)
    return "" if d is None or d == 0 else ("win" if d > 0 else "loss")


def iv_percent(fraction: Number | None, places: int = IV_PLACES) -> str:
    """Implied volatility stored as a fraction, shown in percent: ``0.131223`` -> ``13.1%``."""
    d = to_decimal(fraction)
    return MISSING if d is None else f"{grouped(d * 100, places)}%"


def percent(value: Number | None, places: int = 1) -> str:
    """A value that is already a percentage (0-100): ``55.5`` -> ``55.5%``."""
    text = grouped(value, places)
    return text if text == MISSING else f"{text}%"


def fraction_percent(value: Number | None, places: int = 1) -> str:
    """A fraction shown in percent (a daily return 0.0123 -> ``1.2%``); for IV use ``iv_percent``."""
    d = to_decimal(value)
    return MISSING if d is None else percent(d * 100, places)


def ratio(value: Number | None, places: int = 2) -> str:
    """A pure number (profit factor, Sharpe, PCR) with ``places`` decimals; en dash if missing."""
    return grouped(value, places)


def minutes(value: Number | None) -> str:
    """A duration in minutes as ``45m``, ``2h 05m`` or ``3d 4h``."""
    d = to_decimal(value)
    if d is None:
        return MISSING
    total = int(d.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    sign, total = ("-" if total < 0 else ""), abs(total)
    if total < 60:
        return f"{sign}{total}m"
    hours, mins = divmod(total, 60)
    if hours < 24:
        return f"{sign}{hours}h {mins:02d}m"
    days, hours = divmod(hours, 24)
    return f"{sign}{days}d {hours}h"


_LITERAL = re.compile(r"``(.+?)``|`([^`]+?)`")


def _inline(text: str) -> str:
    """Escape ``text`` and turn reStructuredText literals (double or single backticks) into <code>."""
    out, last = [], 0
    for m in _LITERAL.finditer(text):
        out.append(html.escape(text[last : m.start()]))
        out.append(f"<code>{html.escape(m.group(1) or m.group(2))}</code>")
        last = m.end()
    out.append(html.escape(text[last:]))
    return "".join(out)


def rst_html(text: str | None) -> str:
    """A docstring's small reStructuredText (paragraphs, ``*``/``-`` bullet lists, literals) as HTML.

    Everything is escaped first: the result holds only ``<p>``, ``<ul>``, ``<li>`` and ``<code>``.
    """
    blocks: list[str] = []
    items: list[str] = []
    para: list[str] = []

    def flush_para() -> None:
        if para:
            blocks.append(f"<p>{_inline(' '.join(para))}</p>")
            para.clear()

    def flush_items() -> None:
        if items:
            blocks.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + "</ul>")
            items.clear()

    for raw in (text or "").splitlines():
        line = raw.strip()
        if not line:
            flush_para()
            flush_items()
            continue
        if line[:2] in ("* ", "- "):
            flush_para()
            items.append(line[2:].strip())
        elif items and raw[:1].isspace():
            items[-1] += " " + line  # a bullet's continuation line
        else:
            flush_items()
            para.append(line)
    flush_para()
    flush_items()
    return "".join(blocks)
