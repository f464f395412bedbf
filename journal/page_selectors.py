"""Reads behind the journal's pages: a sorted keyset page of trades, a trade's fields grouped and
its chart data, and a month of daily P&L for the calendar. (Totals of a filtered set are
``journal.selectors.trade_totals``, shared with the API.)"""

from __future__ import annotations

import calendar as pycalendar
import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet

from journal.cursor import decode_cursor, encode_cursor
from journal.models import DailyPerformance, Trade
from trading.core.charges import CHARGE_FIELDS
from trading.core.context import MEASURES
from trading.market.models import MarketSnapshot

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


# --- The trade's chart ---------------------------------------------------------------------------------

MAX_CHART_POINTS = 600


def _premium_from_chain(chain: dict, trade: Trade) -> float | None:
    """The option's last price in a MarketSnapshot chain, for the shapes the engine may write:
    ``{expiry: {"strikes": [...], "CE": {"ltp": [...]}, "PE": {...}}}`` (columns),
    ``{expiry: {"<strike>": {"CE": {"ltp": x} | x, ...}}}`` (nested) or
    ``{expiry: [{"strike": k, "type"|"option_type"|"side": "CE", "ltp": x}, ...]}`` (rows)."""
    if not isinstance(chain, dict):
        return None
    side = "CE" if trade.instrument_type == "CALL" else "PE"
    expiry = chain.get(trade.expiry_date.isoformat()) or chain.get(str(trade.expiry_date))
    if expiry is None:
        return None
    strike = float(trade.strike_price)
    try:
        if isinstance(expiry, dict) and "strikes" in expiry:
            idx = [float(k) for k in expiry["strikes"]].index(strike)
            column = expiry.get(side) or expiry.get(side.lower()) or {}
            return float(column["ltp"][idx])
        if isinstance(expiry, dict):
            for key, row in expiry.items():
                try:
                    if float(key) != strike:
                        continue
                except ValueError:
                    continue
                cell = row.get(side) if isinstance(row, dict) else None
                if isinstance(cell, dict):
                    return float(cell["ltp"])
                return float(cell) if cell is not None else None
        if isinstance(expiry, list):
            for row in expiry:
                kind = str(row.get("type") or row.get("option_type") or row.get("side") or "").upper()
                if float(row.get("strike", "nan")) == strike and kind in (side, trade.instrument_type):
                    return float(row["ltp"])
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    return None


def _minutes(trade: Trade, at) -> float:
    return round((at - trade.entry_time).total_seconds() / 60, 2)


def trade_chart(trade: Trade) -> dict:
    """Chart data of a trade: premium and spot against minutes since entry.

    Always the entry and exit points (premium from the trade, spot from ``spot_price_entry/exit``
    when known), plus the stop and target levels. When ``trading.MarketSnapshot`` rows of the
    trade's index and data source exist between entry and exit, their spot (and the option's last
    price, when the snapshot's chain holds this strike and expiry) fill the path in between,
    thinned to at most MAX_CHART_POINTS points. ``source`` says which it is.
    """

    def point(at, value) -> dict:
        return {"x": _minutes(trade, at), "y": float(value), "t": at.astimezone(IST).strftime("%H:%M:%S")}

    premium = [point(trade.entry_time, trade.entry_price)]
    spot = [point(trade.entry_time, trade.spot_price_entry)] if trade.spot_price_entry is not None else []
    snapshots = MarketSnapshot.objects.filter(
        index=trade.symbol, source=trade.data_source, time__gt=trade.entry_time, time__lt=trade.exit_time
    ).order_by("time")
    count = snapshots.count()
    step = max(1, -(-count // MAX_CHART_POINTS))
    used = 0
    for i, snap in enumerate(snapshots.only("time", "spot", "chain").iterator()):
        if i % step:
            continue
        used += 1
        spot.append(point(snap.time, snap.spot))
        price = _premium_from_chain(snap.chain, trade)
        if price is not None:
            premium.append(point(snap.time, price))
    premium.append(point(trade.exit_time, trade.exit_price))
    if trade.spot_price_exit is not None:
        spot.append(point(trade.exit_time, trade.spot_price_exit))
    end = _minutes(trade, trade.exit_time)
    levels = {}
    for name, value in (("stop", trade.stop_loss_price), ("target", trade.target_price)):
        if value is not None:
            levels[name] = [{"x": 0, "y": float(value)}, {"x": end, "y": float(value)}]
    return {
        "premium": premium,
        "spot": spot,
        "levels": levels,
        "snapshots": used,
        "source": "snapshots" if used else "entry_exit",
        "entry_label": trade.entry_time.astimezone(IST).strftime("%Y-%m-%d %H:%M"),
    }


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


# --- The trade's fields, grouped ------------------------------------------------------------------------

FIELD_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "Contract",
        (
            "trade_id",
            "symbol",
            "tradingsymbol",
            "exchange",
            "instrument_type",
            "strike_price",
            "expiry_date",
            "side",
            "lots",
            "quantity",
        ),
    ),
    (
        "Entry and exit",
        (
            "entry_time",
            "entry_price",
            "exit_time",
            "exit_price",
            "trade_date",
            "hold_duration_minutes",
            "exit_type",
            "exit_reason",
            "entry_mode",
            "data_source",
            "status",
            "entry_order_id",
            "exit_order_id",
            "entry_orders",
            "exit_orders",
        ),
    ),
    (
        "P&L and charges",
        (
            "gross_pnl",
            *CHARGE_FIELDS,
            "net_pnl",
            "pnl_percentage",
            "is_winning_trade",
        ),
    ),
    ("Risk", ("stop_loss_price", "target_price", "initial_risk", "planned_rr", "r_multiple", "mae", "mfe")),
    ("Strategy and signal", ("strategy_name", "signal_strength", "signal_reason", "signal", "backtest_run")),
    ("Record", ("created_at", "updated_at")),
)
# Market context, entry vs exit: (label, entry field, exit field) - spot, then the engine's measures.
CONTEXT_ROWS: tuple[tuple[str, str, str], ...] = (
    ("Spot", "spot_price_entry", "spot_price_exit"),
    *((label, f"{name}_entry", f"{name}_exit") for name, (label, _unit) in MEASURES.items()),
)
_LABELS = {
    "pnl_percentage": "P&L % (of premium paid)",
    "is_winning_trade": "Win (net > 0)",
    "hold_duration_minutes": "Held (minutes)",
    "exchange_txn": "Exchange txn charge",
    "sebi_fee": "SEBI fee",
    "stt": "STT",
    "gst": "GST",
    "mae": "MAE (worst, Rs)",
    "mfe": "MFE (best, Rs)",
    "r_multiple": "R-multiple",
    "planned_rr": "Planned reward:risk",
    "initial_risk": "Initial risk (Rs)",
}


def _display(trade: Trade, name: str) -> str:
    value = getattr(trade, name)
    getter = getattr(trade, f"get_{name}_display", None)
    if value is None or value == "":
        return "—"
    if getter is not None:
        return getter()
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if hasattr(value, "astimezone"):
        return value.astimezone(IST).strftime("%Y-%m-%d %H:%M:%S IST")
    if isinstance(value, float):
        return f"{value:.6g}"
    if name == "signal":
        return f"#{value.pk} {value.strategy_name} {value.direction} strength {value.strength:.3g} ({value.status})"
    if name == "backtest_run":
        return str(value)
    return str(value)


def _css(name: str, value) -> str:
    if name in ("gross_pnl", "net_pnl", "pnl_percentage", "r_multiple") and value is not None:
        return "win" if value > 0 else "loss" if value < 0 else ""
    return ""


def trade_field_groups(trade: Trade) -> list[dict]:
    """Every stored field of the trade (but market context, features, notes, tags), grouped, as
    ``{"title", "items": [{"name", "label", "value", "css"}]}`` ready to show."""
    groups = []
    for title, names in FIELD_GROUPS:
        items = []
        for name in names:
            model_field = Trade._meta.get_field(name)
            label = _LABELS.get(name) or str(model_field.verbose_name).capitalize().replace(" pnl", " P&L")
            items.append(
                {
                    "name": name,
                    "label": label,
                    "value": _display(trade, name),
                    "css": _css(name, getattr(trade, name)),
                }
            )
        groups.append({"title": title, "items": items})
    return groups


def market_context_rows(trade: Trade) -> list[dict]:
    """Market context at entry and at exit, one row per measure."""
    return [
        {"label": label, "entry": _display(trade, entry), "exit": _display(trade, exit_)}
        for label, entry, exit_ in CONTEXT_ROWS
    ]


def trade_features(trade: Trade) -> tuple[str, list[tuple[str, str]]]:
    """The feature row the trade was taken on: ``trade.entry_features``, else its signal's features.
    Returns (where from, sorted (name, value) pairs)."""
    features = trade.entry_features or {}
    origin = "trade.entry_features"
    if not features and trade.signal_id and trade.signal is not None:
        features = trade.signal.features or {}
        origin = f"signal #{trade.signal_id}"
    if not isinstance(features, dict):
        return origin, [("value", str(features))]
    pairs = []
    for key in sorted(features):
        value = features[key]
        pairs.append(
            (
                str(key),
                f"{value:.6g}"
                if isinstance(value, float)
                else json.dumps(value)
                if isinstance(value, dict | list)
                else str(value),
            )
        )
    return origin, pairs
