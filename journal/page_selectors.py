"""Reads behind the journal's pages: a sorted keyset page of trades, a trade's fields grouped and
its chart data, and a month of daily P&L for the calendar. (Totals of a filtered set are
``journal.selectors.trade_totals``, shared with the API.)"""

from __future__ import annotations

import calendar as pycalendar
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet

from journal.cursor import decode_cursor, encode_cursor
from journal.models import DailyPerformance, Trade

IST = ZoneInfo("Asia/Kolkata")

# Sortable columns of the journal list (non-null, so a keyset over (column, id) is exact).
SORTABLE: dict[str, str] = {
    "exit_time": "Exit",
    "entry_time": "Entry",
    "tradingsymbol": "Contract",
    "strategy_name": "Strategy",
    "quantity": "Qty",
    "entry_price": "Entry price",
    "exit_price": "Exit price",
    "gross_pnl": "Gross",
    "total_charges": "Charges",
    "net_pnl": "Net P&L",
    "pnl_percentage": "P&L %",
    "hold_duration_minutes": "Held (min)",
}
DEFAULT_SORT = "-exit_time"
PAGE_SIZES = (25, 50, 100, 200)


def normalise_sort(sort: str | None) -> str:
    """``sort`` if it names a whitelisted column (``-`` prefix for descending), else the default."""
    sort = (sort or "").strip()
    return sort if sort.lstrip("-") in SORTABLE and sort.count("-") <= 1 else DEFAULT_SORT


@dataclass
class TradePage:
    """One page of the sorted journal; cursors are opaque strings for ``after``/``before``."""

    trades: list[Trade]
    sort: str
    next_cursor: str | None = None
    prev_cursor: str | None = None


def _encode_cursor(sort_field: str, trade: Trade) -> str:
    value = getattr(trade, sort_field)
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return encode_cursor({"f": sort_field, "v": text, "i": trade.pk})


def _decode_cursor(sort_field: str, cursor: str) -> tuple[object, int] | None:
    """(value, id) of a cursor made for this sort column; None for anything else (-> first page)."""
    try:
        token = decode_cursor(cursor)
        name, text, pk = token["f"], token["v"], token["i"]
        if name != sort_field or not isinstance(pk, int):
            return None
        value = Trade._meta.get_field(sort_field).to_python(text)
    except (ValueError, TypeError, KeyError, ValidationError):  # BadCursor is a ValueError
        return None
    return (value, pk) if value is not None else None


def trade_page(qs: QuerySet, *, sort: str, after: str = "", before: str = "", size: int = 25) -> TradePage:
    """A page of ``qs`` in ``sort`` order (ties by id), after or before a cursor.

    Keyset pagination: a deep page costs what the first does (no OFFSET, no COUNT).
    """
    sort = normalise_sort(sort)
    name = sort.lstrip("-")
    desc = sort.startswith("-")
    forward = [f"-{name}", "-id"] if desc else [name, "id"]
    backward = [name, "id"] if desc else [f"-{name}", "-id"]

    def beyond(value, pk, going_forward: bool) -> Q:
        later = desc != going_forward  # descending + forward means smaller values
        op = "gt" if later else "lt"
        return Q(**{f"{name}__{op}": value}) | Q(**{name: value, f"id__{op}": pk})

    key = _decode_cursor(name, before) if before else None
    if key is not None:
        rows = list(qs.filter(beyond(*key, going_forward=False)).order_by(*backward)[: size + 1])
        has_prev = len(rows) > size
        rows = rows[:size][::-1]
        page = TradePage(trades=rows, sort=sort)
        if rows:
            page.next_cursor = _encode_cursor(name, rows[-1])
            page.prev_cursor = _encode_cursor(name, rows[0]) if has_prev else None
        return page
    key = _decode_cursor(name, after) if after else None
    if key is not None:
        qs = qs.filter(beyond(*key, going_forward=True))
    rows = list(qs.order_by(*forward)[: size + 1])
    has_next = len(rows) > size
    rows = rows[:size]
    page = TradePage(trades=rows, sort=sort)
    if rows:
        page.next_cursor = _encode_cursor(name, rows[-1]) if has_next else None
        page.prev_cursor = _encode_cursor(name, rows[0]) if key is not None else None
    return page


def rows_before(qs: QuerySet, *, sort: str, first: Trade) -> int:
    """How many rows of ``qs`` come before ``first`` in ``sort`` order (ties by id): the position of a
    keyset page, for its "page N of M" (one COUNT over the index range, only past the first page)."""
    sort = normalise_sort(sort)
    name = sort.lstrip("-")
    desc = sort.startswith("-")
    value = getattr(first, name)
    op = "gt" if desc else "lt"
    return qs.filter(Q(**{f"{name}__{op}": value}) | Q(**{name: value, f"id__{op}": first.pk})).count()


@dataclass(frozen=True)
class PagePosition:
    """Where a page sits in the filtered set: rows ``first``..``last`` (1-based) of ``total``, page
    ``number`` of ``pages``."""

    first: int
    last: int
    total: int
    number: int
    pages: int


def page_position(qs: QuerySet, page: TradePage, *, total: int, size: int, first_page: bool) -> PagePosition:
    """The position of ``page`` in ``qs`` of ``total`` rows (``first_page``: no cursor was given)."""
    pages = max(1, -(-total // size))
    if not page.trades:
        return PagePosition(0, 0, total, 1 if first_page else pages, pages)
    before = 0 if first_page else rows_before(qs, sort=page.sort, first=page.trades[0])
    return PagePosition(
        first=before + 1,
        last=before + len(page.trades),
        total=total,
        number=min(pages, before // size + 1),
        pages=pages,
    )


# --- The P&L calendar ------------------------------------------------------------------------------


@dataclass
class CalendarDay:
    """One cell of the month: the day, its performance row (or None) and its colour weight 0..1."""

    day: date
    in_month: bool
    perf: DailyPerformance | None = None
    weight: float = 0.0

    @property
    def css_class(self) -> str:
        if self.perf is None or not self.perf.trades:
            return "none"
        return "win" if self.perf.net_pnl > 0 else "loss" if self.perf.net_pnl < 0 else "flat"

    @property
    def alpha(self) -> str:
        """Background opacity as a CSS number (0.15..1): stronger for bigger days."""
        return f"{0.15 + 0.85 * self.weight:.2f}"


@dataclass
class CalendarMonth:
    """A month of daily net P&L of one mode, as weeks (Monday first) of days."""

    month: date
    mode: str
    weeks: list[list[CalendarDay]] = field(default_factory=list)
    net_pnl: Decimal = Decimal("0.00")
    trades: int = 0
    wins: int = 0
    days_traded: int = 0

    @property
    def last_day(self) -> date:
        return self.month.replace(day=pycalendar.monthrange(self.month.year, self.month.month)[1])

    @property
    def prev_month(self) -> date:
        return (self.month - timedelta(days=1)).replace(day=1)

    @property
    def next_month(self) -> date:
        return (self.month + timedelta(days=32)).replace(day=1)


def calendar_month(*, month: date, mode: str) -> CalendarMonth:
    """Daily net P&L of ``mode`` for the month of ``month`` (from DailyPerformance)."""
    first = month.replace(day=1)
    last = first.replace(day=pycalendar.monthrange(first.year, first.month)[1])
    rows = {p.date: p for p in DailyPerformance.objects.filter(mode=mode, date__gte=first, date__lte=last)}
    out = CalendarMonth(month=first, mode=mode)
    biggest = max((abs(p.net_pnl) for p in rows.values()), default=Decimal(0))
    for week in pycalendar.Calendar(firstweekday=0).monthdatescalendar(first.year, first.month):
        cells = []
        for d in week:
            perf = rows.get(d) if d.month == first.month else None
            weight = float(abs(perf.net_pnl) / biggest) if perf is not None and biggest else 0.0
            cells.append(CalendarDay(day=d, in_month=d.month == first.month, perf=perf, weight=weight))
        out.weeks.append(cells)
    for p in rows.values():
        out.net_pnl += p.net_pnl
        out.trades += p.trades
        out.wins += p.wins
        out.days_traded += 1 if p.trades else 0
    return out
