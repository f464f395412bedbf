"""Backtests: ``engine.run_cycle`` over a whole history at full speed, in flat memory. Pure.

Sessions stream through: each one's feature rows are computed when it comes (``FeatureStream``,
the rows the whole-history ``feature_frame`` would give) and every strategy runs vectorised over
them after the last ``lookback`` rows before them (``SessionSignals``, through the guard); then the
session's bars are walked in time order and each bar with something to do goes through the very
``engine.run_cycle`` the live loop calls, with that bar's row and signals. Only the source of the rows and signals differs from paper trading (the live loop
builds them bar by bar), and features and strategies promise the same numbers either way, so a
paper run and a backtest over the same bars make the same trades (``tests/engine/test_parity.py``).

``warmup`` sessions run through the features (indicators settle) but are not traded: the live loop
warms its feature builder on the session before the first traded one, and so does the backtest.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from trading.core import calendar as market_calendar
from trading.core import engine, jit, memo, risk
from trading.core.bars import DayBars
from trading.core.features import COLUMNS
from trading.core.live import closing_spot
from trading.core.order_flow import BrokerLike
from trading.core.results import ClosedTrade, CycleResult, OrderRecord, SignalOutcome
from trading.core.session_prep import (
    FeatureMemo,
    Prepared,
    PrepDied,
    SessionPrep,
    batches,
    identity,
    prepared_apart,
)
from trading.core.state import EngineConfig, EngineState, OpenCombo, OpenPosition, SignalInput, StrategySlot
from trading.core.strategies.evaluate import signal_frame_all

BAR = timedelta(minutes=1)


@dataclass
class BacktestResult:
    """What a backtest produced: trades (journal facts), signals, orders, the realised equity curve."""

    trades: list[ClosedTrade] = field(default_factory=list)
    signals: list[SignalOutcome] = field(default_factory=list)
    orders: list[OrderRecord] = field(default_factory=list)
    equity: list[tuple[datetime, Decimal]] = field(default_factory=list)
    bars: int = 0
    sessions: int = 0
    combos: dict[str, OpenCombo] = field(
        default_factory=dict
    )  # multi-leg positions, by id (their legs are trades)
    cycles: int = 0  # bars that went through the engine (the others had nothing to do)
    signal_count: int = 0
    accepted_count: int = 0
    keep_signals: bool = True
    keep_trades: bool = True
    handed_back: Any = None  # what the second reading of the market handed back (``days_again``)
    trade_count: int = 0
    win_count: int = 0
    gross_total: Decimal = Decimal(0)
    charges_total: Decimal = Decimal(0)
    net_total: Decimal = Decimal(0)

    def add_trade(self, closed: ClosedTrade, realised: Decimal) -> None:
        """Count a closed trade into the figures (and keep it unless ``keep_trades`` is off)."""
        self.trade_count += 1
        self.win_count += closed.net_pnl > 0
        self.gross_total += closed.gross_pnl
        self.charges_total += closed.charges
        self.net_total += closed.net_pnl
        self.equity.append((closed.exit_time, realised))
        if self.keep_trades:
            self.trades.append(closed)

    def summary(self) -> dict:
        """Counts, P&L (rupees, net of charges), win rate (%, net > 0), and the max drawdown: the
        largest fall of the equity curve from its running peak, in rupees, >= 0 (as analytics.stats)."""
        n, wins = self.trade_count, self.win_count
        peak = Decimal(0)
        worst = Decimal(0)
        for _, eq in self.equity:
            peak = max(peak, eq)
            worst = min(worst, eq - peak)
        return {
            "sessions": self.sessions,
            "bars": self.bars,
            "cycles": self.cycles,
            "signals": self.signal_count,
            "accepted_signals": self.accepted_count,
            "trades": n,
            "combos": len(self.combos),
            "wins": wins,
            "win_rate": round(100.0 * wins / n, 2) if n else None,
            "gross_pnl": str(self.gross_total),
            "charges": str(self.charges_total),
            "net_pnl": str(self.net_total),
            "max_drawdown": str(-worst),
        }


def signals_by_bar(
    features: pd.DataFrame,
    strategies: Iterable[str],
    params: Mapping[str, Any] | None = None,
) -> dict[int, list[SignalInput]]:
    """Bar start (ns since the epoch, UTC) -> the signals on that bar, in the order of ``strategies``.

    One vectorised pass per strategy over the whole frame (``evaluate.signal_frame_all``, through the
    guard: a failing strategy gives no signals and stops no other).
    """
    names = list(strategies)
    frame = signal_frame_all([(n, (params or {}).get(n)) for n in names], features)
    out: dict[int, list[SignalInput]] = {}
    if len(frame) == 0:
        return out
    keys = _index_ns(frame)
    for key, name, direction, strength, reason in zip(
        keys, frame["strategy"], frame["direction"], frame["strength"], frame["reason"]
    ):
        out.setdefault(int(key), []).append(
            SignalInput(
                strategy=str(name), direction=str(direction), strength=float(strength), reason=str(reason)
            )
        )
    return out


def _index_ns(frame: pd.DataFrame) -> np.ndarray:
    idx = frame.index
    if isinstance(idx, pd.DatetimeIndex):
        if idx.tz is None:
            idx = idx.tz_localize(UTC)
        return idx.as_unit("ns").asi8
    return np.asarray([pd.Timestamp(t).value for t in idx], dtype=np.int64)


class SessionColumns:
    """A session's feature columns (``COLUMNS``) for ``FeatureRow``: the rows of the bars with a
    signal (whose whole row is read: the features stored with the signal) taken out as Python values
    in one ``tolist`` per column; any other row's value converted when it is read."""

    def __init__(self, cols: Mapping[str, np.ndarray], signal_rows: list[int]) -> None:
        self.cols = {name: cols[name] for name in COLUMNS}
        self.picked = {name: col[signal_rows].tolist() for name, col in self.cols.items()}
        self.at = {row: j for j, row in enumerate(signal_rows)}

    def value(self, name: str, i: int) -> Any:
        j = self.at.get(i)
        return self.picked[name][j] if j is not None else _python(self.cols[name][i])

    def row(self, i: int) -> dict:
        j = self.at.get(i)
        if j is not None:
            return {name: column[j] for name, column in self.picked.items()}
        return {name: _python(column[i]) for name, column in self.cols.items()}


class FeatureRow(Mapping):
    """Row ``i`` of a session's feature columns (``COLUMNS`` and ``time``), as ``feature_frame``'s
    records give it, each value as ``ndarray.tolist`` gives it (Python floats, ints, bools, dates):
    built only when the engine reads it whole (a signal, an entry), one value when it reads one."""

    __slots__ = ("_columns", "_i", "_time", "_row")

    def __init__(self, columns: SessionColumns, i: int, time: datetime) -> None:
        self._columns, self._i, self._time, self._row = columns, i, time, None

    def _built(self) -> dict:
        if self._row is None:
            self._row = self._columns.row(self._i)
            self._row["time"] = self._time
        return self._row

    def __getitem__(self, key: str) -> Any:
        if self._row is None and key in self._columns.cols:
            return self._columns.value(key, self._i)
        return self._built()[key]

    def __iter__(self):
        return iter(self._built())

    def __len__(self) -> int:
        return len(COLUMNS) + 1

    def items(self):
        return self._built().items()

    def get(self, key: str, default: Any = None) -> Any:
        if self._row is None and key in self._columns.cols:
            return self._columns.value(key, self._i)
        return self._built().get(key, default)


def _python(value: Any) -> Any:
    """A numpy scalar as the Python value ``tolist`` would give; anything else as it is."""
    return value.item() if isinstance(value, np.generic) else value


_NS = 1_000_000_000
_MINUTE_NS = 60 * _NS
_DAY_NS = 86_400 * _NS
_IST_NS = 19_800 * _NS  # IST is UTC+05:30 all year (no daylight saving)
_TICK = float(risk.TICK)
_EPS = 1e-9


def _ns(dt: datetime) -> int:
    return int(dt.timestamp()) * _NS + dt.microsecond * 1000


@functools.lru_cache(maxsize=1024)
def _close_ns(expiry: date) -> int:
    """The expiry session's close (``calendar.session_close``) in ns since the epoch."""
    return _ns(market_calendar.session_close_utc(expiry))


# hold_quietly's marks kept for a session (Python preferred): position id -> the first bar, and the
# position's float marks from there to the session's end as an array and as a list.
_Marks = dict[str, tuple[int, np.ndarray, list[float]]]


def _position_marks(day: DayBars, position: OpenPosition, lo: int, hi: int) -> np.ndarray:
    """The premium ``mark_price`` gives ``position`` on bars ``lo..hi-1``, as floats before the tick
    (NaN where it gives None: no quote, or neither a positive LTP nor a two-sided quote)."""
    try:
        e = day.expiries.index(position.expiry)
    except ValueError:
        return np.full(hi - lo, np.nan)
    listed = day.strikes[lo:hi, e, :] == position.strike
    found = listed.any(axis=1)
    slot = listed.argmax(axis=1)
    rows = np.arange(hi - lo)
    side = "call" if position.option_type in ("CE", "CALL") else "put"
    ltp = getattr(day, f"{side}_ltp")[lo:hi, e, :][rows, slot]
    bid = getattr(day, f"{side}_bid")[lo:hi, e, :][rows, slot]
    ask = getattr(day, f"{side}_ask")[lo:hi, e, :][rows, slot]
    use_ltp = np.isfinite(ltp) & (ltp > 0)  # (a comparison with NaN is False, with no warning)
    two_sided = np.isfinite(bid) & np.isfinite(ask) & (bid > 0) & (ask > 0)
    out = np.where(use_ltp, ltp, np.where(two_sided, (bid + ask) / 2, np.nan))
    out[~found] = np.nan
    return out


def hold_quietly(
    day: DayBars,
    start: int,
    stop: int,
    state: EngineState,
    config: EngineConfig,
    times_ns: np.ndarray,
    marks: _Marks | None = None,
) -> int:
    """Bars ``start..`` of ``day`` while positions are held and nothing else happens: the first bar
    (< ``stop``, the next signal) on which a cycle might do something is returned, and the bars
    before it are marked as the cycles would have marked them - without running them.

    Call only with open positions, no order in flight and the kill switch off. A bar might do
    something when, for some position, it is past the expiry, the square-off time or the session
    of entry, the holding limit, or its premium comes within a tick (the mark is rounded to it) of
    the stop, the target or the highest trailing stop it could have. On the bars skipped, ``_mark``'s
    effects are applied in one step: the last mark, the high and low water, and the trailing stop of
    the new high water (the trail only ratchets up with the high water, so that is where the bar-by-
    bar updates end). Only the extremes and the last mark are rounded to the tick (``_mark_stretch``).
    Where numba runs (``core.jit``), each position's bars are scanned compiled and the scan stops at
    the first bar near a level (``_quiet_scan``); else in Python (``_scan_python``), where ``marks``
    (position id -> the first bar and its float marks from there to the session's end, as an array
    and a list) keeps them between the calls of one session: a position's marks are worked out once
    in numpy, then scanned from the call's first bar to the first near one (``_scan_floats``).
    Either scan hands back how many bars each position's own scan found quiet, with their highest,
    lowest and last mark: a stretch its own scan ended is marked from those (``_mark_extremes``), one
    another position's scan ended through ``_mark_stretch``."""
    if start >= stop:
        return start
    cfg = config.risk
    # The clock's reasons are thresholds on the cycle's time (the bar's end), which only grows: the
    # square-off of the session's IST day, each position's expiry close, the end of its day of entry
    # and its holding limit. The earliest of them ends the stretch at the latest.
    at_first = int(times_ns[start]) + _MINUTE_NS
    square_off = cfg.square_off_at.hour * 3600 + cfg.square_off_at.minute * 60 + cfg.square_off_at.second
    limit = (at_first + _IST_NS) // _DAY_NS * _DAY_NS - _IST_NS + square_off * _NS
    for position in state.positions.values():
        entered = _ns(position.entry_time)
        limit = min(limit, _close_ns(position.expiry))
        limit = min(limit, ((entered + _IST_NS) // _DAY_NS + 1) * _DAY_NS - _IST_NS)
        if cfg.max_hold_minutes:
            limit = min(limit, entered + cfg.max_hold_minutes * _MINUTE_NS)
    stop = start + int(times_ns[start:stop].searchsorted(limit - _MINUTE_NS, side="left"))  # end >= limit
    if stop == start:
        return start
    stretch: dict[str, np.ndarray] = {}
    extremes: dict[str, tuple[int, Any]] = {}  # each position's own quiet bars and their extremes
    if jit.compiled(stop - start):
        end = stop
        for position in state.positions.values():  # each scanned up to the first busy bar so far
            quiet, stretch[position.position_id], ends = _scan_compiled(day, position, start, end)
            extremes[position.position_id] = (quiet, ends)
            end = min(end, start + quiet)
    else:
        end = _scan_python(day, start, stop, state, marks, stretch, extremes)
    if end == start:
        return start
    for position in state.positions.values():
        quiet, ends = extremes.get(position.position_id, (-1, None))
        if quiet == end - start:  # its own scan ended the stretch: its extremes are the stretch's
            _mark_extremes(position, float(ends[0]), float(ends[1]), float(ends[2]))
        else:
            _mark_stretch(position, stretch[position.position_id][: end - start])
    state.last_bar_time = datetime.fromtimestamp(int(times_ns[end - 1]) / 1e9, tz=UTC)  # day.bar_time
    return end


def _levels(position: OpenPosition) -> tuple:
    """A position's thresholds as ``_quiet_scan`` takes them (NaN where there is none)."""
    nan = math.nan
    return (
        nan if position.stop is None else float(position.stop) + _TICK + _EPS,
        nan if position.target is None else float(position.target) - _TICK - _EPS,
        nan if position.high_water is None else float(position.high_water),
        1 - position.trail_fraction,
        nan if position.trail is None else float(position.trail),
        nan if position.trail_activation is None else float(position.trail_activation) - _TICK,
    )


def _scan_compiled(
    day: DayBars, position: OpenPosition, start: int, stop: int
) -> tuple[int, np.ndarray, np.ndarray]:
    """``_quiet_scan`` of one position over bars ``start..stop-1``: how many bars are quiet for it,
    its float marks from ``start`` (written up to the first bar that is not), and the highest,
    lowest and last known of the quiet bars' marks (NaN when none is known)."""
    out = np.empty(stop - start)
    ends = np.empty(3)  # the kernel starts it at NaN
    try:
        e = day.expiries.index(position.expiry)
    except ValueError:  # not listed in this session: no mark, nothing near (as _position_marks)
        out.fill(np.nan)
        ends.fill(np.nan)
        return stop - start, out, ends
    side = "call" if position.option_type in ("CE", "CALL") else "put"
    global _quiet_scan_compiled
    if _quiet_scan_compiled is None:
        _quiet_scan_compiled = jit.njit(_quiet_scan)
    quiet = _quiet_scan_compiled(
        day.strikes[:, e, :],
        getattr(day, f"{side}_ltp")[:, e, :],
        getattr(day, f"{side}_bid")[:, e, :],
        getattr(day, f"{side}_ask")[:, e, :],
        float(position.strike),
        start,
        stop,
        *_levels(position),
        out,
        ends,
    )
    return int(quiet), out, ends


_quiet_scan_compiled = None  # _quiet_scan compiled by numba, on first use


def _quiet_scan(strikes, ltp, bid, ask, strike, start, stop, stop_at, target_at, high_water, keep, trail,
                activation_at, out, ends):  # type: ignore[no-untyped-def]  # fmt: skip
    """The scan of one position's bars ``start..stop-1``, compiled (``core.jit``): each bar's mark
    is ``_position_marks``'s (the LTP when positive, else the mid of a two-sided quote, else NaN),
    written to ``out``, then tested against the levels (``_levels``'s) as ``_scan_floats`` tests it -
    the same operations on the same doubles in the same order, so the same answer; it stops at the
    first bar near a level. Returns the quiet bars before it (``stop - start`` when none is); ``ends``
    gets the highest, lowest and last known mark of those quiet bars (NaN when none is known):
    what ``_mark_stretch`` would take of them."""
    run = math.nan  # the highest mark so far: NaN until the first known one
    ends[0] = ends[1] = ends[2] = math.nan
    for i in range(start, stop):
        mark = math.nan
        for k in range(strikes.shape[1]):
            if strikes[i, k] == strike:
                last = ltp[i, k]
                if math.isfinite(last) and last > 0:
                    mark = last
                else:
                    b, a = bid[i, k], ask[i, k]
                    if math.isfinite(b) and math.isfinite(a) and b > 0 and a > 0:
                        mark = (b + a) / 2
                break
        out[i - start] = mark
        if math.isnan(mark):
            continue  # every comparison with NaN is False: not near
        if math.isnan(run) or mark > run:
            run = mark
        if mark <= stop_at or mark >= target_at:
            return i - start
        high = run + _TICK
        if not math.isnan(high_water) and high_water > high:
            high = high_water
        cap = high * keep
        if not math.isnan(trail):
            if trail > cap:
                cap = trail
        elif not math.isnan(activation_at) and not high >= activation_at:
            cap = -math.inf
        if mark <= cap + _TICK + _EPS:
            return i - start
        if not mark <= ends[0]:  # NaN until the first quiet mark
            ends[0] = mark
        if not mark >= ends[1]:
            ends[1] = mark
        ends[2] = mark
    return stop - start


def _scan_python(day, start, stop, state, marks, stretch, extremes) -> int:  # type: ignore[no-untyped-def]
    """``hold_quietly``'s scan where Python is preferred: each position's marks worked out once a
    session (``_position_marks``, kept in ``marks``), then ``_scan_floats`` over them up to the first
    bar near a level of some position (``stop`` when none is), as the compiled scan goes; each
    position's marks from ``start`` go to ``stretch``, and how many bars its own scan found quiet
    with their highest, lowest and last mark to ``extremes`` (as ``_scan_compiled`` hands them)."""
    end = stop
    for position in state.positions.values():
        known = marks.get(position.position_id) if marks is not None else None
        if known is None:
            rest = _position_marks(day, position, start, len(day))
            known = (start, rest, rest.tolist())
            if marks is not None:
                marks[position.position_id] = known
        first, rest, floats = known
        stretch[position.position_id] = rest[start - first : stop - first]
        ends = [math.nan, math.nan, math.nan]
        quiet = _scan_floats(floats, start - first, end - first, *_levels(position), ends)
        extremes[position.position_id] = (quiet, ends)
        end = start + quiet
    return end


def _scan_floats(marks, lo, hi, stop_at, target_at, high_water, keep, trail, activation_at, ends=None) -> int:  # type: ignore[no-untyped-def]
    """``_quiet_scan``'s test of the levels over a position's float marks ``marks[lo:hi]`` (a list:
    ``_position_marks``'s, each finite or NaN) in Python: the quiet bars before the first near one
    (``hi - lo`` when none is). The same operations on the same doubles in the same order as
    ``_quiet_scan``, its checks of NaN levels taken once before the loop (a NaN high water never
    raises the high, which is finite once a mark is known) - so the same answer
    (``tests/engine/test_hold_quietly.py``). ``ends`` (a list of three), as the kernel's: the
    highest, lowest and last known mark of the quiet bars (NaN when none is known)."""
    has_high_water = not math.isnan(high_water)
    has_trail = not math.isnan(trail)
    has_activation = not math.isnan(activation_at)
    run = math.nan
    top = bottom = last = math.nan
    quiet = hi - lo
    for i in range(lo, hi):
        mark = marks[i]
        if mark != mark:
            continue  # no mark (NaN): not near
        if run != run or mark > run:
            run = mark
        if mark <= stop_at or mark >= target_at:
            quiet = i - lo
            break
        high = run + _TICK
        if has_high_water and high_water > high:
            high = high_water
        cap = high * keep
        if has_trail:
            if trail > cap:
                cap = trail
        elif has_activation and not high >= activation_at:
            cap = -math.inf
        if mark <= cap + _TICK + _EPS:
            quiet = i - lo
            break
        if not mark <= top:  # NaN until the first quiet mark
            top = mark
        if not mark >= bottom:
            bottom = mark
        last = mark
    if ends is not None:
        ends[0], ends[1], ends[2] = top, bottom, last
    return quiet


def _mark_stretch(position: OpenPosition, v: np.ndarray) -> None:
    """``exits._mark`` of every bar of a quiet stretch at once (see ``hold_quietly``).

    ``v`` holds the floats ``mark_price`` rounds (the LTP, else the bid/ask mid, computed as it does),
    and its rounding to the tick is monotonic, so the highest mark is the tick of the highest float,
    the lowest the tick of the lowest, and only those and the last go through ``risk.to_tick``.
    """
    top = float(np.fmax.reduce(v))  # fmax/fmin skip NaN: NaN only when every mark is unknown
    if math.isnan(top):
        return
    unknown = np.isnan(v)
    _mark_extremes(
        position, top, float(np.fmin.reduce(v)), float(v[v.shape[0] - 1 - int(unknown[::-1].argmin())])
    )


def _mark_extremes(position: OpenPosition, top: float, bottom: float, final: float) -> None:
    """``_mark_stretch`` from the stretch's highest, lowest and last known float marks (all NaN when
    none is known: nothing moves)."""
    if math.isnan(top):
        return
    high, low, last = risk.to_tick(top), risk.to_tick(bottom), risk.to_tick(final)
    position.last_price = last
    position.high_water = high if position.high_water is None else max(position.high_water, high)
    position.low_water = low if position.low_water is None else min(position.low_water, low)
    trail = risk.trail_level(position.high_water, position.trail_fraction, position.trail_activation)
    if trail is not None and (position.trail is None or trail > position.trail):
        position.trail = trail


# Sessions whose signals are computed in one pass (``run_backtest``'s ``session_batch``): a stream's
# are held at once (~3-6 MB each), a sequence's are the caller's anyway. Measured on a year of the 14
# strategies in memory: 5 -> 25 cut the signals from 0.16 s to 0.10 s of CPU; 250 gave no more.
STREAM_BATCH = 5
HELD_BATCH = 25


def run_backtest(
    days: Iterable[DayBars],
    *,
    strategies: Mapping[str, StrategySlot],
    broker: BrokerLike,
    config: EngineConfig,
    params: Mapping[str, Any] | None = None,
    iv_history: Any = None,
    warmup: Iterable[DayBars] = (),
    state: EngineState | None = None,
    on_cycle: Callable[[CycleResult], None] | None = None,
    on_session: Callable[[date, int], None] | None = None,
    keep_signals: bool = True,
    keep_trades: bool = True,
    on_closed: Callable[[ClosedTrade], None] | None = None,
    session_batch: int | None = None,
    days_again: Callable[[], Iterable[DayBars]] | None = None,
    features: FeatureMemo | None = None,
) -> BacktestResult:
    """Trade ``days`` (sessions in time order) through ``engine.run_cycle``, bar by bar.

    ``strategies``: the slots to trade, in the order their signals are taken on a bar (the registry
    order, as the live loop). ``params``: strategy parameters by name. Returns every trade, signal and
    order (``keep_signals=False``: only their counts in ``summary()``, and no feature rows built for
    them - ``on_cycle`` sees them without; ``keep_trades=False``: the
    trades only through ``on_closed`` as they close, e.g. into the journal, and their figures in
    ``summary()``); ``on_cycle`` sees each cycle's result (persistence), ``on_session(session,
    bars)`` each session done (progress).

    Streaming, in flat memory: ``days`` is consumed one session at a time (a generator is never held
    whole); each session's feature rows (``FeatureStream``) and signals (``SessionSignals``) are
    computed when it comes, equal to the whole-history frame's. A bar with nothing to do - no
    signal, no open position, no order in flight - skips the cycle, which would change nothing on it
    (the risk figures roll to a new session at the next cycle, which reads only the session's date).

    ``days_again``: a second reading of ``days`` (the same sessions in the same order, e.g. the
    store read again; ``apart.can_fork()`` must hold). Given, the feature rows and signals
    are computed from it in a forked process while this one trades (``session_prep.prepared_apart``:
    two cores, the same numbers); each session must have been read from the same data in both
    (``DayBars.read_from``), else ``PrepDied``. What the second reading's ``finish()`` returns is
    ``result.handed_back``. Call it while this process runs no other thread.

    ``session_batch``: the sessions whose signals are computed in one pass (each strategy's pass
    costs a fixed ~0.1 ms of numpy calls, whatever its length), held at once: by default 5 for a
    stream of sessions (``STREAM_BATCH``: flat memory), 25 when ``days`` is a sequence, whose
    sessions the caller holds anyway (``HELD_BATCH``: a sweep's market, sessions pre-built in memory).

    ``features``: a ``session_prep.FeatureMemo`` of this very market (``days`` and ``warmup``, the
    same IV history and index): sealed, the sessions' feature rows are taken from it instead of
    computed (a sweep's combinations after the first); not yet, they are kept in it for the caller to
    ``seal()``. Not with ``days_again`` (the rows are then computed apart).
    """
    names = [n for n, slot in strategies.items() if slot.enabled]
    warmup = list(warmup)
    if session_batch is None:
        session_batch = HELD_BATCH if isinstance(days, Sequence) else STREAM_BATCH
    apart = None
    if days_again is not None:
        apart = prepared_apart(
            days_again, names=names, params=params, iv_history=iv_history, index=config.index,
            warmup=warmup, batch=session_batch,
        )  # fmt: skip
    try:
        prep = SessionPrep(names, params, iv_history, config.index, features) if apart is None else None
        run = Trading(
            strategies, broker, config, state, keep_signals=keep_signals, keep_trades=keep_trades,
            on_cycle=on_cycle, on_closed=on_closed, on_session=on_session,
        )  # fmt: skip
        run.warm(warmup, prep)
        # Inline, the sessions come in batches (the signals of a batch in one pass); prepared apart,
        # one at a time, so that this process holds no session it is not trading.
        for batch in batches(days, session_batch if prep is not None else 1):
            ready = prep.batch(batch) if prep is not None else [_apart_next(apart, batch[0])]
            for day, prepared in zip(batch, ready, strict=True):
                run.trade(day, prepared)
            # Let go of the batch before the next is read: a session's memory goes with its last
            # reference, and the sessions held at once are the peak (flat memory).
            batch = ready = day = prepared = None
        result = run.result
        if apart is not None:
            seen, result.handed_back = next(apart, (None, None))
            if seen is not None:
                raise PrepDied(f"the sessions prepared apart go on after the last one traded ({seen[0]})")
    finally:
        if apart is not None:
            apart.close()  # the child stopped and reaped, however the loop ended
    return result


class Trading:
    """What the loop of ``run_backtest`` keeps from one session to the next: the engine state, the
    result so far, the realised P&L, each session's closing spot (the settlement lookup's memory).
    ``trade(day, prepared)`` trades the next session, its rows and signals prepared."""

    def __init__(
        self,
        strategies: Mapping[str, StrategySlot],
        broker: BrokerLike,
        config: EngineConfig,
        state: EngineState | None,
        *,
        keep_signals: bool = True,
        keep_trades: bool = True,
        on_cycle: Callable[[CycleResult], None] | None = None,
        on_closed: Callable[[ClosedTrade], None] | None = None,
        on_session: Callable[[date, int], None] | None = None,
    ) -> None:
        self.slots = dict(strategies)
        self.broker, self.config = broker, config
        self.state = state or EngineState(index=config.index)
        self.result = BacktestResult()
        self.result.keep_signals, self.result.keep_trades = keep_signals, keep_trades
        self.on_cycle, self.on_closed, self.on_session = on_cycle, on_closed, on_session
        self.closes: dict[date, float | None] = {}  # one float per session
        self.realised = Decimal(0)
        self.forget_orders = getattr(broker, "forget_finished", None)

    def warm(self, days: Iterable[DayBars], prep: SessionPrep | None, *, signals: bool = True) -> None:
        """Sessions before the traded ones: their closing spots kept (settlement), and through
        ``prep``'s features and strategies (``SessionPrep.warm``) when the rows are worked out here."""
        for day in days:
            self.closes[day.session] = closing_spot(day)
            if prep is not None:
                prep.warm(day, signals=signals)

    def settlement(self, index: str, expiry: date) -> float | None:
        """The close of the expiry session's last minute among the sessions backtested so far."""
        return self.closes.get(expiry) if index.upper() == self.config.index.upper() else None

    def trade(self, day: DayBars, prepared: Prepared) -> None:
        result, state = self.result, self.state
        result.sessions += 1
        self.closes[day.session] = closing_spot(day)
        _, cols, by_row = prepared
        if cols is None:
            return
        memo.forget()  # flat memory: no session's memos kept for the next (core.memo)
        self.realised = _trade_session(
            day, cols, by_row, state, self.broker, self.slots, self.config, self.settlement, result,
            self.on_cycle, self.on_closed, result.keep_signals, self.realised,
        )  # fmt: skip
        if self.forget_orders is not None and not (state.positions or state.pending or state.combos):
            self.forget_orders()  # the session's finished orders (PaperBroker.forget_finished)
        if self.on_session is not None:
            self.on_session(day.session, len(day))


def _trade_session(
    day, cols, by_row, state, broker, slots, config, settlement, result, on_cycle, on_closed, keep_signals,
    realised,
) -> Decimal:  # fmt: skip
    """The engine over one session's bars with something to do (see ``run_backtest``); returns the
    realised P&L so far."""
    signal_rows = sorted(by_row)
    columns = SessionColumns(cols, signal_rows)
    times_ns = cols["_ns"]
    marks: _Marks = {}  # hold_quietly's marks of the session's positions
    n = len(day)
    result.bars += n
    k = 0
    i = 0
    while i < n:
        if not state.positions and not state.pending and not state.combos:
            while k < len(signal_rows) and signal_rows[k] < i:
                k += 1
            if k == len(signal_rows):
                break
            i = signal_rows[k]  # the next bar with something to do
        bar = day.bar(i)
        row = FeatureRow(columns, i, bar.time)
        cycle = engine.run_cycle(
            at=bar.time + BAR,
            bar=bar,
            row=row,
            signals=by_row.get(i, []),
            state=state,
            broker=broker,
            strategies=slots,
            config=config,
            settlement=settlement,
            signal_features=keep_signals,  # positions keep theirs; discarded signals need none
        )
        result.cycles += 1
        result.signal_count += len(cycle.signals)
        result.accepted_count += sum(1 for s in cycle.signals if s.accepted)
        if keep_signals:
            result.signals.extend(cycle.signals)
            result.orders.extend(cycle.orders)
        for closed in cycle.closed:
            realised += closed.net_pnl
            result.add_trade(closed, realised)
            if on_closed is not None:
                on_closed(closed)
        for combo in cycle.combos:
            result.combos[combo.combo_id] = combo
        if on_cycle is not None:
            on_cycle(cycle)
        i += 1
        if _quiet(state):
            while k < len(signal_rows) and signal_rows[k] < i:
                k += 1
            nxt = signal_rows[k] if k < len(signal_rows) else n
            i = hold_quietly(day, i, nxt, state, config, times_ns, marks)
    return realised


def _apart_next(apart: Iterator, day: DayBars) -> Prepared:
    """The next session prepared apart: ``day``'s, read from what ``day`` was read from."""
    seen, prepared = next(apart, (None, None))
    if seen != identity(day):
        found = "none" if seen is None else f"{seen[0]} ({seen[1]})"
        raise PrepDied(
            f"the session prepared apart is not the one traded: {found} for {day.session} "
            f"({identity(day)[1]}) - was the store written during the run? Run it again."
        )
    return prepared


def _quiet(state: EngineState) -> bool:
    """Whether the bars up to the next signal may be held without cycles (``hold_quietly``): long
    single options only, nothing in flight, no combo (a combo's exits are on its summed P&L and its
    legs may be short), the kill switch off."""
    return (
        bool(state.positions)
        and not state.pending
        and not state.combos
        and not state.risk.kill_switch
        and all(position.sign > 0 for position in state.positions.values())
    )
