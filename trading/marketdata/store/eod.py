"""End-of-day chain analytics from the store's bhavcopy chains (DOMAIN.md sections 3 and 4).

For one index and session:

* the **expiry** looked at is the nearest on or after the session (the expiry day itself included);
* **spot** and its source, in order: the bhavcopy's own underlying close (UDiFF ``UndrlygPric``,
  ``"bhavcopy"``), an imported index-close CSV (``"index_close"``), else the put-call-parity forward at
  the ATM strike (``"parity"``): the strike where |C - P| of the settlement prices is smallest,
  ``F = K + e^{rT} (C - P)`` (``chain.synthetic_forward``) and spot ``F e^{-rT}`` - the spot the
  project's Black-Scholes model (q = 0) prices those options at;
* ``pcr`` = put OI / call OI of that expiry (``chain.pcr``), ``max_pain`` (``chain.max_pain``);
* ``atm_strike`` = the listed strike nearest to spot (half-way goes up, as the feature frame does);
  ``atm_iv`` = the mean of the ATM call and put IV solved from their **settlement** prices
  (``options.implied_vol``, r = ``contracts.risk_free_rate``, t from the session's 15:30 IST close to
  the expiry's); NaN on the expiry day itself (no time left) or when no price gives an IV.

``daily_history`` adds, per session, the IV rank and IV percentile of the closing ATM IV against the
sessions before it (the feature frame's rule: the last ``IV_WINDOW`` known values, none before
``IV_HISTORY_MIN``, rank clipped to 0..100) - there the ATM IV is taken from the nearest expiry
*after* the session, so that an expiry day still has one. ``iv_history`` is that closing ATM IV as the
``iv_history`` Series ``core.features.feature_frame`` takes. Pure pandas/numpy: no Django.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import date

import numpy as np
import pandas as pd

from trading.core import calendar as market_calendar
from trading.core import chain, contracts, options
from trading.core.features import IV_HISTORY_MIN, IV_WINDOW
from trading.marketdata.store.store import MarketDataStore

__all__ = [
    "EodSummary",
    "NoEodData",
    "daily_history",
    "eod_summary",
    "iv_history",
    "iv_rank_percentile",
    "summarise_chain",
]

SPOT_SOURCES = ("bhavcopy", "index_close", "parity")


class NoEodData(LookupError):
    """The store has no end-of-day chain for that index and session (or no expiry on or after it)."""


@dataclass
class EodSummary:
    """Chain analytics of one session and expiry (prices in rupees, IV a fraction, OI in units)."""

    index: str
    date: date
    expiry: date
    spot: float
    spot_source: str
    forward: float
    rate: float
    years: float
    atm_strike: float
    atm_iv: float
    pcr: float
    max_pain: float
    call_oi: float
    put_oi: float
    strikes: int

    def as_json(self) -> dict:
        """JSON-ready dict: dates as ISO text, NaN as None."""
        out = {}
        for key, value in asdict(self).items():
            if isinstance(value, date):
                value = value.isoformat()
            elif isinstance(value, float) and not math.isfinite(value):
                value = None
            out[key] = value
        return out


def _sides(chain_rows: pd.DataFrame) -> pd.DataFrame:
    """One row per strike: call/put settle and OI (NaN for a side the file does not list)."""
    wide = chain_rows.pivot_table(
        index="strike", columns="option_type", values=["settle", "oi"], aggfunc="first", dropna=False
    )
    out = pd.DataFrame(index=wide.index)
    for field in ("settle", "oi"):
        for ot, side in (("CE", "call"), ("PE", "put")):
            out[f"{side}_{field}"] = wide[(field, ot)] if (field, ot) in wide.columns else np.nan
    return out.sort_index()


def _parity(sides: pd.DataFrame, rate: float, years: float) -> tuple[float, float]:
    """(spot, forward) from put-call parity at the strike where |C - P| is smallest; NaN if none."""
    both = sides[(sides["call_settle"] > 0) & (sides["put_settle"] > 0)]
    if both.empty:
        return math.nan, math.nan
    gap = (both["call_settle"] - both["put_settle"]).abs().to_numpy()
    i = int(np.argmin(gap))  # ties: the lower strike (sorted ascending)
    k = float(both.index[i])
    forward = float(
        chain.synthetic_forward(k, both["call_settle"].iat[i], both["put_settle"].iat[i], rate, years)
    )
    return forward * math.exp(-rate * years), forward


def _nearest_listed(strikes: np.ndarray, spot: float) -> float:
    """The listed strike nearest ``spot``; half-way goes to the upper one."""
    k = np.sort(strikes)
    dist = np.abs(k - spot)
    return float(k[k.size - 1 - int(np.argmin(dist[::-1]))])


def _atm_iv(sides: pd.DataFrame, atm: float, spot: float, years: float, rate: float) -> float:
    if years <= 0 or not math.isfinite(spot):
        return math.nan
    row = sides.loc[atm]
    ivs = []
    for side, is_call in (("call", True), ("put", False)):
        price = float(row[f"{side}_settle"])
        if math.isfinite(price) and price > 0:
            iv = float(options.implied_vol(price, spot, atm, years, rate, is_call))
            if math.isfinite(iv):
                ivs.append(iv)
    return float(np.mean(ivs)) if ivs else math.nan


def _index_close(store: MarketDataStore, index: str, session: date) -> float:
    daily = store.read("index_daily", index, session, session)
    return float(daily["close"].iat[0]) if len(daily) else math.nan


def summarise_chain(
    index: str,
    session: date,
    rows: pd.DataFrame,
    expiry: date,
    *,
    index_close: float = math.nan,
) -> EodSummary:
    """Analytics of the ``chain_eod`` rows of one expiry (see the module docstring for every choice)."""
    rows = rows[rows["expiry"] == expiry]
    if rows.empty:
        raise NoEodData(f"no {index} options expiring {expiry} on {session}")
    rate = contracts.risk_free_rate(session)
    years = options.year_fraction(market_calendar.session_close(session), expiry)
    sides = _sides(rows)
    underlying = rows["underlying"].to_numpy(dtype=float)
    underlying = underlying[np.isfinite(underlying) & (underlying > 0)]
    parity_spot, forward = _parity(sides, rate, years)
    if underlying.size:
        spot, source = float(underlying[0]), "bhavcopy"
    elif math.isfinite(index_close):
        spot, source = index_close, "index_close"
    else:
        spot, source = parity_spot, "parity"
    if not math.isfinite(forward) and math.isfinite(spot):
        forward = spot * math.exp(rate * years)
    strikes = sides.index.to_numpy(dtype=float)
    atm = _nearest_listed(strikes, spot) if math.isfinite(spot) else math.nan
    return EodSummary(
        index=index,
        date=session,
        expiry=expiry,
        spot=spot,
        spot_source=source,
        forward=forward,
        rate=rate,
        years=years,
        atm_strike=atm,
        atm_iv=_atm_iv(sides, atm, spot, years, rate) if math.isfinite(atm) else math.nan,
        pcr=chain.pcr(sides["put_oi"], sides["call_oi"]),
        max_pain=chain.max_pain(strikes, sides["call_oi"], sides["put_oi"]),
        call_oi=float(np.nansum(sides["call_oi"])),
        put_oi=float(np.nansum(sides["put_oi"])),
        strikes=int(strikes.size),
    )


def _pick_expiry(name: str, session: date, rows: pd.DataFrame, after: bool) -> date:
    expiries = sorted(e for e in set(rows["expiry"]) if (e > session if after else e >= session))
    if not expiries:
        raise NoEodData(f"no {name} expiry {'after' if after else 'on or after'} {session} in the store")
    return expiries[0]


def _session_rows(store: MarketDataStore, name: str, session: date) -> pd.DataFrame:
    rows = store.read_partition("chain_eod", name, session)
    if rows is None or rows.empty:
        raise NoEodData(f"the store has no end-of-day {name} chain for {session}: import that day's bhavcopy")
    return rows


def eod_summary(store: MarketDataStore, index: str, session: date, *, after: bool = False) -> EodSummary:
    """Analytics of ``index``'s chain on ``session`` for its nearest expiry on (or, ``after``, past) it."""
    name = contracts.index_spec(index).name
    rows = _session_rows(store, name, session)
    expiry = _pick_expiry(name, session, rows, after)
    return summarise_chain(name, session, rows, expiry, index_close=_index_close(store, name, session))


def iv_rank_percentile(atm_iv: pd.Series) -> pd.DataFrame:
    """IV rank and percentile (percent) of each session's ATM IV against the sessions before it.

    The window is the last ``IV_WINDOW`` finite values strictly before the session; NaN with fewer than
    ``IV_HISTORY_MIN`` of them. Rank = (iv - low)/(high - low) x 100 clipped to 0..100
    (``chain.iv_rank``); percentile = share of the window strictly below (``chain.iv_percentile``).
    """
    values = atm_iv.to_numpy(dtype=float)
    rank = np.full(values.size, np.nan)
    pct = np.full(values.size, np.nan)
    known: list[float] = []
    for i, iv in enumerate(values):
        window = np.asarray(known[-IV_WINDOW:])
        if window.size >= IV_HISTORY_MIN and math.isfinite(iv):
            r = chain.iv_rank(iv, window)
            rank[i] = min(max(r, 0.0), 100.0) if math.isfinite(r) else math.nan
            pct[i] = chain.iv_percentile(iv, window)
        if math.isfinite(iv):
            known.append(float(iv))
    return pd.DataFrame({"iv_rank": rank, "iv_percentile": pct}, index=atm_iv.index)


def daily_history(
    store: MarketDataStore, index: str, start: date | None = None, end: date | None = None
) -> pd.DataFrame:
    """One row per stored session of ``index`` (``start..end``), indexed by date.

    Columns: ``expiry``, ``spot``, ``spot_source``, ``pcr``, ``max_pain``, ``atm_strike`` (nearest
    expiry on or after the session) and ``iv_expiry``, ``atm_iv``, ``iv_rank``, ``iv_percentile`` (the
    nearest expiry after it). Rank and percentile use every stored session before ``start`` too.
    """
    name = contracts.index_spec(index).name
    rows = []
    closes = store.read("index_daily", name, None, end)
    close_by_day = dict(zip(closes["date"], closes["close"], strict=True))
    for session in store.sessions("chain_eod", name, None, end):
        try:
            day_rows = _session_rows(store, name, session)
            close = float(close_by_day.get(session, math.nan))
            near = summarise_chain(
                name, session, day_rows, _pick_expiry(name, session, day_rows, False), index_close=close
            )
        except NoEodData:
            continue
        try:
            expiry = _pick_expiry(name, session, day_rows, True)
            nxt = summarise_chain(name, session, day_rows, expiry, index_close=close)
            iv_expiry, atm_iv = nxt.expiry, nxt.atm_iv
        except NoEodData:
            iv_expiry, atm_iv = None, math.nan
        rows.append(
            {
                "date": session,
                "expiry": near.expiry,
                "spot": near.spot,
                "spot_source": near.spot_source,
                "pcr": near.pcr,
                "max_pain": near.max_pain,
                "atm_strike": near.atm_strike,
                "iv_expiry": iv_expiry,
                "atm_iv": atm_iv,
            }
        )
    columns = ["expiry", "spot", "spot_source", "pcr", "max_pain", "atm_strike", "iv_expiry", "atm_iv"]
    if not rows:
        return pd.DataFrame(columns=[*columns, "iv_rank", "iv_percentile"], index=pd.Index([], name="date"))
    frame = pd.DataFrame(rows).set_index("date")[columns]
    frame = frame.join(iv_rank_percentile(frame["atm_iv"]))
    if start is not None:
        frame = frame[frame.index >= start]
    return frame


def iv_history(store: MarketDataStore, index: str, before: date, sessions: int = IV_WINDOW) -> pd.Series:
    """Closing ATM IV (fraction) of the last ``sessions`` stored sessions before ``before``, by date.

    The ``iv_history`` argument of ``core.features.feature_frame`` / ``FeatureBuilder``: IV rank and
    percentile from the first bar of a backtest on the real history.
    """
    hist = daily_history(store, index, end=before)
    hist = hist[hist.index < before]["atm_iv"].dropna()
    return hist.iloc[-sessions:].astype(float).rename("atm_iv")
