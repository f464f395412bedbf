"""Rules to contracts: an expiry rule to a date, a strike rule to a strike on a chain snapshot. Pure.

Expiry rules (``resolve_expiry``), on the session date ``on`` (an expiry is alive through its day):

* CURRENT_WEEK: the nearest listed expiry (``contracts.expiries(index, on)[0]``) - the week's weekly,
  or the monthly when that is the week's expiry;
* NEXT_WEEK: the listed expiry after it;
* CURRENT_MONTH: ``contracts.current_monthly`` - this month's monthly, or next month's once it passed;
* NEXT_MONTH: the monthly after CURRENT_MONTH.

Futures expire with the monthly options, so a FUT leg takes the same monthly dates. The weekly rules
raise ``ValueError`` for an index that lists no weekly contracts on ``on`` (BANKNIFTY, FINNIFTY and
MIDCPNIFTY since 2024-11-20): "the current week" of a monthly-only index would silently be a month.

Strikes are chosen among the strikes listed in the snapshot; ATM is the listed strike nearest to
``chain.atm_strike(spot, step)``. Ties go to the lower strike (as in ``trading.core.chain``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt

from trading.core import chain as chain_mod
from trading.core import contracts
from trading.core.combos.model import (
    ATM,
    CE,
    CURRENT_MONTH,
    CURRENT_WEEK,
    DELTA,
    EXACT,
    FUT,
    NEXT_MONTH,
    NEXT_WEEK,
    PE,
    PREMIUM,
    STRADDLE_WIDTH,
    ComboSpec,
    LegSpec,
    PricedLeg,
    StrikeRule,
)
from trading.core.options import greeks


def resolve_expiry(rule: str, index: str, on: date) -> date:
    """The expiry date (holiday-adjusted) that ``rule`` names for ``index`` on the session ``on``."""
    rule = str(rule).strip().upper()
    if rule == CURRENT_MONTH:
        return contracts.current_monthly(index, on)
    if rule == NEXT_MONTH:
        current = contracts.current_monthly(index, on)
        year, month = (current.year + 1, 1) if current.month == 12 else (current.year, current.month + 1)
        return contracts.monthly_expiry(index, year, month)
    if rule in (CURRENT_WEEK, NEXT_WEEK):
        listed = contracts.expiries(index, on)
        if contracts.weekly_expiry_weekday(index, listed[0]) is None:
            raise ValueError(
                f"{contracts.index_spec(index).name} lists no weekly expiries on {on.isoformat()}: "
                f"use {CURRENT_MONTH} or {NEXT_MONTH}"
            )
        return listed[0] if rule == CURRENT_WEEK else listed[1]
    raise ValueError(
        f"expiry rule {rule!r}: expected one of {CURRENT_WEEK}, {NEXT_WEEK}, {CURRENT_MONTH}, {NEXT_MONTH}"
    )


@dataclass(frozen=True, eq=False)
class ChainSnapshot:
    """One expiry's chain at one moment, as strike selection needs it.

    ``spot`` the index (rupees); ``step`` the strike interval (index points); arrays aligned with
    ``strikes`` (any order; NaN where unknown): ``call_ltp``/``put_ltp`` rupees per unit,
    ``call_delta``/``put_delta`` per rupee of spot (put deltas negative), ``call_iv``/``put_iv``
    fractions (0.15 = 15%). ``future_ltp`` the price of
    the future expiring on this date, if any (rupees).
    """

    spot: float
    step: float
    strikes: np.ndarray
    call_ltp: np.ndarray
    put_ltp: np.ndarray
    call_delta: np.ndarray | None = None
    put_delta: np.ndarray | None = None
    call_iv: np.ndarray | None = None
    put_iv: np.ndarray | None = None
    future_ltp: float | None = None

    def __post_init__(self) -> None:
        k = np.asarray(self.strikes, dtype=float).ravel()
        if k.size == 0:
            raise ValueError("the chain has no strikes")
        order = np.argsort(k, kind="stable")
        object.__setattr__(self, "strikes", k[order])
        for name in ("call_ltp", "put_ltp", "call_delta", "put_delta", "call_iv", "put_iv"):
            values = getattr(self, name)
            if values is None:
                continue
            arr = np.asarray(values, dtype=float).ravel()
            if arr.shape != k.shape:
                raise ValueError(f"{name} must have one value per strike")
            object.__setattr__(self, name, arr[order])
        if not (self.spot > 0 and self.step > 0):
            raise ValueError("spot and step must be positive")

    @classmethod
    def from_prices(
        cls,
        *,
        spot: float,
        step: float,
        strikes: npt.ArrayLike,
        call_ltp: npt.ArrayLike,
        put_ltp: npt.ArrayLike,
        call_iv: npt.ArrayLike | None = None,
        put_iv: npt.ArrayLike | None = None,
        t: float | None = None,
        r: float = 0.0,
        future_ltp: float | None = None,
    ) -> ChainSnapshot:
        """A snapshot whose deltas come from IVs (fractions) by ``options.greeks`` at ``t`` years and
        rate ``r`` (no deltas when the IVs or ``t`` are missing)."""
        call_delta = put_delta = None
        k = np.asarray(strikes, dtype=float)
        if t is not None and call_iv is not None:
            call_delta = greeks(np.asarray(call_iv, dtype=float), spot, k, t, r, True)["delta"]
        if t is not None and put_iv is not None:
            put_delta = greeks(np.asarray(put_iv, dtype=float), spot, k, t, r, False)["delta"]
        return cls(
            spot=spot,
            step=step,
            strikes=k,
            call_ltp=np.asarray(call_ltp, dtype=float),
            put_ltp=np.asarray(put_ltp, dtype=float),
            call_delta=call_delta,
            put_delta=put_delta,
            call_iv=None if call_iv is None else np.asarray(call_iv, dtype=float),
            put_iv=None if put_iv is None else np.asarray(put_iv, dtype=float),
            future_ltp=future_ltp,
        )

    def nearest_strike(self, level: float) -> float:
        """The listed strike nearest to ``level`` (ties to the lower)."""
        return float(self.strikes[int(np.argmin(np.abs(self.strikes - level)))])

    def atm(self) -> float:
        """The listed strike nearest the ATM grid strike ``chain.atm_strike(spot, step)``."""
        return self.nearest_strike(chain_mod.atm_strike(self.spot, self.step))

    def ltp(self, strike: float, option_type: str) -> float:
        """The LTP of one listed contract (rupees per unit); NaN if the strike is not listed."""
        return self._at(strike, self.call_ltp if option_type == CE else self.put_ltp)

    def iv(self, strike: float, option_type: str) -> float | None:
        """The IV (fraction) of one listed contract; None when the snapshot has no IVs or it is NaN."""
        values = self.call_iv if option_type == CE else self.put_iv
        v = math.nan if values is None else self._at(strike, values)
        return v if v > 0 else None

    def _at(self, strike: float, values: np.ndarray) -> float:
        hits = np.flatnonzero(self.strikes == strike)
        return float(values[hits[0]]) if hits.size else math.nan

    def straddle_premium(self) -> float:
        """CE LTP + PE LTP at the ATM strike (rupees per unit)."""
        k = self.atm()
        return self.ltp(k, CE) + self.ltp(k, PE)


def resolve_strike(rule: StrikeRule, option_type: str, chain: ChainSnapshot) -> float:
    """The listed strike (index points) that ``rule`` picks for ``option_type`` (CE/PE) on ``chain``.

    Raises ValueError when the rule cannot be met (no deltas, no prices, an exact strike not listed).
    """
    ot = str(option_type).strip().upper()
    if ot not in (CE, PE):
        raise ValueError(f"option type {option_type!r}: expected {CE} or {PE}")
    direction = 1 if ot == CE else -1
    if rule.kind == ATM:
        return chain.nearest_strike(chain.atm() + direction * rule.value * chain.step)
    if rule.kind == EXACT:
        if not np.any(chain.strikes == rule.value):
            raise ValueError(f"strike {rule.value:g} is not listed in the chain")
        return float(rule.value)
    if rule.kind == STRADDLE_WIDTH:
        straddle = chain.straddle_premium()
        if not straddle > 0:
            raise ValueError("the ATM straddle has no price")
        return chain.nearest_strike(chain.atm() + direction * rule.value * straddle)
    if rule.kind == PREMIUM:
        prices = chain.call_ltp if ot == CE else chain.put_ltp
        ok = np.isfinite(prices)
        if not ok.any():
            raise ValueError(f"no {ot} strike has a price")
        k, p = chain.strikes[ok], prices[ok]
        return float(k[int(np.argmin(np.abs(p - rule.value)))])
    if rule.kind == DELTA:
        deltas = chain.call_delta if ot == CE else chain.put_delta
        if deltas is None:
            raise ValueError("the chain has no deltas")
        return chain_mod.strike_by_delta(chain.strikes, deltas, direction * rule.value)
    raise ValueError(f"unknown strike rule {rule.kind!r}")  # pragma: no cover - StrikeRule validates


def resolve_leg(leg: LegSpec, *, index: str, on: date, chains: Mapping[date, ChainSnapshot]) -> PricedLeg:
    """The concrete leg ``leg`` names on ``on``: its expiry, strike and entry premium (the LTP in the
    snapshot of that expiry; the future's LTP for FUT) with the contract's lot size.

    ``chains`` maps expiry dates to snapshots; ValueError when the expiry's chain (or its price) is
    missing. The leg's entry IV is the snapshot's IV of that contract when it has one.
    """
    expiry = resolve_expiry(leg.expiry, index, on)
    snap = chains.get(expiry)
    if snap is None:
        raise ValueError(f"no chain for the {leg.expiry} expiry {expiry.isoformat()}")
    if leg.instrument == FUT:
        if snap.future_ltp is None or not snap.future_ltp > 0:
            raise ValueError(f"no future price for {expiry.isoformat()}")
        strike, premium, iv = None, float(snap.future_ltp), None
    else:
        strike = resolve_strike(leg.strike, leg.instrument, snap)
        premium = snap.ltp(strike, leg.instrument)
        if not premium >= 0:
            raise ValueError(f"{leg.instrument} {strike:g} of {expiry.isoformat()} has no price")
        iv = snap.iv(strike, leg.instrument)
    return PricedLeg(
        instrument=leg.instrument,
        side=leg.side,
        strike=strike,
        expiry=expiry,
        lots=leg.lots,
        premium=premium,
        lot_size=contracts.lot_size(index, expiry),
        iv=iv,
    )


def resolve_combo(
    spec: ComboSpec, *, on: date, chains: Mapping[date, ChainSnapshot]
) -> tuple[PricedLeg, ...]:
    """Every leg of ``spec`` resolved on ``on`` (see ``resolve_leg``), in the spec's order."""
    return tuple(resolve_leg(leg, index=spec.index, on=on, chains=chains) for leg in spec.legs)
