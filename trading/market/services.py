"""The market snapshot on the Django side: store the latest bar, read back the option chain.

``snapshot_store`` (a write) keeps one ``MarketSnapshot`` row per index, minute and source with every
expiry of the bar, in the shape the model documents ("per expiry: strikes and per-side fields")::

    chain = {"2025-10-07": {"strikes": [...],
                            "CE": {"ltp": [...], "bid": [...], "ask": [...], "oi": [...], "volume": [...], "iv": [...]},
                            "PE": {...}},
             "2025-10-28": {...}}

(NaN is stored as null.) ``latest_chain`` (a read) turns the latest row into what the chain page and
``GET /api/market/chain`` show: per strike and side LTP, bid/ask, OI, change in OI, volume, IV and
delta, with PCR, max pain, ATM, support/resistance and India VIX. It also reads the compact shape
``{"expiry": ..., "strikes": [...], "call_ltp": [...], ...}`` (one expiry, flat) in case a writer
stored that.
"""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
from django.db import transaction

from trading.choices import DataSource
from trading.core import calendar as market_calendar
from trading.core import chain as chain_math
from trading.core import contracts
from trading.core.bars import MarketBar
from trading.core.options import greeks, implied_vol, year_fraction
from trading.market.models import MarketSnapshot

SIDES = {"CE": "call", "PE": "put"}
QUOTE_FIELDS = ("ltp", "bid", "ask", "oi", "volume", "iv")
BAR = timedelta(minutes=1)


class ChainError(ValueError):
    """A chain that cannot be shown: ``status`` 400 (bad index or expiry) or 404 (no snapshot yet)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _clean(values: object) -> list[float | None]:
    out = []
    for v in np.asarray(values, dtype=float).tolist():
        out.append(None if not math.isfinite(v) else v)
    return out


def _arr(values: list | None, n: int) -> np.ndarray:
    if values is None:
        return np.full(n, np.nan)
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _nan_to_none(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


# --- the write ---------------------------------------------------------------------------------------


def _stored_chain(bar: MarketBar) -> dict[str, dict]:
    """Every expiry of ``bar`` in the stored shape (see the module docstring), finite strikes only."""
    chain: dict[str, dict] = {}
    for option_chain in sorted(bar.chains, key=lambda each: each.expiry):
        finite = np.isfinite(np.asarray(option_chain.strikes, dtype=float))
        entry: dict[str, object] = {"strikes": _clean(np.asarray(option_chain.strikes)[finite])}
        for side, name in SIDES.items():
            entry[side] = {
                f: _clean(np.asarray(getattr(option_chain, f"{name}_{f}"))[finite]) for f in QUOTE_FIELDS
            }
        chain[option_chain.expiry.isoformat()] = entry
    return chain


def _summary(bar: MarketBar, chain: dict[str, dict]) -> dict[str, float | None]:
    """PCR, max pain and ATM IV of the nearest expiry of the stored ``chain``, for the snapshot's own
    columns: the figures the chain page shows for that expiry."""
    nearest = min(chain, key=date.fromisoformat, default=None)
    strikes, sides = _expiry_arrays(chain[nearest]) if nearest else (np.empty(0), {})
    if strikes.size == 0:
        return {"pcr": None, "max_pain": None, "atm_iv": None}
    table = _side_table(
        strikes,
        sides,
        spot=bar.close,
        t=year_fraction(bar.time + BAR, date.fromisoformat(nearest)),
        r=contracts.risk_free_rate(market_calendar.ist_date(bar.time)),
    )
    figures = _chain_figures(strikes, table, bar.close)
    return {"pcr": figures["pcr_oi"], "max_pain": figures["max_pain"], "atm_iv": figures["atm_iv"]}


def snapshot_store(bar: MarketBar, source: str, *, keep_days: int | None = None) -> MarketSnapshot:
    """Store ``bar`` as the ``source``'s snapshot of its index at its minute (idempotent: the same
    index, minute and source is updated in place). ``keep_days``: also delete that index's snapshots
    older than that many days before the bar (a day is 375 rows of ~11 kB for 2 x 41 strikes)."""
    chain = _stored_chain(bar)
    summary = _summary(bar, chain)
    with transaction.atomic():
        snapshot, _ = MarketSnapshot.objects.update_or_create(
            index=bar.index.upper(),
            time=bar.time,
            source=source,
            defaults={"spot": float(bar.close), "vix": _nan_to_none(bar.vix), "chain": chain, **summary},
        )
        if keep_days is not None:
            MarketSnapshot.objects.filter(
                index=bar.index.upper(), time__lt=bar.time - timedelta(days=keep_days)
            ).delete()
    return snapshot


# --- the read ----------------------------------------------------------------------------------------


def _expiries_of(chain: dict) -> dict[date, dict]:
    """``{expiry: {"strikes": [...], "CE": {...}, "PE": {...}}}`` from either stored shape."""
    out: dict[date, dict] = {}
    if not isinstance(chain, dict):
        return out
    if "expiry" in chain and "strikes" in chain:  # the compact one-expiry shape
        try:
            expiry = date.fromisoformat(str(chain["expiry"]))
        except ValueError:
            return out
        out[expiry] = {
            "strikes": chain["strikes"],
            **{side: {f: chain.get(f"{name}_{f}") for f in QUOTE_FIELDS} for side, name in SIDES.items()},
        }
        return out
    for key, value in chain.items():
        try:
            e = date.fromisoformat(str(key))
        except ValueError:
            continue
        if isinstance(value, dict) and "strikes" in value:
            out[e] = value
    return out


def _side_table(
    strikes: np.ndarray, sides: dict[str, dict], *, spot: float, t: float, r: float
) -> dict[str, dict[str, np.ndarray]]:
    """Per side: the stored fields as arrays, IV (stored, else solved from the mid) and delta."""
    n = strikes.size
    out: dict[str, dict[str, np.ndarray]] = {}
    for side in SIDES:
        stored = sides.get(side) or {}
        cols = {f: np.asarray(stored.get(f, np.full(n, np.nan)), dtype=float) for f in QUOTE_FIELDS}
        bid, ask, ltp = cols["bid"], cols["ask"], cols["ltp"]
        quoted = (bid > 0) & (ask > 0) & (ask >= bid)
        mid = np.where(quoted, (bid + ask) / 2, ltp)
        mid = np.where(mid > 0, mid, np.nan)
        iv = cols["iv"].copy()
        missing = ~np.isfinite(iv) & np.isfinite(mid)
        if missing.any() and t > 0:
            iv[missing] = implied_vol(mid[missing], spot, strikes[missing], t, r, side == "CE")
        iv = np.where(np.isfinite(iv) & (iv > 0), iv, np.nan)
        delta = np.full(n, np.nan)
        ok = np.isfinite(iv)
        if ok.any() and t > 0:
            delta[ok] = greeks(iv[ok], spot, strikes[ok], t, r, side == "CE")["delta"]
        elif t <= 0:  # expired: delta is 1/0 in the money or not
            itm = (spot > strikes) if side == "CE" else (spot < strikes)
            delta = np.where(itm, 1.0 if side == "CE" else -1.0, 0.0)
        cols.update(iv=iv, delta=delta, mid=mid)
        out[side] = cols
    return out


def _atm_index(strikes: np.ndarray, spot: float) -> int:
    dist = np.abs(strikes - spot)
    return strikes.size - 1 - int(np.argmin(dist[::-1]))  # half-way goes up, as chain.atm_strike


def _atm_iv(strikes: np.ndarray, table: dict, spot: float) -> float:
    i = _atm_index(strikes, spot)
    ivs = [table[s]["iv"][i] for s in SIDES if math.isfinite(table[s]["iv"][i])]
    return float(np.mean(ivs)) if ivs else math.nan


def _index_name(index: str | None) -> str:
    try:
        return contracts.index_spec(index or "NIFTY").name
    except ValueError as exc:
        raise ChainError(str(exc)) from None


def parse_expiry(text: str | None) -> date | None:
    """``YYYY-MM-DD`` -> date; None/empty -> None; anything else -> ``ChainError`` (400)."""
    if text in (None, ""):
        return None
    try:
        return date.fromisoformat(str(text))
    except ValueError:
        raise ChainError(f"expiry must be a date YYYY-MM-DD, got {text!r}") from None


def latest_snapshot(index: str, *, source: str | None = None) -> MarketSnapshot | None:
    """The newest snapshot of ``index`` (of ``source`` when given)."""
    snapshots = MarketSnapshot.objects.filter(index=_index_name(index))
    if source:
        snapshots = snapshots.filter(source=source)
    return snapshots.order_by("-time").first()


def _baseline(snapshot: MarketSnapshot, expiry: date) -> tuple[MarketSnapshot | None, dict | None]:
    """What "change in OI" is measured against: the last snapshot of an earlier session (the
    previous close, as exchanges report it), else the first snapshot of this session."""
    session_open = market_calendar.session_open(market_calendar.ist_date(snapshot.time))
    same_feed = MarketSnapshot.objects.filter(index=snapshot.index, source=snapshot.source).only(
        "time", "chain"
    )
    for candidate in (
        same_feed.filter(time__lt=session_open).order_by("-time").first(),
        same_feed.filter(time__gte=session_open, time__lt=snapshot.time).order_by("time").first(),
    ):
        if candidate is not None:
            chain = _expiries_of(candidate.chain).get(expiry)
            if chain is not None:
                return candidate, chain
    return None, None


def latest_chain(index: str, expiry: date | str | None = None, *, source: str | None = None) -> dict:
    """The latest option chain of ``index`` for ``expiry`` (default: the nearest), as a JSON-ready dict.

    Raises ``ChainError``: 400 for an unknown index, a malformed expiry or one not in the latest
    chain (the message lists those available); 404 when there is no snapshot of the index yet.
    Prices in rupees, IV a fraction, delta per option; ``oi_change`` against ``oi_change_since``.
    """
    name = _index_name(index)
    wanted = parse_expiry(expiry) if isinstance(expiry, str) or expiry is None else expiry
    snapshot = _required_snapshot(name, source)
    chains = _expiries_of(snapshot.chain)
    expiry_date = _chosen_expiry(chains, wanted, snapshot)
    strikes, sides = _expiry_arrays(chains[expiry_date])
    years = year_fraction(snapshot.time + BAR, expiry_date)
    spot = float(snapshot.spot)
    table = _side_table(
        strikes,
        sides,
        spot=spot,
        t=years,
        r=contracts.risk_free_rate(market_calendar.ist_date(snapshot.time)),
    )
    baseline, baseline_oi = _baseline_oi(snapshot, expiry_date)
    return {
        "index": name,
        "source": snapshot.source,
        "time": snapshot.time.isoformat(),
        "as_of": (snapshot.time + BAR).isoformat(),
        "spot": spot,
        "vix": _nan_to_none(snapshot.vix),
        "expiry": expiry_date.isoformat(),
        "expiries": [e.isoformat() for e in sorted(chains)],
        "days_to_expiry": round(years * 365.0, 4),
        **_chain_figures(strikes, table, spot),
        "oi_change_since": baseline.time.isoformat() if baseline is not None else None,
        "strikes": _strike_rows(strikes, table, baseline_oi),
    }


def _required_snapshot(name: str, source: str | None) -> MarketSnapshot:
    """The latest snapshot of index ``name``; ``ChainError`` 404 when there is none, 400 for a
    source that is not one of ``DataSource``."""
    if source is not None and source.upper() not in DataSource.values:
        raise ChainError(f"unknown source {source!r}: expected one of {', '.join(DataSource.values)}")
    snapshot = latest_snapshot(name, source=source.upper() if source else None)
    if snapshot is None:
        raise ChainError(
            f"no market snapshot of {name} yet: is the trading loop or the feed running?", status=404
        )
    return snapshot


def _chosen_expiry(chains: dict[date, dict], wanted: date | None, snapshot: MarketSnapshot) -> date:
    """``wanted`` (the nearest when None) if the snapshot has its chain; else ``ChainError``: 404
    for a snapshot without any chain, 400 naming the expiries there are."""
    available = sorted(chains)
    if not available:
        raise ChainError(f"the latest {snapshot.index} snapshot has no option chain", status=404)
    if wanted is None:
        return available[0]
    if wanted not in chains:
        when = snapshot.time.astimezone(market_calendar.IST)
        raise ChainError(
            f"expiry {wanted.isoformat()} is not in the latest {snapshot.index} chain "
            f"({when:%Y-%m-%d %H:%M} IST); available: {', '.join(e.isoformat() for e in available)}"
        )
    return wanted


def _expiry_arrays(stored: dict) -> tuple[np.ndarray, dict[str, dict[str, np.ndarray]]]:
    """One expiry's stored chain as arrays: the finite strikes, and per side each quote field on them."""
    strikes = _arr(stored.get("strikes"), len(stored.get("strikes") or []))
    keep = np.isfinite(strikes)
    sides = {
        side: {f: _arr((stored.get(side) or {}).get(f), keep.size)[keep] for f in QUOTE_FIELDS}
        for side in SIDES
    }
    return strikes[keep], sides


def _baseline_oi(snapshot: MarketSnapshot, expiry: date) -> tuple[MarketSnapshot | None, dict]:
    """The snapshot "change in OI" is measured against (see ``_baseline``) and its open interest per
    side and strike (``{"CE": {strike: oi}, "PE": {...}}``, empty without a baseline)."""
    baseline, stored = _baseline(snapshot, expiry)
    oi: dict[str, dict[float, float]] = {side: {} for side in SIDES}
    if stored is None:
        return baseline, oi
    strikes = _arr(stored.get("strikes"), len(stored.get("strikes") or []))
    for side in SIDES:
        values = _arr((stored.get(side) or {}).get("oi"), strikes.size)
        oi[side] = {
            float(strike): float(value)
            for strike, value in zip(strikes, values)
            if math.isfinite(strike) and math.isfinite(value)
        }
    return baseline, oi


def _strike_rows(strikes: np.ndarray, table: dict, baseline_oi: dict) -> list[dict]:
    """Per strike: the call's and the put's quote, OI and its change, volume, IV and delta."""
    rows = []
    for j, strike in enumerate(strikes.tolist()):
        row: dict[str, object] = {"strike": strike}
        for side, label in SIDES.items():
            cols = table[side]
            oi = cols["oi"][j]
            before = baseline_oi[side].get(strike)
            row[label] = {
                "ltp": _nan_to_none(cols["ltp"][j]),
                "bid": _nan_to_none(cols["bid"][j]),
                "ask": _nan_to_none(cols["ask"][j]),
                "oi": _nan_to_none(oi),
                "oi_change": _nan_to_none(oi - before) if before is not None else None,
                "volume": _nan_to_none(cols["volume"][j]),
                "iv": _nan_to_none(cols["iv"][j]),
                "delta": _nan_to_none(cols["delta"][j]),
            }
        rows.append(row)
    return rows


def _chain_figures(strikes: np.ndarray, table: dict, spot: float) -> dict[str, float | None]:
    """The chain's summary: ATM strike and IV, PCR by OI and volume, max pain, support/resistance and
    the total OI of each side."""
    call_oi, put_oi = table["CE"]["oi"], table["PE"]["oi"]
    quoted = bool(strikes.size)
    support, resistance = chain_math.support_resistance(strikes, call_oi, put_oi) if quoted else (None, None)
    return {
        "atm_strike": float(strikes[_atm_index(strikes, spot)]) if quoted else None,
        "atm_iv": _nan_to_none(_atm_iv(strikes, table, spot)) if quoted else None,
        "pcr_oi": _nan_to_none(chain_math.pcr(put_oi, call_oi)),
        "pcr_volume": _nan_to_none(chain_math.pcr(table["PE"]["volume"], table["CE"]["volume"])),
        "max_pain": _nan_to_none(chain_math.max_pain(strikes, call_oi, put_oi)),
        "support": _nan_to_none(support),
        "resistance": _nan_to_none(resistance),
        "call_oi_total": float(np.nansum(call_oi)),
        "put_oi_total": float(np.nansum(put_oi)),
    }
