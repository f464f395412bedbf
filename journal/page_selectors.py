"""Reads behind the journal's pages: a sorted keyset page of trades, a trade's fields grouped and
its chart data, and a month of daily P&L for the calendar. (Totals of a filtered set are
``journal.selectors.trade_totals``, shared with the API.)"""

from __future__ import annotations

import calendar as pycalendar
import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet

from journal.cursor import decode_cursor, encode_cursor
from journal.models import DailyPerformance, Trade
from journal.services import ATTRIBUTION_FIELDS
from trading import formats
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
    # Gross P&L = delta + gamma + theta + vega + residual (trading.core.attribution; blank without snapshots).
    ("Greeks attribution", ATTRIBUTION_FIELDS),
    ("Risk", ("stop_loss_price", "target_price", "initial_risk", "planned_rr", "r_multiple", "mae", "mfe")),
    ("Strategy and signal", ("strategy_name", "signal_strength", "signal_reason", "signal", "backtest_run")),
    ("Record", ("created_at", "updated_at")),
)
# Market context, entry vs exit: (label, entry field, exit field, unit) - spot, then the engine's measures.
CONTEXT_ROWS: tuple[tuple[str, str, str, str], ...] = (
    ("Spot", "spot_price_entry", "spot_price_exit", "index points"),
    *((label, f"{name}_entry", f"{name}_exit", unit) for name, (label, unit) in MEASURES.items()),
)
# How a value of each unit of ``trading.core.context.MEASURES`` reads (IV: one unit, percent).
_UNIT_FORMATS = {
    "index points": lambda v: formats.grouped(v, 2),
    "points": lambda v: formats.grouped(v, 2),
    "ratio": lambda v: formats.ratio(v, 2),
    "fraction, annualised": formats.iv_percent,
    "per point": lambda v: formats.grouped(v, 3),
    "per point squared": lambda v: formats.grouped(v, 5),
    "rupees per day": formats.inr,
    "rupees per vol point": formats.inr,
}
# Trade fields by how they read.
_ATTRIBUTION = frozenset(ATTRIBUTION_FIELDS)
_MONEY = frozenset({*CHARGE_FIELDS, *_ATTRIBUTION, "gross_pnl", "net_pnl", "initial_risk", "mae", "mfe"})
_PRICES = frozenset({"entry_price", "exit_price", "strike_price", "stop_loss_price", "target_price"})
_LABELS = {
    "pnl_percentage": "P&L % (of premium paid)",
    "is_winning_trade": "Win (net > 0)",
    "hold_duration_minutes": "Held",
    "exchange_txn": "Exchange txn charge",
    "sebi_fee": "SEBI fee",
    "stt": "STT",
    "gst": "GST",
    "mae": "MAE (worst)",
    "mfe": "MFE (best)",
    "r_multiple": "R-multiple",
    "planned_rr": "Planned reward:risk",
    "initial_risk": "Initial risk",
    "delta_pnl": "Delta (delta x dS)",
    "gamma_pnl": "Gamma (\u00bd gamma x dS\u00b2)",
    "theta_pnl": "Theta (theta x days held)",
    "vega_pnl": "Vega (vega x IV change)",
    "residual_pnl": "Residual",
}


def _display(trade: Trade, name: str) -> str:
    value = getattr(trade, name)
    getter = getattr(trade, f"get_{name}_display", None)
    if value is None or value == "":
        return formats.MISSING
    if getter is not None:
        return getter()
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if hasattr(value, "astimezone"):
        return value.astimezone(IST).strftime("%Y-%m-%d %H:%M:%S IST")
    if name in _MONEY:
        return formats.inr(value)
    if name in _PRICES:
        return formats.grouped(value, 2)
    if name == "pnl_percentage":
        return formats.percent(value, 2)
    if name == "hold_duration_minutes":
        return formats.minutes(value)
    if name == "r_multiple":
        return f"{formats.ratio(value)}R"
    if name == "planned_rr":
        return formats.ratio(value)
    if name in ("quantity", "lots"):
        return formats.grouped(value, 0)
    if isinstance(value, float):
        return formats.ratio(value, 2)
    if name == "signal":
        return f"#{value.pk} {value.strategy_name} {value.direction} strength {value.strength:.2f} ({value.status})"
    return str(value)


def _css(name: str, value) -> str:
    if (
        name in ("gross_pnl", "net_pnl", "pnl_percentage", "r_multiple") or name in _ATTRIBUTION
    ) and value is not None:
        return "win" if value > 0 else "loss" if value < 0 else ""
    return ""


def _is_number(name: str) -> bool:
    field = Trade._meta.get_field(name)
    return field.get_internal_type() in ("DecimalField", "FloatField", "PositiveIntegerField", "IntegerField")


def trade_field_groups(trade: Trade) -> list[dict]:
    """Every stored field of the trade (but market context, features, notes, tags), grouped, as
    ``{"title", "items": [{"name", "label", "value", "css", "num"}]}`` ready to show."""
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
                    "num": _is_number(name),
                }
            )
        groups.append({"title": title, "items": items})
    return groups


def market_context_rows(trade: Trade) -> list[dict]:
    """Market context at entry and at exit, one row per measure, each in its unit (IV in percent)."""
    rows = []
    for label, entry, exit_, unit in CONTEXT_ROWS:
        fmt = _UNIT_FORMATS.get(unit, lambda v: formats.grouped(v, 2))
        rows.append(
            {
                "label": label,
                "unit": unit,
                "entry": fmt(getattr(trade, entry)),
                "exit": fmt(getattr(trade, exit_)),
            }
        )
    return rows


# --- The feature row, grouped and formatted ------------------------------------------------------------

# Every column of ``trading.core.features.COLUMNS`` (docs/contracts.md) and the row's ``time`` (the bar's
# start, which the engine stores with the row): its group, label and format.
_F_POINTS = "points"  # index points, 2 decimals
_F_COUNT = "count"  # a whole number (volume, OI)
_F_IV = "iv"  # an annualised fraction, shown in percent like every IV
_F_SCORE = "score"  # 0-100
_F_RATIO = "ratio"
_F_PREMIUM = "premium"  # an option price, rupees per unit
FEATURE_GROUPS: tuple[tuple[str, tuple[tuple[str, str, str], ...]], ...] = (
    (
        "Spot and trend",
        (
            ("close", "Close", _F_POINTS),
            ("open", "Open", _F_POINTS),
            ("high", "High", _F_POINTS),
            ("low", "Low", _F_POINTS),
            ("vwap", "VWAP", _F_POINTS),
            ("ema_9", "EMA 9", _F_POINTS),
            ("ema_20", "EMA 20", _F_POINTS),
            ("ema_21", "EMA 21", _F_POINTS),
            ("supertrend", "Supertrend", _F_POINTS),
            ("supertrend_dir", "Supertrend direction", "direction"),
            ("rsi_14", "RSI 14", _F_SCORE),
            ("atr_10", "ATR 10", _F_POINTS),
            ("or_high", "Opening range high", _F_POINTS),
            ("or_low", "Opening range low", _F_POINTS),
            ("day_high", "Day high", _F_POINTS),
            ("day_low", "Day low", _F_POINTS),
            ("volume", "Volume", _F_COUNT),
        ),
    ),
    (
        "Volatility",
        (
            ("vix", "India VIX", _F_POINTS),
            ("expected_move", "Expected move (1 day)", _F_POINTS),
            ("atm_iv", "ATM IV", _F_IV),
            ("iv_rank", "IV rank", _F_SCORE),
            ("iv_percentile", "IV percentile", _F_SCORE),
            ("atm_call", "ATM call", _F_PREMIUM),
            ("atm_put", "ATM put", _F_PREMIUM),
            ("straddle_premium", "ATM straddle", _F_PREMIUM),
        ),
    ),
    (
        "Open interest",
        (
            ("pcr_oi", "PCR (OI)", _F_RATIO),
            ("pcr_volume", "PCR (volume)", _F_RATIO),
            ("call_oi", "Call OI", _F_COUNT),
            ("put_oi", "Put OI", _F_COUNT),
            ("call_oi_change", "Call OI change", _F_COUNT),
            ("put_oi_change", "Put OI change", _F_COUNT),
            ("oi_change", "OI change (bar)", _F_COUNT),
            ("max_pain", "Max pain", _F_POINTS),
            ("max_pain_distance", "Spot - max pain", _F_POINTS),
            ("support", "Support (put OI)", _F_POINTS),
            ("resistance", "Resistance (call OI)", _F_POINTS),
            ("atm_strike", "ATM strike", _F_POINTS),
        ),
    ),
    (
        "Session and expiry",
        (
            ("time", "Bar start", "datetime"),
            ("session", "Session", "text"),
            ("minute", "Bar", "minute"),
            ("expiry", "Expiry", "text"),
            ("days_to_expiry", "Days to expiry", "days"),
            ("minutes_to_expiry", "Time to expiry", "minutes"),
            ("is_expiry_day", "Expiry day", "bool"),
        ),
    ),
)
_FEATURE_INDEX = {name: (label, kind) for _, items in FEATURE_GROUPS for name, label, kind in items}


def _feature_text(kind: str, value) -> str:
    if value is None:
        return formats.MISSING
    if isinstance(value, bool) or kind == "bool":
        return "Yes" if value else "No"
    if isinstance(value, dict | list):
        return json.dumps(value)
    if kind == "datetime":
        try:
            return datetime.fromisoformat(str(value)).astimezone(IST).strftime("%Y-%m-%d %H:%M IST")
        except (TypeError, ValueError):
            return str(value)
    if isinstance(value, str) and kind not in ("text",):
        if formats.to_decimal(value) is None:
            return value
    if kind == _F_POINTS:
        return formats.grouped(value, 2)
    if kind == _F_PREMIUM:
        return formats.inr(value)
    if kind == _F_COUNT:
        return formats.grouped(value, 0)
    if kind == _F_IV:
        return formats.iv_percent(value)
    if kind == _F_SCORE:
        return formats.grouped(value, 1)
    if kind == _F_RATIO:
        return formats.ratio(value)
    if kind == "direction":
        d = formats.to_decimal(value)
        return formats.MISSING if d is None else ("up" if d > 0 else "down" if d < 0 else "flat")
    if kind == "minute":
        d = formats.to_decimal(value)
        if d is None:
            return str(value)
        at = 9 * 60 + 15 + int(d)
        return f"{at // 60:02d}:{at % 60:02d} IST (minute {int(d)})"
    if kind == "days":
        return f"{formats.grouped(value, 2)} days"
    if kind == "minutes":
        return formats.minutes(value)
    if isinstance(value, float):
        return formats.grouped(value, 4)
    return str(value)


def trade_features(trade: Trade) -> tuple[str, list[dict]]:
    """The feature row the trade was taken on (``trade.entry_features``, else its signal's), grouped
    as the feature frame's columns are (``FEATURE_GROUPS``) and formatted by kind; names the frame
    does not know go under "Other". Returns (where from, ``[{"title", "items": [(label, text)]}]``)."""
    features = trade.entry_features or {}
    origin = "the trade's entry"
    if not features and trade.signal_id and trade.signal is not None:
        features = trade.signal.features or {}
        origin = f"signal #{trade.signal_id}"
    if not isinstance(features, dict):
        return origin, [{"title": "Other", "items": [("value", str(features))]}]
    groups = []
    for title, items in FEATURE_GROUPS:
        shown = [
            (label, _feature_text(kind, features[name])) for name, label, kind in items if name in features
        ]
        if shown:
            groups.append({"title": title, "items": shown})
    other = [(str(k), _feature_text("", features[k])) for k in sorted(features) if k not in _FEATURE_INDEX]
    if other:
        groups.append({"title": "Other", "items": other})
    return origin, groups
