"""One trade's page: its fields grouped and formatted, the market context at entry and exit, the
feature row the strategy saw, and the premium chart over the trade's life."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

from journal.derive import ATTRIBUTION_FIELDS
from journal.models import Trade
from trading import formats
from trading.core.charges import CHARGE_FIELDS
from trading.core.context import MEASURES
from trading.market.models import MarketSnapshot

IST = ZoneInfo("Asia/Kolkata")

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
    if name in ("gross_pnl", "net_pnl", "pnl_percentage", "r_multiple") or name in _ATTRIBUTION:
        return formats.pnl_class(value)
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
