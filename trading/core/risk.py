"""Risk: position sizing, entry gates, exit rules, the circuit breaker and the kill switch. Pure.

Every function returns its decision with a **reason code** (a short stable string stored on the
rejected signal or the exit) and a human detail, so nothing is refused or closed silently.

Units: premiums and P&L in rupees as ``Decimal`` (premiums on the 0.05 tick); fractions as floats
(0.3 = 30%); times are aware datetimes, compared in IST.

Rules (all in ``RiskConfig``, configurable from settings):

* **Sizing by risk**: lots = floor(capital x risk_per_trade / ((entry - stop) x lot size)), then capped
  so that lots x lot size x entry <= the strategy's capital allocation (and ``max_lots``). Zero lots
  is a rejection (``size_zero`` / ``allocation_too_small``), never a rounding up.
* **Exit levels** in premium terms, scaled by India VIX: scale = clip(VIX / vix_reference,
  vix_scale_min, vix_scale_max); stop = entry x (1 - stop_loss_pct x scale), target = entry x (1 +
  target_pct x scale); the trailing stop follows the high-water premium at trail_pct x scale once the
  premium is up trail_activation_pct. Wider stops when the market is more volatile, smaller size
  for the same rupee risk.
* **Time**: no new entries at or after ``no_entry_after`` (14:45 IST), square-off at ``square_off_at``
  (15:15 IST); an option past its expiry is closed at its intrinsic value (exit type EXPIRY).
* **Limits**: max open positions in total and per strategy; a daily loss limit and a consecutive-loss
  limit trip the **circuit breaker** (no new entries until the next session or a staff reset); the
  **kill switch** squares off everything and blocks entries.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import ROUND_DOWN, ROUND_HALF_UP, ROUND_UP, Decimal

from trading.core import calendar as market_calendar
from trading.core import memo

TICK = Decimal("0.05")
PAISA = Decimal("0.01")

# Exit types (the journal's ExitType values).
STOP_LOSS = "STOP_LOSS"
TARGET = "TARGET"
TRAILING_STOP = "TRAILING_STOP"
TIME_EXIT = "TIME_EXIT"
SQUARE_OFF = "SQUARE_OFF"
EXPIRY = "EXPIRY"
KILL_SWITCH = "KILL_SWITCH"

# Reason codes of a refused entry.
R_KILL_SWITCH = "kill_switch"
R_DATABASE = "database_unavailable"
R_BREAKER = "circuit_breaker"
R_OUTSIDE_SESSION = "outside_session"
R_BEFORE_ENTRY_START = "before_entry_start"
R_AFTER_CUTOFF = "after_entry_cutoff"
R_MAX_OPEN = "max_open_positions"
R_MAX_OPEN_STRATEGY = "max_open_positions_strategy"
R_COOLDOWN = "cooldown"
R_DISABLED = "strategy_disabled"
R_NO_CONTRACT = "no_contract"
R_CALENDAR = "calendar_not_covered"  # the expiry's year is missing from the calendar (or provisional in LIVE)
R_SIZE_ZERO = "size_zero"
R_ALLOCATION = "allocation_too_small"
R_ORDER_REJECTED = "order_rejected"
R_DUPLICATE = "duplicate_position"
ENTRY_REFUSALS = (
    R_KILL_SWITCH, R_DATABASE, R_BREAKER, R_OUTSIDE_SESSION, R_BEFORE_ENTRY_START, R_AFTER_CUTOFF,
    R_MAX_OPEN, R_MAX_OPEN_STRATEGY, R_COOLDOWN, R_DISABLED, R_NO_CONTRACT, R_CALENDAR, R_SIZE_ZERO,
    R_ALLOCATION, R_ORDER_REJECTED, R_DUPLICATE,
)  # fmt: skip
"""Every reason code of a refused entry (the label values of ``trading_signals_rejected_total``)."""


def to_tick(value: Decimal | float, rounding: str = ROUND_HALF_UP) -> Decimal:
    """``value`` rounded to the 0.05 premium tick (half up by default).

    A float's tick is remembered (``_FLOAT_TICKS``, bounded): a backtest marks the same premiums
    again and again (four float calls in five, over a year). A Decimal's is worked out each time."""
    if type(value) is float and value:  # not 0.0: -0.0 equals it, yet its tick prints "-0.00"
        key = (value, rounding)
        found = _FLOAT_TICKS.get(key)
        if found is None:
            if len(_FLOAT_TICKS) >= _FLOAT_TICKS_MAX:
                _FLOAT_TICKS.clear()
            found = _FLOAT_TICKS[key] = (Decimal(repr(value)) / TICK).quantize(_ONE, rounding=rounding) * TICK
        return found
    d = value if isinstance(value, Decimal) else Decimal(repr(float(value)))
    return (d / TICK).quantize(_ONE, rounding=rounding) * TICK


_ONE = Decimal(1)
# Not one of a backtest's session memos (``core.memo``): premiums on the tick grid come back session
# after session (a year: ~4,700 entries, ~1.4 MB; forgotten each session it would work out 9,100
# more). Its bound caps its memory at ~2.4 MB.
_FLOAT_TICKS: dict[tuple[float, str], Decimal] = {}
_FLOAT_TICKS_MAX = 1 << 13


@dataclass(frozen=True)
class RiskConfig:
    """The risk knobs of one desk (one index). Defaults follow DOMAIN.md section 5."""

    capital: Decimal = Decimal("500000")
    risk_per_trade: float = 0.01
    max_lots: int = 20
    stop_loss_pct: float = 0.30
    target_pct: float = 0.60
    trail_pct: float = 0.20
    trail_activation_pct: float = 0.20
    vix_reference: float = 15.0
    vix_scale_min: float = 0.6
    vix_scale_max: float = 2.0
    entry_start: time = time(9, 20)
    no_entry_after: time = time(14, 45)
    square_off_at: time = time(15, 15)
    max_hold_minutes: int | None = None
    max_open_positions: int = 5
    daily_loss_limit: Decimal = Decimal("10000")
    max_consecutive_losses: int = 4


@dataclass(frozen=True)
class Decision:
    """An allowed/refused decision: ``reason`` is a stable code ('' when allowed), ``detail`` prose."""

    allowed: bool
    reason: str = ""
    detail: str = ""

    def __bool__(self) -> bool:
        return self.allowed


ALLOW = Decision(True)


def refuse(reason: str, detail: str = "") -> Decision:
    """A refusal with its reason code."""
    return Decision(False, reason, detail or reason)


# --- sizing -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sizing:
    """Result of sizing: whole ``lots`` and ``quantity`` units, the rupees at risk, or a refusal."""

    lots: int
    quantity: int
    risk_amount: Decimal
    decision: Decision


def position_size(
    *,
    entry: Decimal,
    stop: Decimal,
    lot_size: int,
    cfg: RiskConfig,
    allocation: Decimal | None = None,
) -> Sizing:
    """Whole lots risking at most capital x risk_per_trade between ``entry`` and ``stop``.

    Rounded down to whole lots, then capped by ``allocation`` (the strategy's capital: lots x lot
    size x entry must fit) and ``cfg.max_lots``. Zero lots is refused with ``size_zero`` (the stop is
    too far for the risk budget) or ``allocation_too_small``.
    """
    entry, stop = Decimal(entry), Decimal(stop)
    per_unit = entry - stop
    if per_unit <= 0 or lot_size <= 0:
        return Sizing(0, 0, Decimal(0), refuse(R_SIZE_ZERO, f"no risk between entry {entry} and stop {stop}"))
    budget = Decimal(cfg.capital) * Decimal(str(cfg.risk_per_trade))
    lots = int((budget / (per_unit * lot_size)).to_integral_value(rounding=ROUND_DOWN))
    if lots <= 0:
        return Sizing(
            0,
            0,
            Decimal(0),
            refuse(R_SIZE_ZERO, f"one lot risks {per_unit * lot_size:.2f} > budget {budget:.2f}"),
        )
    if allocation is not None:
        per_lot_cost = entry * lot_size
        fit = int((Decimal(allocation) / per_lot_cost).to_integral_value(rounding=ROUND_DOWN))
        if fit <= 0:
            return Sizing(
                0,
                0,
                Decimal(0),
                refuse(
                    R_ALLOCATION, f"one lot costs {per_lot_cost:.2f} > allocation {Decimal(allocation):.2f}"
                ),
            )
        lots = min(lots, fit)
    lots = min(lots, cfg.max_lots)
    qty = lots * lot_size
    return Sizing(lots, qty, (per_unit * qty).quantize(PAISA), ALLOW)


# --- exit levels --------------------------------------------------------------------------------------


def vix_scale(vix: float, cfg: RiskConfig) -> float:
    """How much wider than at the reference VIX the stops and targets are: VIX / reference, clipped."""
    if vix is None or not math.isfinite(vix) or vix <= 0:
        return 1.0
    return min(max(vix / cfg.vix_reference, cfg.vix_scale_min), cfg.vix_scale_max)


@dataclass(frozen=True)
class ExitLevels:
    """Stop, target (premiums, on the tick) and the trailing distance (fraction of the high water)."""

    stop: Decimal
    target: Decimal
    trail_fraction: float
    trail_activation: Decimal


def exit_levels(entry: Decimal, vix: float, cfg: RiskConfig) -> ExitLevels:
    """Stop loss / target / trailing stop of a long option bought at ``entry`` with India VIX ``vix``.

    Remembered per entry, VIX and configuration (``_LEVELS``, bounded): an entry asks twice, when it
    is planned on the ask and when it fills there."""
    key = (entry, vix, id(cfg))
    found = _LEVELS.get(key)
    if found is not None and found[0] is cfg:
        return found[1]
    levels = _exit_levels(entry, vix, cfg)
    if len(_LEVELS) >= 4096:
        _LEVELS.clear()
    _LEVELS[key] = (cfg, levels)  # cfg held here: its id cannot be reused while the entry is kept
    return levels


_LEVELS: dict[tuple, tuple[RiskConfig, ExitLevels]] = memo.session_memo()


def _exit_levels(entry: Decimal, vix: float, cfg: RiskConfig) -> ExitLevels:
    entry = Decimal(entry)
    scale = vix_scale(vix, cfg)
    sl = min(cfg.stop_loss_pct * scale, 0.9)
    stop = max(to_tick(entry * Decimal(str(1 - sl)), ROUND_DOWN), TICK)
    target = to_tick(entry * Decimal(str(1 + cfg.target_pct * scale)), ROUND_UP)
    activation = to_tick(entry * Decimal(str(1 + cfg.trail_activation_pct)), ROUND_UP)
    return ExitLevels(
        stop=stop, target=target, trail_fraction=min(cfg.trail_pct * scale, 0.9), trail_activation=activation
    )


# --- entry gates --------------------------------------------------------------------------------------


def _ist_time(at: datetime) -> time:
    global _LAST_IST_TIME
    last = _LAST_IST_TIME
    if last[0] is at:  # the very object asked last (a cycle's clock, once per position)
        return last[1]
    found = at.astimezone(market_calendar.IST).time()
    _LAST_IST_TIME = (at, found)
    return found


_LAST_IST_TIME: tuple = (None, None)  # (datetime, its IST time): replaced whole, so threads see a pair


def session_gate(at: datetime, cfg: RiskConfig) -> Decision:
    """Entries only in a trading session, from ``entry_start`` until before ``no_entry_after`` (IST)."""
    d = market_calendar.ist_date(at)
    if not market_calendar.is_trading_day(d):
        return refuse(R_OUTSIDE_SESSION, f"{d} is not a trading day")
    t = _ist_time(at)
    if t < cfg.entry_start:
        return refuse(
            R_BEFORE_ENTRY_START, f"{t:%H:%M} is before the first entry time {cfg.entry_start:%H:%M}"
        )
    if t >= cfg.no_entry_after:
        return refuse(R_AFTER_CUTOFF, f"no new entries from {cfg.no_entry_after:%H:%M} (now {t:%H:%M})")
    return ALLOW


def cooldown_gate(last_signal_at: datetime | None, at: datetime, minutes: int) -> Decision:
    """Refuse a strategy's new entry within ``minutes`` of its last accepted signal."""
    if last_signal_at is None or minutes <= 0 or last_signal_at >= at:
        # ``last_signal_at >= at``: this very cycle is being run again (after a crash), not a new signal.
        return ALLOW
    waited = (at - last_signal_at).total_seconds() / 60.0
    if waited < minutes:
        return refuse(R_COOLDOWN, f"cooldown {minutes} min: last accepted signal {waited:.0f} min ago")
    return ALLOW


@dataclass
class RiskState:
    """The risk figures of the current session, rebuilt from the database after a restart.

    ``realised_pnl`` is today's net P&L of closed trades; ``consecutive_losses`` counts the latest
    closed trades with net P&L <= 0 since the last win (or breaker reset).
    """

    session: date | None = None
    realised_pnl: Decimal = Decimal(0)
    consecutive_losses: int = 0
    trades_today: int = 0
    circuit_breaker: bool = False
    breaker_reason: str = ""
    breaker_session: date | None = None
    kill_switch: bool = False
    tripped_now: list[str] = field(default_factory=list)

    def roll_session(self, session: date) -> None:
        """Start a new session: today's figures reset, and a breaker from an earlier session lifts."""
        if self.session == session:
            return
        self.session = session
        self.realised_pnl = Decimal(0)
        self.consecutive_losses = 0
        self.trades_today = 0
        if self.circuit_breaker and self.breaker_session != session:
            self.circuit_breaker = False
            self.breaker_reason = ""
            self.breaker_session = None


def breaker_reason(state: RiskState, cfg: RiskConfig) -> str:
    """The reason the breaker must trip now ('' when the limits hold)."""
    if cfg.daily_loss_limit and state.realised_pnl <= -Decimal(cfg.daily_loss_limit):
        return f"daily loss limit: net {state.realised_pnl:.2f} <= -{Decimal(cfg.daily_loss_limit):.2f}"
    if cfg.max_consecutive_losses and state.consecutive_losses >= cfg.max_consecutive_losses:
        return f"consecutive losses: {state.consecutive_losses} >= {cfg.max_consecutive_losses}"
    return ""


def record_close(state: RiskState, net_pnl: Decimal, cfg: RiskConfig) -> str:
    """Account one closed trade (net P&L, rupees); trip the breaker if a limit broke.

    A trade is a loss when its net P&L <= 0 (a win is net > 0). Returns the trip reason when the
    breaker trips on this trade, '' otherwise.
    """
    state.realised_pnl += Decimal(net_pnl)
    state.trades_today += 1
    state.consecutive_losses = 0 if Decimal(net_pnl) > 0 else state.consecutive_losses + 1
    if state.circuit_breaker:
        return ""
    reason = breaker_reason(state, cfg)
    if reason:
        state.circuit_breaker = True
        state.breaker_reason = reason
        state.breaker_session = state.session
        state.tripped_now.append(reason)
    return reason


def entry_gate(
    *,
    state: RiskState,
    cfg: RiskConfig,
    at: datetime,
    open_total: int,
    open_for_strategy: int,
    strategy_max_open: int,
    db_available: bool = True,
) -> Decision:
    """The account-level gate for a new entry, in order: kill switch, database, circuit breaker,
    session time, max open positions (total, then per strategy)."""
    if state.kill_switch:
        return refuse(R_KILL_SWITCH, "kill switch is on: no new entries")
    if not db_available:
        return refuse(R_DATABASE, "database unreachable: exits only until it is back")
    if state.circuit_breaker:
        return refuse(R_BREAKER, f"circuit breaker: {state.breaker_reason}")
    gate = session_gate(at, cfg)
    if not gate:
        return gate
    if open_total >= cfg.max_open_positions:
        return refuse(R_MAX_OPEN, f"{open_total} open positions (max {cfg.max_open_positions})")
    if open_for_strategy >= strategy_max_open:
        return refuse(
            R_MAX_OPEN_STRATEGY, f"{open_for_strategy} open for this strategy (max {strategy_max_open})"
        )
    return ALLOW


# --- exits --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExitDecision:
    """Close a position: ``exit_type`` (journal ExitType) and why."""

    exit_type: str
    reason: str


def intrinsic_value(option_type: str, strike: float, spot: float) -> Decimal:
    """Settlement value of an expired option (rupees per unit, to the paisa): the final settlement
    price - ``spot`` to the paisa, as the exchange publishes the index's close - less the strike for
    a call, the strike less it for a put, never below 0. A cash value, not a price on the tick."""
    final = Decimal(str(spot)).quantize(PAISA, ROUND_HALF_UP)
    k = Decimal(str(strike))
    value = final - k if option_type in ("CE", "CALL") else k - final
    return max(value, Decimal(0)).quantize(PAISA)


def is_expired(expiry: date, at: datetime) -> bool:
    """True once the contract expiring on ``expiry`` has expired (15:30 IST of that day) at ``at``."""
    return at >= market_calendar.session_close_utc(expiry)


def trail_level(high_water: Decimal, levels_trail_fraction: float, activation: Decimal) -> Decimal | None:
    """The trailing stop for a high-water premium, or None before the trail is activated."""
    if high_water < activation:
        return None
    return to_tick(high_water * Decimal(str(1 - levels_trail_fraction)), ROUND_DOWN)


def exit_check(
    *,
    at: datetime,
    mark: Decimal | None,
    stop: Decimal | None,
    target: Decimal | None,
    trail: Decimal | None,
    expiry: date,
    entry_time: datetime,
    kill_switch: bool,
    cfg: RiskConfig,
) -> ExitDecision | None:
    """Whether an open long option position must close now, checked in this order: expiry (an
    expired option settles, it cannot be sold), kill switch, square-off time, stop loss, trailing
    stop, target, max holding time. None = keep."""
    if is_expired(expiry, at):
        return ExitDecision(EXPIRY, f"contract expired {expiry}")
    if kill_switch:
        return ExitDecision(KILL_SWITCH, "kill switch: square off everything")
    if _ist_time(at) >= cfg.square_off_at or market_calendar.ist_date(at) > market_calendar.ist_date(
        entry_time
    ):
        return ExitDecision(SQUARE_OFF, f"square-off at {cfg.square_off_at:%H:%M} IST")
    if mark is None:
        return None
    if stop is not None and mark <= stop:
        return ExitDecision(STOP_LOSS, f"premium {mark} <= stop {stop}")
    if trail is not None and mark <= trail:
        return ExitDecision(TRAILING_STOP, f"premium {mark} <= trailing stop {trail}")
    if target is not None and mark >= target:
        return ExitDecision(TARGET, f"premium {mark} >= target {target}")
    if cfg.max_hold_minutes and (at - entry_time).total_seconds() >= cfg.max_hold_minutes * 60:
        return ExitDecision(TIME_EXIT, f"held {cfg.max_hold_minutes} min")
    return None
