"""Greeks P&L attribution of option trades: why a trade made or lost money (pure, no Django).

A trade's gross P&L is split by a second-order Taylor expansion of the option price around the entry
snapshot (spot ``S0``, implied vol ``IV0`` and the entry Greeks), to the exit snapshot (``S1``, ``IV1``)
after ``days_held`` calendar days::

    sign x quantity x (  delta x dS                  delta:    dS = S1 - S0, rupees of spot
                       + 0.5 x gamma x dS^2          gamma
                       + theta x days_held           theta:    rupees per calendar day
                       + vega x dIV_points )         vega:     rupees per vol point,
                                                               dIV_points = (IV1 - IV0) x 100
    residual = gross P&L - (delta + gamma + theta + vega)

``sign`` is +1 for a LONG trade (bought first) and -1 for a SHORT one; ``quantity`` is units
(lots x lot size). The Greeks are those of ONE LONG option at entry in the units of
``trading.core.options.greeks`` (what the engine stores on the trade): delta per rupee of spot, gamma per
rupee of spot, theta per calendar day (-dV/dt / 365, so ``days_held`` counts calendar days - nights and
weekends included - as the model's clock does), vega per 1 vol point (dV/dvol / 100, so the IV change is
taken in points: IV is stored as a fraction, 0.15 = 15%). ``days_held = (exit - entry) seconds / 86400``.

The residual holds what the four terms leave out: the cross and higher-order terms (vanna dS dIV, charm
dS dt, volga dIV^2, the change of theta over the hold, dS^3...) and any difference between the fill
prices and the model (spread, slippage). It is second order: halve dS, dIV and the time together and
delta, theta and vega halve while the residual falls by about 4 (tests/analytics/test_attribution.py
reprices NIFTY-like options in full: within 3% of the gross at a 180-point, 2-vol-point, one-day move).
The exit snapshot's Greeks are not used: the expansion is around the entry, where the risk was taken.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np

__all__ = [
    "COMPONENTS",
    "Attribution",
    "side_sign",
    "days_held",
    "attribute",
    "attribute_many",
    "aggregate",
    "attribute_trade",
    "stored_parts",
]

COMPONENTS = ("delta", "gamma", "theta", "vega", "residual")
_SIGNS = {"LONG": 1.0, "SHORT": -1.0}


def side_sign(side: str | int | float) -> float:
    """+1.0 for LONG (bought first), -1.0 for SHORT (sold first); +1/-1 pass through."""
    if isinstance(side, str):
        try:
            return _SIGNS[side.upper()]
        except KeyError:
            raise ValueError(f"unknown side {side!r}: expected LONG or SHORT") from None
    if side in (1, -1):
        return float(side)
    raise ValueError(f"unknown side {side!r}: expected LONG, SHORT, +1 or -1")


def days_held(entry_time: datetime, exit_time: datetime) -> float:
    """Calendar days from entry to exit (fractional, nights and weekends included): the theta clock."""
    for t in (entry_time, exit_time):
        if t.tzinfo is None or t.utcoffset() is None:
            raise ValueError(f"naive datetime {t!r}: pass aware datetimes")
    return (exit_time - entry_time).total_seconds() / 86400.0


@dataclass(frozen=True)
class Attribution:
    """A trade's gross P&L in rupees and its parts: ``gross = delta + gamma + theta + vega + residual``."""

    gross: float
    delta: float
    gamma: float
    theta: float
    vega: float
    residual: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def attribute(
    *,
    gross_pnl: float,
    side: str | int | float,
    quantity: float,
    spot_entry: float,
    spot_exit: float,
    iv_entry: float,
    iv_exit: float,
    delta: float,
    gamma: float,
    theta: float,
    vega: float,
    days: float,
) -> Attribution | None:
    """The attribution of one trade (module docstring: formulas and units); None when an input is missing
    (None or NaN: a trade recorded without its market snapshot cannot be attributed).

    ``gross_pnl`` rupees for the whole quantity; ``iv_entry``/``iv_exit`` fractions; Greeks of one long
    option at entry; ``days`` calendar days held (``days_held``).
    """
    values = (gross_pnl, quantity, spot_entry, spot_exit, iv_entry, iv_exit, delta, gamma, theta, vega, days)
    if any(v is None or not math.isfinite(float(v)) for v in values):
        return None
    k = side_sign(side) * float(quantity)
    ds = float(spot_exit) - float(spot_entry)
    d = k * float(delta) * ds
    g = k * 0.5 * float(gamma) * ds * ds
    t = k * float(theta) * float(days)
    v = k * float(vega) * (float(iv_exit) - float(iv_entry)) * 100.0
    gross = float(gross_pnl)
    return Attribution(gross=gross, delta=d, gamma=g, theta=t, vega=v, residual=gross - (d + g + t + v))


def attribute_trade(trade: Mapping[str, Any]) -> Attribution | None:
    """``attribute`` of a journal trade given by its field names (``gross_pnl``, ``side``, ``quantity``,
    ``spot_price_entry``/``_exit``, ``iv_entry``/``_exit``, ``delta_entry``, ``gamma_entry``,
    ``theta_entry``, ``vega_entry``, aware ``entry_time``/``exit_time``); None without the snapshots."""
    return attribute(
        gross_pnl=trade.get("gross_pnl"),
        side=trade.get("side") or "LONG",
        quantity=trade.get("quantity"),
        spot_entry=trade.get("spot_price_entry"),
        spot_exit=trade.get("spot_price_exit"),
        iv_entry=trade.get("iv_entry"),
        iv_exit=trade.get("iv_exit"),
        delta=trade.get("delta_entry"),
        gamma=trade.get("gamma_entry"),
        theta=trade.get("theta_entry"),
        vega=trade.get("vega_entry"),
        days=days_held(trade["entry_time"], trade["exit_time"]),
    )


PAISA = Decimal("0.01")
STORED_LIMIT = 1e11  # rupees: what a money column of 14 digits, 2 places holds


def stored_parts(parts: Attribution | None) -> dict[str, Decimal | None]:
    """The parts as a trade stores them: ``{"delta_pnl": Decimal, ...}`` to the paisa (half up); every
    part None without an attribution or when one would not fit its column (a snapshot far outside any
    market). The stored residual is the rounded one, so the stored parts need not add to the paisa."""
    names = [f"{c}_pnl" for c in COMPONENTS]
    if parts is None:
        return dict.fromkeys(names)
    values = [getattr(parts, c) for c in COMPONENTS]
    if not all(abs(v) < STORED_LIMIT for v in values):
        return dict.fromkeys(names)
    return {n: Decimal(repr(v)).quantize(PAISA, ROUND_HALF_UP) for n, v in zip(names, values, strict=True)}


def attribute_many(
    *,
    gross_pnl: Any,
    sign: Any,
    quantity: Any,
    spot_entry: Any,
    spot_exit: Any,
    iv_entry: Any,
    iv_exit: Any,
    delta: Any,
    gamma: Any,
    theta: Any,
    vega: Any,
    days: Any,
) -> dict[str, np.ndarray]:
    """``attribute`` over arrays (numpy broadcasting): a dict of float arrays ``gross``, ``delta``,
    ``gamma``, ``theta``, ``vega``, ``residual``. ``sign``: +1 LONG / -1 SHORT per trade (``side_sign``).
    A trade with any input NaN has NaN in every part but ``gross``."""
    f = {
        name: np.asarray(value, dtype=float)
        for name, value in (
            ("gross", gross_pnl),
            ("sign", sign),
            ("quantity", quantity),
            ("s0", spot_entry),
            ("s1", spot_exit),
            ("iv0", iv_entry),
            ("iv1", iv_exit),
            ("delta", delta),
            ("gamma", gamma),
            ("theta", theta),
            ("vega", vega),
            ("days", days),
        )
    }
    shape = np.broadcast_shapes(*(a.shape for a in f.values()))
    f = {name: np.broadcast_to(a, shape) for name, a in f.items()}
    ok = np.ones(shape, dtype=bool)
    for a in f.values():
        ok &= np.isfinite(a)
    k = f["sign"] * f["quantity"]
    ds = f["s1"] - f["s0"]
    parts = {
        "delta": k * f["delta"] * ds,
        "gamma": k * 0.5 * f["gamma"] * ds * ds,
        "theta": k * f["theta"] * f["days"],
        "vega": k * f["vega"] * (f["iv1"] - f["iv0"]) * 100.0,
    }
    parts = {name: np.where(ok, a, np.nan) for name, a in parts.items()}
    parts["residual"] = np.where(
        ok, f["gross"] - (parts["delta"] + parts["gamma"] + parts["theta"] + parts["vega"]), np.nan
    )
    return {"gross": np.array(f["gross"], dtype=float), **parts}


def aggregate(groups: Iterable[Hashable], parts: Mapping[str, Any]) -> dict[Hashable, dict[str, float | int]]:
    """Sums of the attribution per group (strategy, month...): for each group ``trades``, ``attributed``
    (trades with a snapshot), ``gross`` (of all its trades), ``gross_attributed`` and the five parts
    summed over the attributed trades (so ``gross_attributed = delta + gamma + theta + vega + residual``).

    ``groups``: one key per trade; ``parts``: ``attribute_many``'s dict. Groups in first-seen order.
    """
    keys = list(groups)
    gross = np.asarray(parts["gross"], dtype=float).reshape(-1)
    cols = {name: np.asarray(parts[name], dtype=float).reshape(-1) for name in COMPONENTS}
    if len(keys) != gross.size:
        raise ValueError(f"{len(keys)} group keys for {gross.size} trades")
    ok = np.isfinite(cols["delta"])
    index: dict[Hashable, list[int]] = {}
    for i, key in enumerate(keys):
        index.setdefault(key, []).append(i)
    out: dict[Hashable, dict[str, float | int]] = {}
    for key, rows in index.items():
        idx = np.array(rows)
        good = idx[ok[idx]]
        row: dict[str, float | int] = {
            "trades": int(idx.size),
            "attributed": int(good.size),
            "gross": math.fsum(gross[idx]),
            "gross_attributed": math.fsum(gross[good]),
        }
        for name in COMPONENTS:
            row[name] = math.fsum(cols[name][good])
        out[key] = row
    return out
