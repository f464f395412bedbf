"""Orders: the state machine, client order ids and contract selection. Pure: no Django.

State machine (every transition is stored by ``trading.execution.orders.order_transition`` with its time and
reason; anything not listed raises ``IllegalTransition``)::

    NEW -> SUBMITTED -> OPEN -> PARTIALLY_FILLED -> FILLED
           SUBMITTED -> FILLED                      (a marketable order filled at once)
           SUBMITTED/OPEN -> PARTIALLY_FILLED -> PARTIALLY_FILLED (more fills) -> FILLED
    live state (NEW, SUBMITTED, OPEN, PARTIALLY_FILLED) -> CANCELLED / EXPIRED
    NEW, SUBMITTED, OPEN -> REJECTED  (NEW -> REJECTED: refused before it was sent, e.g. invalid_price)

FILLED, CANCELLED, REJECTED and EXPIRED are terminal.

Client order ids are Kite ``tag`` values: at most 20 characters, letters and digits only. They are
derived deterministically from what the order is for (mode, index, strategy, bar time, purpose, ...),
so a task that runs twice builds the same id and the broker lookup by tag finds the first order.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np

from trading.core import calendar as market_calendar
from trading.core import chain as chain_mod
from trading.core import contracts, memo
from trading.core.bars import MarketBar, OptionChain
from trading.core.options import greeks, year_fraction

NEW = "NEW"
SUBMITTED = "SUBMITTED"
OPEN = "OPEN"
PARTIALLY_FILLED = "PARTIALLY_FILLED"
FILLED = "FILLED"
CANCELLED = "CANCELLED"
REJECTED = "REJECTED"
EXPIRED = "EXPIRED"

STATUSES = (NEW, SUBMITTED, OPEN, PARTIALLY_FILLED, FILLED, CANCELLED, REJECTED, EXPIRED)
LIVE_STATES = frozenset({NEW, SUBMITTED, OPEN, PARTIALLY_FILLED})
TERMINAL_STATES = frozenset({FILLED, CANCELLED, REJECTED, EXPIRED})

TRANSITIONS: dict[str, frozenset[str]] = {
    NEW: frozenset({SUBMITTED, REJECTED, CANCELLED, EXPIRED}),
    SUBMITTED: frozenset({OPEN, PARTIALLY_FILLED, FILLED, REJECTED, CANCELLED, EXPIRED}),
    OPEN: frozenset({PARTIALLY_FILLED, FILLED, REJECTED, CANCELLED, EXPIRED}),
    PARTIALLY_FILLED: frozenset({PARTIALLY_FILLED, FILLED, CANCELLED, EXPIRED}),
    FILLED: frozenset(),
    CANCELLED: frozenset(),
    REJECTED: frozenset(),
    EXPIRED: frozenset(),
}

# Reasons for which a broker refuses an order before sending it anywhere (NEW -> REJECTED directly).
PRE_SUBMIT_REJECTIONS = frozenset({"invalid_price", "invalid_quantity", "rate_limited_local"})

ENTRY = "ENTRY"
EXIT = "EXIT"


class IllegalTransition(ValueError):
    """Raised for a transition the order state machine does not allow (e.g. FILLED -> OPEN)."""


def is_terminal(status: str) -> bool:
    """True for FILLED, CANCELLED, REJECTED and EXPIRED."""
    return status in TERMINAL_STATES


def check_transition(current: str, target: str) -> None:
    """Raise ``IllegalTransition`` unless ``current -> target`` is an edge of the state machine."""
    if current not in TRANSITIONS:
        raise IllegalTransition(f"unknown order status {current!r}")
    if target not in TRANSITIONS:
        raise IllegalTransition(f"unknown order status {target!r}")
    if target not in TRANSITIONS[current]:
        raise IllegalTransition(f"illegal order transition {current} -> {target}")


def transition_path(current: str, target: str, reason: str = "") -> list[str]:
    """The legal states to pass through to report ``target`` from ``current`` (``current`` excluded).

    A broker may report a later state than the last one stored (a MARKET order comes back FILLED
    while the row still says NEW); the intermediate states are filled in so every stored event is a
    legal edge: NEW -> FILLED becomes [SUBMITTED, FILLED]. A REJECTED with a pre-submit reason
    (``invalid_price``) goes NEW -> REJECTED. Returns [] when ``target == current`` (except
    PARTIALLY_FILLED, whose self-edge records more fills); raises ``IllegalTransition`` when no
    legal path exists (e.g. FILLED -> OPEN).
    """
    if target == current and current != PARTIALLY_FILLED:
        return []
    if target in TRANSITIONS.get(current, ()):
        if current == NEW and target == REJECTED and reason and reason not in PRE_SUBMIT_REJECTIONS:
            return [SUBMITTED, REJECTED]
        return [target]
    if current == NEW and target in TRANSITIONS[SUBMITTED]:
        return [SUBMITTED, target]
    check_transition(current, target)  # raises with the precise message
    return [target]  # pragma: no cover - check_transition raised


# --- client order ids ---------------------------------------------------------------------------------

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U


def _b32(data: bytes, length: int) -> str:
    """The ``length`` lowest base32 digits of ``data`` read as a big-endian number, lowest first
    (two digits a look-up in ``_PAIRS``: half the steps of one at a time)."""
    bits = 5 * length
    n = int.from_bytes(data[-((bits + 7) // 8) :], "big")  # only the low 5 x length bits count
    return "".join([_PAIRS[(n >> shift) & 1023] for shift in range(0, bits, 10)])[:length]


_PAIRS = [_ALPHABET[v & 31] + _ALPHABET[v >> 5] for v in range(1024)]  # 10 bits -> 2 digits, lowest first


def _part(value: object) -> str:
    if isinstance(value, datetime):
        # The same instant must give the same id whatever zone it arrives in.
        return utc_stamp(value) if value.tzinfo else value.isoformat()
    return str(value)


def utc_stamp(at: datetime) -> str:
    """``at`` (aware) as ``YYYYmmddTHHMMSS`` in UTC; remembered per instant (``_STAMPS``, bounded: a
    backtest's ids name each bar several times). Equal instants in any zone give one stamp."""
    found = _STAMPS.get(at)
    if found is None:
        if len(_STAMPS) >= 4096:
            _STAMPS.clear()
        u = at if at.tzinfo is UTC else at.astimezone(UTC)
        found = _STAMPS[at] = f"{u.year:04d}{u.month:02d}{u.day:02d}T{u.hour:02d}{u.minute:02d}{u.second:02d}"
    return found


_STAMPS: dict[datetime, str] = memo.session_memo()


def client_order_id(purpose: str, *parts: object) -> str:
    """A unique, deterministic client order id (Kite tag): 20 characters, ``[0-9A-Z]``.

    The first character says the purpose (``E`` entry, ``X`` exit, ``C`` child, ``S`` square-off...),
    the other 19 are a base32 SHA-256 of ``purpose`` and ``parts`` (e.g. mode, index, strategy, bar
    time, direction). The same inputs always give the same id, so a task that runs twice places the
    same order; different inputs collide with probability ~2^-95.
    """
    key = "|".join([purpose, *(_part(p) for p in parts)])
    digest = hashlib.sha256(key.encode()).digest()
    prefix = {ENTRY: "E", EXIT: "X"}.get(purpose.upper(), purpose[:1].upper())
    return prefix + _b32(digest, 19)


def is_valid_client_order_id(value: str) -> bool:
    """True when ``value`` is a usable Kite tag: 1..20 characters, ASCII letters and digits only."""
    return 0 < len(value) <= 20 and value.isascii() and value.isalnum()


def entry_order_id(*, mode: str, index: str, strategy: str, bar_time: datetime, direction: str) -> str:
    """Client order id of the entry for one strategy's signal on one bar."""
    return client_order_id(ENTRY, mode, index, strategy, bar_time, direction)


def exit_order_id(*, position_id: str, bar_time: datetime, attempt: int = 0) -> str:
    """Client order id of an exit of ``position_id`` decided on the bar ``bar_time``."""
    return client_order_id(EXIT, position_id, bar_time, attempt)


# --- contract selection -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContractRule:
    """How a signal's direction becomes a contract.

    ``expiry``: ``"nearest_weekly"`` (default), ``"next_weekly"`` or ``"monthly"``.
    ``strike``: ``"ATM"``, ``"OTM"`` (``otm_steps`` strikes out of the money) or ``"DELTA"`` (the strike
    whose |delta| is closest to ``target_delta``). ``min_minutes_to_expiry``: an expiry with less time
    left than this (expiry-day afternoon) is skipped for the next one.
    """

    expiry: str = "nearest_weekly"
    strike: str = "ATM"
    otm_steps: int = 1
    target_delta: float = 0.5
    min_minutes_to_expiry: int = 45

    @classmethod
    def from_params(cls, params: dict | None, default: ContractRule | None = None) -> ContractRule:
        """Overlay the ``contract_*`` keys of a strategy's parameters on ``default``."""
        base = default or cls()
        p = params or {}
        return cls(
            expiry=str(p.get("contract_expiry", base.expiry)),
            strike=str(p.get("contract_strike", base.strike)).upper(),
            otm_steps=int(p.get("contract_otm_steps", base.otm_steps)),
            target_delta=float(p.get("contract_target_delta", base.target_delta)),
            min_minutes_to_expiry=int(p.get("contract_min_minutes_to_expiry", base.min_minutes_to_expiry)),
        )


@dataclass(frozen=True)
class Contract:
    """A chosen option contract and its quote at selection time (prices in rupees, iv as a fraction)."""

    index: str
    expiry: date
    strike: float
    option_type: str  # CE or PE
    tradingsymbol: str
    exchange: str
    lot_size: int
    ltp: float
    bid: float
    ask: float
    iv: float


def option_type_of(direction: str) -> str:
    """CALL -> CE, PUT -> PE (a bought call for a bullish signal, a bought put for a bearish one)."""
    d = direction.upper()
    if d in ("CALL", "CE"):
        return contracts.CALL
    if d in ("PUT", "PE"):
        return contracts.PUT
    raise ValueError(f"direction {direction!r}: expected CALL or PUT")


def choose_expiry(index: str, bar: MarketBar, at: datetime, rule: ContractRule) -> date | None:
    """The expiry a new position trades: from the bar's chains, skipping one about to expire."""
    alive = []
    for c in bar.chains:
        minutes = year_fraction(at, c.expiry) * 365 * 24 * 60
        if minutes >= rule.min_minutes_to_expiry:
            alive.append(c.expiry)
    alive.sort()
    if not alive:
        return None
    if rule.expiry == "monthly":
        monthly = [e for e in alive if contracts.is_monthly_expiry(index, e)]
        return monthly[0] if monthly else alive[-1]
    if rule.expiry == "next_weekly":
        return alive[1] if len(alive) > 1 else alive[0]
    return alive[0]


def _chain_deltas(chain: OptionChain, spot: float, at: datetime, option_type: str, r: float) -> np.ndarray:
    t = year_fraction(at, chain.expiry)
    is_call = option_type == contracts.CALL
    iv = chain.call_iv if is_call else chain.put_iv
    return np.asarray(greeks(iv, spot, chain.strikes, t, r, is_call)["delta"], dtype=float)


def select_contract(
    *,
    index: str,
    direction: str,
    bar: MarketBar,
    at: datetime,
    rule: ContractRule | None = None,
    live: bool = False,
    expiries_from_broker: bool = False,
) -> Contract | None:
    """The contract to buy for a CALL/PUT signal on ``bar``, or None when no quote is usable.

    The strike is taken from the bar's chain for the chosen expiry: ATM (nearest the spot on the
    strike grid), ``otm_steps`` out of the money, or the closest |delta| to ``target_delta``. A strike
    without a positive ask (no seller) is not usable.

    Before any contract is selected the expiry's year must be in the trading calendar (days to
    expiry, square-off, settlement and the symbol read it): raises ``calendar.CalendarNotCovered``
    naming the files to update; with ``live`` also ``calendar.CalendarProvisional`` for a year
    covered only provisionally unless ``expiries_from_broker`` (the broker's instrument master).
    """
    rule = rule or ContractRule()
    option_type = option_type_of(direction)
    expiry = choose_expiry(index, bar, at, rule)
    if expiry is None:
        return None
    market_calendar.ensure_covered(
        expiry,
        contracts.index_spec(index).fo_exchange,
        live=live,
        expiries_from_broker=expiries_from_broker,
    )
    chain = bar.chain(expiry)
    if chain is None or len(chain.strikes) == 0:
        return None
    session = market_calendar.ist_date(at)
    step = contracts.strike_step(index, session)
    spot = bar.close
    if rule.strike == "DELTA":
        r = contracts.risk_free_rate(session)
        deltas = _chain_deltas(chain, spot, at, option_type, r)
        target = abs(rule.target_delta) * (1 if option_type == contracts.CALL else -1)
        try:
            strike = chain_mod.strike_by_delta(chain.strikes, deltas, target)
        except ValueError:
            strike = chain_mod.atm_strike(spot, step)
    elif rule.strike == "OTM":
        strike = chain_mod.select_strike(spot, step, option_type, rule.otm_steps)
    else:
        strike = chain_mod.atm_strike(spot, step)
    quote = chain.quote(strike, option_type)
    if quote is None:
        # The grid strike is outside the chain window: take the nearest listed strike.
        i = int(np.argmin(np.abs(chain.strikes - strike)))
        strike = float(chain.strikes[i])
        quote = chain.quote(strike, option_type)
    if quote is None or not (quote["ask"] > 0) or math.isnan(quote["ask"]):
        return None
    return Contract(
        index=index,
        expiry=expiry,
        strike=float(strike),
        option_type=option_type,
        tradingsymbol=contracts.tradingsymbol(index, expiry, float(strike), option_type),
        exchange=contracts.index_spec(index).fo_exchange,
        lot_size=contracts.lot_size(index, expiry),
        ltp=quote["ltp"],
        bid=quote["bid"],
        ask=quote["ask"],
        iv=quote["iv"],
    )
