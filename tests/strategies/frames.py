"""Small hand-made feature frames with every column of docs/contracts.md.

``make_frame(n, **columns)`` builds ``n`` minute bars of one NIFTY session (more sessions if n > 375)
starting at 09:15 IST on ``day``. Any column can be given as a scalar or an array of length n; the
derived columns (expected move, EMAs, VWAP, opening range, day high/low, ATM strike, max-pain
distance, straddle premium) follow from what was given unless given themselves. Defaults describe
a quiet market: spot 24000, VIX 14, PCR 1.0.
"""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

IST = ZoneInfo("Asia/Kolkata")
SESSION_BARS = 375
COLUMNS = (
    "session", "minute", "open", "high", "low", "close", "volume", "vwap", "vix", "expected_move",
    "ema_9", "ema_20", "ema_21", "rsi_14", "atr_10", "supertrend", "supertrend_dir", "or_high", "or_low",
    "day_high", "day_low", "expiry", "days_to_expiry", "minutes_to_expiry", "is_expiry_day", "atm_strike",
    "atm_iv", "atm_call", "atm_put", "straddle_premium", "iv_rank", "iv_percentile", "pcr_oi", "pcr_volume",
    "call_oi", "put_oi", "call_oi_change", "put_oi_change", "oi_change", "max_pain", "max_pain_distance",
    "support", "resistance",
)  # fmt: skip


def em(close: float, vix: float) -> float:
    """One-day expected move in points (the reference the strategies scale by)."""
    return close * vix / 100.0 / math.sqrt(252.0)


def _col(value, n: int, dtype=float) -> np.ndarray:
    arr = np.asarray(value, dtype=dtype)
    return np.full(n, arr, dtype=dtype) if arr.ndim == 0 else arr.copy()


def make_frame(n: int = 60, *, day: date = date(2025, 1, 6), start_minute: int = 0, **given) -> pd.DataFrame:
    """A feature frame of ``n`` bars from ``start_minute`` of session ``day`` (see the module doc)."""
    for key, value in given.items():
        if key not in COLUMNS:
            raise KeyError(f"not a feature column: {key}")
        if np.ndim(value) and len(value) != n:
            raise ValueError(f"{key} has {len(value)} values for {n} bars")
    pos = np.arange(start_minute, start_minute + n)
    minute = pos % SESSION_BARS
    day_no = pos // SESSION_BARS
    sessions = [day + timedelta(days=int(k)) for k in day_no]
    times = [
        datetime.combine(s, time(9, 15), tzinfo=IST) + timedelta(minutes=int(m))
        for s, m in zip(sessions, minute)
    ]
    index = pd.DatetimeIndex(pd.to_datetime(times).tz_convert("UTC"), name="time")
    close = _col(given.get("close", 24000.0), n)
    vix = _col(given.get("vix", 14.0), n)
    cols: dict[str, object] = {"session": sessions, "minute": minute, "close": close, "vix": vix}
    prev = np.concatenate(([close[0]], close[:-1]))
    cols["open"] = _col(given.get("open", prev), n)
    cols["high"] = _col(given.get("high", np.maximum(cols["open"], close) + 2.0), n)
    cols["low"] = _col(given.get("low", np.minimum(cols["open"], close) - 2.0), n)
    cols["volume"] = _col(given.get("volume", 100_000.0), n)
    s = pd.Series(close, index=index)
    session_key = pd.Series(day_no, index=index)
    typical = (cols["high"] + cols["low"] + close) / 3.0
    tv = pd.Series(typical * cols["volume"], index=index).groupby(session_key).cumsum()
    v = pd.Series(cols["volume"], index=index).groupby(session_key).cumsum()
    derived = {
        "expected_move": close * vix / 100.0 / math.sqrt(252.0),
        "vwap": (tv / v).to_numpy(),
        "ema_9": s.ewm(span=9, adjust=False).mean().to_numpy(),
        "ema_20": s.ewm(span=20, adjust=False).mean().to_numpy(),
        "ema_21": s.ewm(span=21, adjust=False).mean().to_numpy(),
        "rsi_14": 50.0,
        "atr_10": 10.0,
        "supertrend_dir": 1.0,
        "day_high": pd.Series(cols["high"], index=index).groupby(session_key).cummax().to_numpy(),
        "day_low": pd.Series(cols["low"], index=index).groupby(session_key).cummin().to_numpy(),
        "atm_iv": 0.14,
        "atm_call": 120.0,
        "atm_put": 120.0,
        "iv_rank": 50.0,
        "iv_percentile": 50.0,
        "pcr_oi": 1.0,
        "pcr_volume": 1.0,
        "call_oi": 1.0e7,
        "put_oi": 1.0e7,
        "call_oi_change": 0.0,
        "put_oi_change": 0.0,
        "oi_change": 0.0,
        "days_to_expiry": 2.0,
        "is_expiry_day": False,
    }
    for key, value in derived.items():
        cols[key] = _col(given.get(key, value), n, bool if key == "is_expiry_day" else float)
    # opening range: high/low of the session's first 15 bars, known from its 15th bar (09:29) on
    hi = pd.Series(cols["high"], index=index).groupby(session_key).cummax().to_numpy()
    lo = pd.Series(cols["low"], index=index).groupby(session_key).cummin().to_numpy()
    first15 = minute >= 14
    or_hi = np.where(first15, np.nan, np.nan)
    or_lo = or_hi.copy()
    for k in np.unique(day_no):  # a loop over sessions, in test data only
        rows = np.flatnonzero(day_no == k)
        at = rows[minute[rows] == 14]
        if at.size:
            or_hi[rows[minute[rows] >= 14]] = hi[at[0]]
            or_lo[rows[minute[rows] >= 14]] = lo[at[0]]
    cols["or_high"] = _col(given.get("or_high", or_hi), n)
    cols["or_low"] = _col(given.get("or_low", or_lo), n)
    cols["supertrend"] = _col(
        given.get("supertrend", np.where(cols["supertrend_dir"] > 0, close - 30.0, close + 30.0)), n
    )
    cols["atm_strike"] = _col(given.get("atm_strike", np.round(close / 50.0) * 50.0), n)
    cols["straddle_premium"] = _col(given.get("straddle_premium", cols["atm_call"] + cols["atm_put"]), n)
    cols["max_pain"] = _col(given.get("max_pain", cols["atm_strike"]), n)
    cols["max_pain_distance"] = _col(given.get("max_pain_distance", close - cols["max_pain"]), n)
    cols["support"] = _col(given.get("support", cols["atm_strike"] - 300.0), n)
    cols["resistance"] = _col(given.get("resistance", cols["atm_strike"] + 300.0), n)
    cols["minutes_to_expiry"] = _col(given.get("minutes_to_expiry", cols["days_to_expiry"] * 1440.0), n)
    expiry = given.get("expiry")
    cols["expiry"] = (
        list(expiry) if np.ndim(expiry) else [expiry or (s + timedelta(days=2)) for s in sessions]
    )
    frame = pd.DataFrame({c: cols[c] for c in COLUMNS}, index=index)
    frame["minute"] = frame["minute"].astype("int64")
    return frame


def steps(n: int, *pieces: tuple[int, float]) -> np.ndarray:
    """An array of ``n`` values: each (row, value) sets the value from that row on."""
    out = np.full(n, np.nan)
    for row, value in sorted(pieces):
        out[row:] = value
    return out


def ramp(n: int, start: float, *, at: int, slope: float) -> np.ndarray:
    """``start`` until row ``at``, then rising by ``slope`` per bar."""
    out = np.full(n, float(start))
    out[at:] = start + slope * np.arange(1, n - at + 1)
    return out


def signals_at(out: pd.DataFrame) -> dict[int, str]:
    """Row position -> direction, for the rows that fired."""
    d = out["direction"].to_numpy()
    return {int(i): str(d[i]) for i in np.flatnonzero(d != "")}
