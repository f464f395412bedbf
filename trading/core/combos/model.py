"""The multi-leg model: leg and combo specifications (rules) and concrete, priced legs. Pure.

Two levels, kept apart on purpose:

* ``LegSpec`` / ``ComboSpec`` describe a strategy **by rules** - "sell the CE of the current week,
  two strikes out of the money, stop at 30%". They are what a strategy configuration stores and what
  the templates build. ``trading.core.combos.resolve`` turns them into concrete legs on a chain.
* ``PricedLeg`` is one concrete leg - type, side, strike, expiry, lots, entry premium, lot size -
  what the payoff, margin and settlement functions take (and what ``POST /api/builder/payoff``
  sends).

Units used throughout the package:

* premiums, strikes, spot and futures prices: rupees per unit (= index points), floats;
* ``lots`` whole lots; a leg's ``quantity`` is ``lots x lot_size`` units, the lot size being that of
  the leg's contract (``contracts.lot_size(index, expiry)``);
* per-leg thresholds (``Threshold``) in premium points or as a **fraction** of the reference premium
  (0.30 = 30%, the convention of ``trading.core.risk``);
* combo-level amounts (stop, target, lock-and-trail) in rupees for the whole combo, ``Decimal``;
* times of day are IST wall-clock ``datetime.time`` values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, time
from decimal import Decimal

from trading.core import contracts, risk

CE = contracts.CALL
PE = contracts.PUT
FUT = "FUT"
INSTRUMENTS = (CE, PE, FUT)

BUY = "BUY"
SELL = "SELL"
SIDES = (BUY, SELL)

# Expiry rules. Options take any of the four, futures only the monthly two (there is no weekly future).
CURRENT_WEEK = "CURRENT_WEEK"
NEXT_WEEK = "NEXT_WEEK"
CURRENT_MONTH = "CURRENT_MONTH"
NEXT_MONTH = "NEXT_MONTH"
OPTION_EXPIRY_RULES = (CURRENT_WEEK, NEXT_WEEK, CURRENT_MONTH, NEXT_MONTH)
FUTURE_EXPIRY_RULES = (CURRENT_MONTH, NEXT_MONTH)

# Strike rules (see ``StrikeRule``).
ATM = "ATM"
PREMIUM = "PREMIUM"
DELTA = "DELTA"
STRADDLE_WIDTH = "STRADDLE_WIDTH"
EXACT = "EXACT"
STRIKE_RULES = (ATM, PREMIUM, DELTA, STRADDLE_WIDTH, EXACT)

# Threshold units.
POINTS = "POINTS"
PERCENT = "PERCENT"
THRESHOLD_UNITS = (POINTS, PERCENT)

UP = "UP"
DOWN = "DOWN"

MIS = "MIS"
NRML = "NRML"
PRODUCTS = (MIS, NRML)


def _finite(name: str, value: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, not {value!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, not {value!r}")
    return v


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    v = str(value).strip().upper()
    if v not in allowed:
        raise ValueError(f"{name} {value!r}: expected one of {', '.join(allowed)}")
    return v


def _whole(name: str, value: int, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, not {value!r}")
    return value


def _rupees(name: str, value: Decimal | int | str | None, *, positive: bool = True) -> Decimal | None:
    if value is None:
        return None
    d = value if isinstance(value, Decimal) else Decimal(str(value))
    if not d.is_finite() or (positive and d <= 0):
        raise ValueError(f"{name} must be a positive amount of rupees, not {value!r}")
    return d


# --- per-leg rules ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Threshold:
    """A distance in premium terms: ``value`` points (rupees per unit) or a fraction of a premium.

    ``unit`` POINTS: ``value`` rupees per unit. PERCENT: ``value`` is a fraction (0.30 = 30%) of the
    reference premium (the entry premium for stops and targets, the best premium for a trail).
    """

    value: float
    unit: str = POINTS

    def __post_init__(self) -> None:
        object.__setattr__(self, "unit", _choice("threshold unit", self.unit, THRESHOLD_UNITS))
        v = _finite("threshold", self.value)
        if v <= 0:
            raise ValueError(f"threshold must be positive, not {self.value!r}")
        object.__setattr__(self, "value", v)

    @classmethod
    def points(cls, value: float) -> Threshold:
        """``value`` rupees of premium per unit."""
        return cls(value, POINTS)

    @classmethod
    def fraction(cls, value: float) -> Threshold:
        """``value`` as a fraction of the reference premium (0.30 = 30%)."""
        return cls(value, PERCENT)

    def amount(self, reference: float) -> float:
        """The distance in rupees per unit for a ``reference`` premium (rupees per unit)."""
        return self.value if self.unit == POINTS else self.value * float(reference)


@dataclass(frozen=True)
class Momentum:
    """Momentum entry: enter once the premium has moved ``threshold`` ``direction`` (UP or DOWN)
    from its price when the entry time came."""

    threshold: Threshold
    direction: str = UP

    def __post_init__(self) -> None:
        object.__setattr__(self, "direction", _choice("momentum direction", self.direction, (UP, DOWN)))


@dataclass(frozen=True)
class ReEntry:
    """Re-enter a leg after its stop (``after_stop``; a trailing stop counts) and/or its target
    (``after_target``), at most ``max_times`` times. Never after a time exit, square-off or expiry."""

    max_times: int = 1
    after_stop: bool = True
    after_target: bool = False

    def __post_init__(self) -> None:
        _whole("re-entry max_times", self.max_times, 1)
        if not (self.after_stop or self.after_target):
            raise ValueError("a re-entry needs after_stop or after_target")


@dataclass(frozen=True)
class StrikeRule:
    """How a leg's strike is chosen on a chain (``resolve.resolve_strike``).

    ``kind`` and ``value``:

    * ATM: ``value`` whole strike steps **out of the money** from the ATM strike (CE up, PE down;
      negative goes in the money) - the convention of ``chain.select_strike``;
    * PREMIUM: the strike whose premium (LTP) is closest to ``value`` rupees;
    * DELTA: the strike whose |delta| is closest to ``value`` (0 < value < 1, e.g. 0.25);
    * STRADDLE_WIDTH: ATM +- ``value`` x the ATM straddle premium (CE LTP + PE LTP at the ATM
      strike), out of the money (CE above, PE below; negative goes in the money), then the nearest
      listed strike;
    * EXACT: the strike ``value`` itself.
    """

    kind: str = ATM
    value: float = 0

    def __post_init__(self) -> None:
        kind = _choice("strike rule", self.kind, STRIKE_RULES)
        object.__setattr__(self, "kind", kind)
        v = _finite(f"{kind} strike rule value", self.value)
        if kind == ATM and v != int(v):
            raise ValueError(f"ATM offset must be a whole number of strike steps, not {self.value!r}")
        if kind == PREMIUM and v <= 0:
            raise ValueError(f"premium target must be positive rupees, not {self.value!r}")
        if kind == DELTA and not 0 < abs(v) < 1:
            raise ValueError(f"delta target must be between 0 and 1 in size, not {self.value!r}")
        if kind == EXACT and v <= 0:
            raise ValueError(f"exact strike must be positive, not {self.value!r}")
        object.__setattr__(self, "value", int(v) if kind == ATM else (abs(v) if kind == DELTA else v))

    @classmethod
    def atm(cls, steps_otm: int = 0) -> StrikeRule:
        return cls(ATM, steps_otm)

    @classmethod
    def premium(cls, rupees: float) -> StrikeRule:
        return cls(PREMIUM, rupees)

    @classmethod
    def delta(cls, target: float) -> StrikeRule:
        return cls(DELTA, target)

    @classmethod
    def straddle_width(cls, multiple: float) -> StrikeRule:
        return cls(STRADDLE_WIDTH, multiple)

    @classmethod
    def exact(cls, strike: float) -> StrikeRule:
        return cls(EXACT, strike)


@dataclass(frozen=True)
class LegSpec:
    """One leg of a combo, by rule: instrument (CE, PE, FUT), side (BUY, SELL), ``lots``, expiry rule
    and strike rule (ignored for FUT), and its own exits and entry condition.

    ``stop_loss``, ``target``, ``trailing_stop``: ``Threshold`` or None. Stop and target are measured
    from the entry premium; the trail from the best premium since entry (the highest for a BUY leg,
    the lowest for a SELL leg). ``re_entry``: ``ReEntry`` or None. ``momentum``: ``Momentum`` or None
    (enter at once when None).
    """

    instrument: str
    side: str
    lots: int = 1
    expiry: str = CURRENT_WEEK
    strike: StrikeRule = field(default_factory=StrikeRule)
    stop_loss: Threshold | None = None
    target: Threshold | None = None
    trailing_stop: Threshold | None = None
    re_entry: ReEntry | None = None
    momentum: Momentum | None = None

    def __post_init__(self) -> None:
        instrument = _choice("instrument", self.instrument, INSTRUMENTS)
        object.__setattr__(self, "instrument", instrument)
        object.__setattr__(self, "side", _choice("side", self.side, SIDES))
        _whole("lots", self.lots, 1)
        rules = FUTURE_EXPIRY_RULES if instrument == FUT else OPTION_EXPIRY_RULES
        object.__setattr__(self, "expiry", _choice(f"{instrument} expiry rule", self.expiry, rules))
        if self.re_entry is not None and self.stop_loss is None and self.target is None:
            if self.trailing_stop is None:
                raise ValueError("a re-entry needs a stop, a trailing stop or a target to re-enter after")


@dataclass(frozen=True)
class LockAndTrail:
    """Combo profit protection, rupees for the whole combo.

    Once the combo's profit reaches ``reach``, at least ``lock`` is locked in; after that, for every
    further ``every`` rupees of peak profit the locked floor rises by ``trail_by`` (both None: lock
    only). The combo exits when its profit falls to the locked floor (``locked_profit``).
    """

    reach: Decimal
    lock: Decimal
    every: Decimal | None = None
    trail_by: Decimal | None = None

    def __post_init__(self) -> None:
        reach = _rupees("lock-and-trail reach", self.reach)
        lock = _rupees("lock-and-trail lock", self.lock, positive=False)
        if lock is None or lock < 0 or lock > reach:
            raise ValueError("lock-and-trail lock must be between 0 and reach")
        object.__setattr__(self, "reach", reach)
        object.__setattr__(self, "lock", lock)
        if (self.every is None) != (self.trail_by is None):
            raise ValueError("lock-and-trail needs both every and trail_by, or neither")
        object.__setattr__(self, "every", _rupees("lock-and-trail every", self.every))
        object.__setattr__(self, "trail_by", _rupees("lock-and-trail trail_by", self.trail_by))


@dataclass(frozen=True)
class ComboSpec:
    """A multi-leg strategy by rule: its legs, combo-level exits, times and product.

    ``stop_loss`` / ``target``: rupees of combo P&L (a loss of ``stop_loss`` exits; a profit of
    ``target`` exits), ``Decimal`` or None. ``lock_and_trail``: ``LockAndTrail`` or None.
    ``entry_time``: IST time of entry. ``exit_time``: IST time of the exit - required for MIS
    (intraday, squared off); for NRML (positional, carried overnight, settled at expiry) None means
    held to the nearest leg's expiry, where expiring legs settle and any later legs are closed.
    ``index`` is the underlying (a key of ``contracts.INDICES``).
    """

    name: str
    index: str
    legs: tuple[LegSpec, ...]
    product: str = MIS
    entry_time: time = time(9, 20)
    exit_time: time | None = time(15, 15)
    stop_loss: Decimal | None = None
    target: Decimal | None = None
    lock_and_trail: LockAndTrail | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", contracts.index_spec(self.index).name)
        legs = tuple(self.legs)
        if not legs:
            raise ValueError("a combo needs at least one leg")
        for i, leg in enumerate(legs):
            if not isinstance(leg, LegSpec):
                raise ValueError(f"leg {i + 1} is not a LegSpec")
        object.__setattr__(self, "legs", legs)
        product = _choice("product", self.product, PRODUCTS)
        object.__setattr__(self, "product", product)
        if product == MIS and self.exit_time is None:
            raise ValueError("an MIS (intraday) combo needs an exit time")
        if self.exit_time is not None and self.exit_time <= self.entry_time and product == MIS:
            raise ValueError(f"exit time {self.exit_time} must be after entry time {self.entry_time}")
        object.__setattr__(self, "stop_loss", _rupees("combo stop_loss", self.stop_loss))
        object.__setattr__(self, "target", _rupees("combo target", self.target))


# --- per-leg and combo exit levels (pure helpers for the engine) ------------------------------------


def _sign(side: str) -> int:
    return 1 if _choice("side", side, SIDES) == BUY else -1


def stop_price(side: str, entry: float, stop: Threshold) -> float:
    """The premium (rupees per unit, unrounded) at which a leg's stop hits.

    BUY legs lose when the premium falls: entry - distance (not below 0). SELL legs lose when it
    rises: entry + distance. The distance is ``stop.amount(entry)``.
    """
    return max(float(entry) - _sign(side) * stop.amount(entry), 0.0)


def target_price(side: str, entry: float, target: Threshold) -> float:
    """The premium (rupees per unit, unrounded) at which a leg's target hits: BUY entry + distance,
    SELL entry - distance (not below 0)."""
    return max(float(entry) + _sign(side) * target.amount(entry), 0.0)


def trailing_stop_price(side: str, best: float, trail: Threshold) -> float:
    """The trailing stop for the best premium since entry (highest for BUY, lowest for SELL):
    BUY best - distance, SELL best + distance, the distance measured on ``best``."""
    return max(float(best) - _sign(side) * trail.amount(best), 0.0)


def momentum_trigger(reference: float, momentum: Momentum) -> float:
    """The premium at which a momentum entry fires, from the ``reference`` premium (rupees per unit)."""
    move = momentum.threshold.amount(reference)
    return max(float(reference) + (move if momentum.direction == UP else -move), 0.0)


def may_reenter(rule: ReEntry | None, exit_type: str, reentries_done: int) -> bool:
    """Whether a leg closed by ``exit_type`` (``risk`` exit types) may be entered again."""
    if rule is None or reentries_done >= rule.max_times:
        return False
    if exit_type in (risk.STOP_LOSS, risk.TRAILING_STOP):
        return rule.after_stop
    if exit_type == risk.TARGET:
        return rule.after_target
    return False


def locked_profit(rule: LockAndTrail, peak_profit: Decimal) -> Decimal | None:
    """The profit floor (rupees) locked by ``rule`` for the combo's ``peak_profit`` so far; None
    before the peak has reached ``rule.reach``."""
    if peak_profit < rule.reach:
        return None
    if rule.every is None or rule.trail_by is None:
        return rule.lock
    steps = int((peak_profit - rule.reach) // rule.every)
    return rule.lock + steps * rule.trail_by


# --- concrete legs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PricedLeg:
    """One concrete leg: what the payoff, margin and settlement functions take.

    ``instrument`` CE, PE or FUT; ``side`` BUY or SELL; ``strike`` index points (None for FUT);
    ``expiry`` the contract's expiry date; ``lots`` whole lots of ``lot_size`` units (the contract's
    lot, see ``priced_leg``); ``premium`` the entry price in rupees per unit (for FUT the futures
    entry price); ``iv`` the entry implied volatility as a fraction (0.15 = 15%), used to value the
    leg when it outlives the evaluation date (a calendar spread's far leg); None if unknown.
    """

    instrument: str
    side: str
    strike: float | None
    expiry: date
    lots: int
    premium: float
    lot_size: int
    iv: float | None = None

    def __post_init__(self) -> None:
        instrument = _choice("type", self.instrument, INSTRUMENTS)
        object.__setattr__(self, "instrument", instrument)
        object.__setattr__(self, "side", _choice("side", self.side, SIDES))
        if instrument == FUT:
            if self.strike is not None:
                raise ValueError("a FUT leg has no strike")
        else:
            strike = _finite("strike", self.strike) if self.strike is not None else None
            if strike is None or strike <= 0:
                raise ValueError(f"strike must be a positive number, not {self.strike!r}")
            object.__setattr__(self, "strike", strike)
        if not isinstance(self.expiry, date):
            raise ValueError(f"expiry must be a date, not {self.expiry!r}")
        _whole("lots", self.lots, 1)
        _whole("lot_size", self.lot_size, 1)
        premium = _finite("premium", self.premium)
        if premium < 0 or (instrument == FUT and premium == 0):
            raise ValueError(f"premium must be {'positive' if instrument == FUT else '>= 0'}, not {premium}")
        object.__setattr__(self, "premium", premium)
        if self.iv is not None:
            iv = _finite("iv", self.iv)
            if iv <= 0:
                raise ValueError(f"iv must be a positive fraction, not {self.iv!r}")
            object.__setattr__(self, "iv", iv)

    @property
    def sign(self) -> int:
        """+1 for BUY, -1 for SELL."""
        return 1 if self.side == BUY else -1

    @property
    def quantity(self) -> int:
        """Units: lots x lot size."""
        return self.lots * self.lot_size

    @property
    def is_option(self) -> bool:
        return self.instrument != FUT

    def facts(self, number: int, *, iv: float | None) -> dict:
        """The leg as a combo's journal stores it (``number`` from 1; ``iv`` the one to record)."""
        return {
            "leg": number,
            "instrument": self.instrument,
            "side": self.side,
            "strike": self.strike,
            "expiry": self.expiry.isoformat(),
            "lots": self.lots,
            "lot_size": self.lot_size,
            "premium": self.premium,
            "iv": iv,
        }


def priced_leg(
    index: str,
    instrument: str,
    side: str,
    strike: float | None,
    expiry: date,
    lots: int,
    premium: float,
    iv: float | None = None,
) -> PricedLeg:
    """A ``PricedLeg`` with the lot size of ``index``'s contract expiring on ``expiry``
    (``contracts.lot_size``: the lot follows the contract's series, not the trade date)."""
    return PricedLeg(
        instrument=instrument,
        side=side,
        strike=strike,
        expiry=expiry,
        lots=lots,
        premium=premium,
        lot_size=contracts.lot_size(index, expiry),
        iv=iv,
    )
