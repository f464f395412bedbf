"""The builder's input: a request body (``POST /api/builder/payoff``) to concrete legs, or a 400
naming the field - ``legs[i].field`` for a bad leg (i from 0, as in the JSON array).

A leg is ``{"type": "CE|PE|FUT", "side": "BUY|SELL", "strike", "expiry", "lots", "premium"}``:

* ``strike`` index points, for CE/PE only (a FUT leg has none);
* ``expiry`` ``YYYY-MM-DD``, an expiry date of the index (a monthly one for FUT); default the
  nearest listed expiry (FUT: the current monthly) on the request's date;
* ``lots`` whole lots; the units per lot are those of the leg's contract (``contracts.lot_size``,
  ``contracts.future_lot_size``), so two legs of one combo may carry different lots;
* ``premium`` rupees per unit paid or received (FUT: the entry price); default the model price
  today (Black-Scholes on the spot, q = 0, at the request's IV; FUT: the fair value ``S e^{r tau}``);
* ``iv`` (optional) the leg's own IV as a fraction, used for a leg that outlives the nearest expiry.

The moment "now": ``days_to_expiry`` calendar days (fractions allowed) before 15:30 IST of the
nearest leg expiry; without it, the caller's clock. ``iv`` is the ATM IV as a fraction (0.15 = 15%).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from trading.core import calendar as market_calendar
from trading.core import contracts
from trading.core.combos.model import CE, FUT, INSTRUMENTS, SIDES, PricedLeg
from trading.core.options import bs_price, year_fraction

MAX_LEGS = 20
MAX_LOTS = 10_000
MAX_IV = 5.0  # 500%: an IV above this is a percentage sent as a fraction's field
MAX_DAYS = 3660.0
LEG_FIELDS = ("type", "side", "strike", "expiry", "lots", "premium", "iv")
GIVEN = "given"
MODEL = "model"


class BuilderInputError(ValueError):
    """A refused input: ``field`` (``spot``, ``legs[1].strike``, ...) and the ``message``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class PayoffInput:
    """A checked request: ``index``; ``spot`` index points; ``iv`` fraction; ``now`` the aware moment
    of "today"; ``days_to_expiry`` from ``now`` to the nearest expiry (days); ``legs``; per leg where its
    premium came from (``given`` or ``model``)."""

    index: str
    spot: float
    iv: float
    now: datetime
    days_to_expiry: float
    legs: tuple[PricedLeg, ...]
    premium_sources: tuple[str, ...]

    @property
    def rate(self) -> float:
        """The dated risk-free rate on ``now``'s IST date (fraction)."""
        return contracts.risk_free_rate(market_calendar.ist_date(self.now))


def number_field(
    field: str, value: Any, *, low: float | None = None, high: float | None = None, strict_low: bool = True
) -> float:
    """``value`` as a finite float within the bounds, or ``BuilderInputError`` on ``field``."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise BuilderInputError(field, f"must be a number, not {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise BuilderInputError(field, f"must be a number, not {value!r}") from None
    if not math.isfinite(number):
        raise BuilderInputError(field, f"must be finite, not {value!r}")
    if low is not None and (number <= low if strict_low else number < low):
        raise BuilderInputError(field, f"must be {'>' if strict_low else '>='} {low:g}, not {number:g}")
    if high is not None and number > high:
        raise BuilderInputError(field, f"must be at most {high:g}, not {number:g}")
    return number


def whole_field(field: str, value: Any, low: int, high: int) -> int:
    """``value`` as a whole number in [low, high], or ``BuilderInputError`` on ``field``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or float(value) != int(value):
        raise BuilderInputError(field, f"must be a whole number, not {value!r}")
    if not low <= int(value) <= high:
        raise BuilderInputError(field, f"must be between {low} and {high}, not {int(value)}")
    return int(value)


def _choice(field: str, value: Any, allowed: tuple[str, ...]) -> str:
    text = value.strip().upper() if isinstance(value, str) else None
    if text not in allowed:
        raise BuilderInputError(field, f"{value!r}: expected one of {', '.join(allowed)}")
    return text


def parse_index(value: Any, default: str = "NIFTY") -> str:
    """The index name (a key of ``contracts.INDICES``) or a 400 on ``index``."""
    if value in (None, ""):
        return default
    return _choice("index", value, tuple(contracts.INDICES))


def parse_date(field: str, value: Any) -> date:
    """``value`` (``YYYY-MM-DD``) as a date, or ``BuilderInputError`` on ``field``."""
    if not isinstance(value, str):
        raise BuilderInputError(field, f"must be a date YYYY-MM-DD, not {value!r}")
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise BuilderInputError(field, f"must be a date YYYY-MM-DD, not {value!r}") from None


def session_on(clock: datetime) -> date:
    """The date whose contracts are "current" at ``clock``: its IST date, or the next day once that
    date's 15:30 close has passed (an expiry is alive through its close, not after)."""
    today = market_calendar.ist_date(clock)
    return today if clock <= market_calendar.session_close(today) else today + timedelta(days=1)


def _expiry(field: str, value: Any, index: str, instrument: str, today: date) -> date:
    if value in (None, ""):
        if instrument == FUT:
            return contracts.current_monthly(index, today)
        return contracts.expiries(index, today)[0]
    expiry = parse_date(field, value)
    if instrument == FUT:
        if not contracts.is_monthly_expiry(index, expiry):
            raise BuilderInputError(
                field, f"{expiry.isoformat()} is not a monthly expiry of {index} (futures)"
            )
    elif expiry not in contracts.all_expiries(index, expiry, expiry):
        raise BuilderInputError(field, f"{expiry.isoformat()} is not an expiry date of {index}")
    return expiry


def _lot_size(index: str, instrument: str, expiry: date) -> int:
    if instrument == FUT:
        return contracts.future_lot_size(index, expiry)
    return contracts.lot_size(index, expiry)


def _raw_leg(i: int, leg: Any, index: str, today: date) -> dict[str, Any]:
    """One leg's fields checked, premium not yet priced (None when not given)."""
    name = f"legs[{i}]"
    if not isinstance(leg, Mapping):
        raise BuilderInputError(name, "must be an object with type, side, strike, expiry, lots, premium")
    unknown = sorted(set(leg) - set(LEG_FIELDS))
    if unknown:
        raise BuilderInputError(f"{name}.{unknown[0]}", f"unknown field (known: {', '.join(LEG_FIELDS)})")
    instrument = _choice(f"{name}.type", leg.get("type"), INSTRUMENTS)
    side = _choice(f"{name}.side", leg.get("side"), SIDES)
    strike = leg.get("strike")
    if instrument == FUT:
        if strike not in (None, ""):
            raise BuilderInputError(f"{name}.strike", "a FUT leg has no strike")
        strike = None
    else:
        if strike in (None, ""):
            raise BuilderInputError(f"{name}.strike", f"a {instrument} leg needs a strike")
        strike = number_field(f"{name}.strike", strike, low=0.0)
    expiry = _expiry(f"{name}.expiry", leg.get("expiry"), index, instrument, today)
    lots = whole_field(f"{name}.lots", leg.get("lots", 1), 1, MAX_LOTS)
    premium = leg.get("premium")
    if premium not in (None, ""):
        premium = number_field(f"{name}.premium", premium, low=0.0, strict_low=instrument == FUT)
    else:
        premium = None
    iv = leg.get("iv")
    iv = None if iv in (None, "") else number_field(f"{name}.iv", iv, low=0.0, high=MAX_IV)
    return {
        "instrument": instrument,
        "side": side,
        "strike": strike,
        "expiry": expiry,
        "lots": lots,
        "premium": premium,
        "iv": iv,
    }


def model_premium(
    instrument: str, strike: float | None, expiry: date, *, spot: float, iv: float, now: datetime, r: float
) -> float:
    """The leg's price today in rupees per unit: Black-Scholes on ``spot`` (q = 0) at ``iv`` for an
    option, ``S e^{r tau}`` for a future; intrinsic / spot once expired. Rounded to the paisa."""
    t = year_fraction(now, expiry)
    if instrument == FUT:
        return round(spot * math.exp(r * t), 2)
    if t <= 0:
        return round(max(spot - strike, 0.0) if instrument == CE else max(strike - spot, 0.0), 2)
    return round(float(bs_price(iv, spot, strike, t, r, instrument == CE)), 2)


def parse_payoff_request(data: Any, *, clock: datetime) -> PayoffInput:
    """The checked request ``data`` (parsed JSON); ``clock`` is the caller's aware "now", used when the
    body has no ``days_to_expiry`` and for the default expiries. Raises ``BuilderInputError``."""
    if not isinstance(data, Mapping):
        raise BuilderInputError("non_field_errors", "expected a JSON object")
    index = parse_index(data.get("index"))
    spot = number_field("spot", data.get("spot"), low=0.0)
    iv = number_field("iv", data.get("iv"), low=0.0, high=MAX_IV)
    legs_in = data.get("legs")
    if not isinstance(legs_in, list) or not legs_in:
        raise BuilderInputError("legs", "a combo needs a list of at least one leg")
    if len(legs_in) > MAX_LEGS:
        raise BuilderInputError("legs", f"at most {MAX_LEGS} legs")
    today = session_on(clock)
    raw = [_raw_leg(i, leg, index, today) for i, leg in enumerate(legs_in)]
    nearest = min(leg["expiry"] for leg in raw)
    days = data.get("days_to_expiry")
    if days in (None, ""):
        now = clock
        if now > market_calendar.session_close(nearest):
            i = next(i for i, leg in enumerate(raw) if leg["expiry"] == nearest)
            raise BuilderInputError(f"legs[{i}].expiry", f"{nearest.isoformat()} has already expired")
        days = (market_calendar.session_close(nearest) - now).total_seconds() / 86400.0
    else:
        days = number_field("days_to_expiry", days, low=0.0, high=MAX_DAYS, strict_low=False)
        now = market_calendar.session_close(nearest) - timedelta(days=days)
    r = contracts.risk_free_rate(market_calendar.ist_date(now))
    legs, sources = [], []
    for i, leg in enumerate(raw):
        premium, source = leg["premium"], GIVEN
        if premium is None:
            premium = model_premium(
                leg["instrument"], leg["strike"], leg["expiry"], spot=spot, iv=iv, now=now, r=r
            )
            source = MODEL
        try:
            legs.append(
                PricedLeg(
                    instrument=leg["instrument"],
                    side=leg["side"],
                    strike=leg["strike"],
                    expiry=leg["expiry"],
                    lots=leg["lots"],
                    premium=premium,
                    lot_size=_lot_size(index, leg["instrument"], leg["expiry"]),
                    iv=leg["iv"],
                )
            )
        except ValueError as exc:  # pragma: no cover - every field was checked above
            raise BuilderInputError(f"legs[{i}]", str(exc)) from None
        sources.append(source)
    return PayoffInput(index, spot, iv, now, float(days), tuple(legs), tuple(sources))
