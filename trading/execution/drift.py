"""The drift report: what the desk traded (PAPER or LIVE) against what the backtest trades on the
market data recorded for the same sessions, trade by trade (``analytics.drift``).

For each session with engine trades in the asked modes, the session's minute bars are read back from
the market-data store (``StoreFeed``: what the desk's recorder wrote), warmed on the stored sessions
before it as the live desk warms its features, and traded through ``core.backtest.run_backtest`` with
the configuration in force at that session's open: the strategies' ``StrategyConfig`` rows with every
audited change made after the open undone (``configuration_at``), the paper fill model of the desk
(``live.backtest_broker``) and the risk rules of the settings (not versioned: today's). Nothing is stored.

A session the desk traded on the simulated market (every trade's data source SIM) and the store does
not hold is regenerated from the simulator the paper loop ran (``TradingState.feed_seed`` and
``feed_start``; the simulator is deterministic), warmed and IV-ranked as the desk's features were.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings

from analytics import drift as drift_figures
from analytics.drift import DriftReport, DriftTrade
from journal.models import Trade, TradeOrigin
from trading import access, formats
from trading.core import calendar as market_calendar
from trading.core.backtest import run_backtest
from trading.core.live import SimSource
from trading.core.state import StrategySlot
from trading.core.strategies import registry as strategy_registry
from trading.core.strategies.base import ParamError
from trading.execution.config import engine_config, risk_config, setting
from trading.execution.live import backtest_broker
from trading.execution.models import Order, TradingState
from trading.marketdata.base import NoData
from trading.marketdata.store.eod import iv_history
from trading.marketdata.store.store import MarketDataStore
from trading.marketdata.store_feed import StoreFeed
from trading.strategies.models import Signal, SignalStatus, StrategyConfig, StrategyConfigAudit
from trading.strategies.services import CONFIG_FIELDS, clean_field, ensure_strategy_configs

__all__ = [
    "DriftResult",
    "backtest_session",
    "backtest_sim_session",
    "desk_simulator",
    "configuration_at",
    "desk_sessions",
    "drift_report_build",
    "traded_trades",
]

TRADED_MODES = ("PAPER", "LIVE")


@dataclass
class DriftResult:
    """The report (rows, summary, totals) and, per session asked, why it was left out if it was."""

    report: DriftReport
    index: str
    start: date
    end: date
    modes: tuple[str, ...]
    sessions: list[date] = field(default_factory=list)  # sessions compared
    skipped: dict[date, str] = field(default_factory=dict)  # session -> why it was not compared
    sources: dict[date, str] = field(default_factory=dict)  # session -> the market data backtested


def _undo(value: str) -> Any:
    """An audit's old text back to its value (``strategies.services._text``: JSON, or a plain string)."""
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return value


def configuration_at(index: str, at: datetime) -> tuple[dict[str, StrategySlot], dict[str, dict]]:
    """The strategies' slots and parameters of ``index`` as they stood at ``at``: today's rows with every
    audited change made after ``at`` undone, newest first. Returns (enabled slots in registry order,
    parameters by name)."""
    rows = {c.name: c for c in StrategyConfig.objects.filter(index=index)}
    if not rows:
        ensure_strategy_configs()
        rows = {c.name: c for c in StrategyConfig.objects.filter(index=index)}
    state = {name: {f: getattr(c, f) for f in CONFIG_FIELDS} for name, c in rows.items()}
    for entry in state.values():
        entry["parameters"] = dict(entry["parameters"] or {})
    audits = StrategyConfigAudit.objects.filter(config__in=rows.values(), at__gt=at).order_by("-at", "-id")
    for audit in audits.select_related("config"):
        entry = state[audit.config.name]
        if audit.field.startswith("parameters."):
            key = audit.field.split(".", 1)[1]
            if audit.old_value == "":
                entry["parameters"].pop(key, None)
            else:
                entry["parameters"][key] = _undo(audit.old_value)
        elif audit.field in entry:
            try:  # back to its stored type, as the configuration service keeps it
                entry[audit.field] = clean_field(audit.field, _undo(audit.old_value))
            except ParamError:
                entry[audit.field] = _undo(audit.old_value)
    slots: dict[str, StrategySlot] = {}
    params: dict[str, dict] = {}
    for name in strategy_registry.names():
        entry = state.get(name)
        if entry is None or not entry["enabled"]:
            continue
        slots[name] = StrategySlot(
            name=name,
            enabled=True,
            capital_allocation=Decimal(entry["capital_allocation"]),
            max_open_positions=int(entry["max_open_positions"]),
            cooldown_minutes=int(entry["cooldown_minutes"]),
        )
        params[name] = entry["parameters"]
    return slots, params


def _drift_trade(
    *,
    trade_id: str,
    strategy: str,
    instrument_type: str,
    tradingsymbol: str,
    quantity: int,
    entry_time: datetime,
    exit_time: datetime,
    entry_price: Decimal,
    exit_price: Decimal,
    exit_type: str,
    charges: Decimal,
    net_pnl: Decimal,
) -> DriftTrade:
    return DriftTrade(
        trade_id=trade_id,
        strategy=strategy,
        session=market_calendar.ist_date(entry_time),
        instrument_type=instrument_type,
        tradingsymbol=tradingsymbol,
        quantity=int(quantity),
        entry_time=entry_time,
        exit_time=exit_time,
        entry_price=Decimal(entry_price),
        exit_price=Decimal(exit_price),
        exit_type=exit_type,
        charges=Decimal(charges),
        net_pnl=Decimal(net_pnl),
    )


def traded_trades(
    index: str, start: date, end: date, modes: tuple[str, ...] = TRADED_MODES
) -> list[DriftTrade]:
    """The engine's trades of ``index`` in ``modes`` entered in sessions ``start..end`` (trades entered by
    hand or imported are not the engine's to compare)."""
    rows = Trade.objects.filter(
        symbol=index, entry_mode__in=modes, origin=TradeOrigin.ENGINE, trade_date__range=(start, end)
    ).order_by("entry_time", "id")
    return [
        _drift_trade(
            trade_id=t.trade_id,
            strategy=t.strategy_name,
            instrument_type=t.instrument_type,
            tradingsymbol=t.tradingsymbol,
            quantity=t.quantity,
            entry_time=t.entry_time,
            exit_time=t.exit_time,
            entry_price=t.entry_price,
            exit_price=t.exit_price,
            exit_type=t.exit_type,
            charges=t.total_charges,
            net_pnl=t.net_pnl,
        )
        for t in rows
    ]


def desk_sessions(index: str, start: date, end: date, modes: tuple[str, ...] = TRADED_MODES) -> set[date]:
    """Sessions in ``start..end`` the desk ran in ``modes``: those with a stored signal of ``index``
    (the desk stores every signal it sees, taken or not), so a day it traded nothing still counts."""
    lo = market_calendar.session_open(start) - timedelta(hours=4)
    hi = market_calendar.session_close(end) + timedelta(hours=4)
    times = Signal.objects.filter(index=index, mode__in=modes, bar_time__range=(lo, hi)).values_list(
        "bar_time", flat=True
    )
    return {d for d in (market_calendar.ist_date(t) for t in times.distinct()) if start <= d <= end}


def _warmup_count(warmup_sessions: int | None) -> int:
    return int(setting("FEATURE_WARMUP_SESSIONS", 5) if warmup_sessions is None else warmup_sessions)


def _backtest_day(
    index: str,
    session: date,
    day,
    warm: list,
    iv: Any,
    *,
    mode: str,
    source: str,
    signals: dict[tuple[str, datetime], str] | None = None,
) -> list[DriftTrade]:
    """Trade one session's bars (after ``warm``) with the configuration in force at its open;
    ``signals`` (when given) gets what the backtest did with each signal, by (strategy, bar start)."""
    slots, params = configuration_at(index, market_calendar.session_open(session))
    config = engine_config(index, mode=mode, data_source=source, position_prefix=f"DRIFT{session:%Y%m%d}-")
    result = run_backtest(
        [day],
        strategies=slots,
        broker=backtest_broker(),
        config=config,
        params=params,
        iv_history=iv,
        warmup=warm,
    )
    if signals is not None:
        for outcome in result.signals:
            taken = "took the signal" if outcome.accepted else f"rejected the signal: {outcome.reject_reason}"
            signals[(outcome.signal.strategy, outcome.bar_time)] = f"the backtest {taken}"
    return [
        _drift_trade(
            trade_id=c.trade["trade_id"],
            strategy=c.trade["strategy_name"],
            instrument_type=c.trade["instrument_type"],
            tradingsymbol=c.trade["tradingsymbol"],
            quantity=c.trade["quantity"],
            entry_time=c.trade["entry_time"],
            exit_time=c.exit_time,
            entry_price=c.trade["entry_price"],
            exit_price=c.exit_price,
            exit_type=c.exit_type,
            charges=c.charges,
            net_pnl=c.net_pnl,
        )
        for c in result.trades
    ]


def backtest_session(
    feed: StoreFeed,
    session: date,
    *,
    mode: str = "PAPER",
    warmup_sessions: int | None = None,
    iv_closes: Any = None,
    signals: dict | None = None,
) -> list[DriftTrade]:
    """The trades the backtest makes on ``session`` from the store, with the configuration in force at
    the session's open; ``NoData`` when the store has no minute bars for it. ``iv_closes``: the closing
    ATM IV history the features rank against (default: the store's end-of-day history before the
    session, ``eod.iv_history``)."""
    index = feed.index
    day = feed.day(session)
    count = _warmup_count(warmup_sessions)
    before = [d for d in feed.sessions if d < session][-count:] if count > 0 else []
    iv = iv_history(feed.store, index, before=session) if iv_closes is None else iv_closes
    warm = [feed.day(d) for d in before]
    return _backtest_day(index, session, day, warm, iv, mode=mode, source=feed.source, signals=signals)


def signal_bar(entry_time: datetime) -> datetime:
    """The start of the bar whose signal an entry at ``entry_time`` answered: entries fill at a bar's
    close (the next minute), a live fill a few seconds after it."""
    return entry_time.replace(second=0, microsecond=0) - timedelta(minutes=1)


def why_missed(index: str, modes: tuple[str, ...], strategy: str, entry_time: datetime) -> str:
    """What the desk did with the signal behind a backtest entry it did not make: the signal it stored
    on that bar (the entry fills at the bar's close, one minute after its start) and, if it took it,
    its entry order's fate."""
    signal = (
        Signal.objects.filter(
            strategy_name=strategy, index=index, mode__in=modes, bar_time=signal_bar(entry_time)
        )
        .order_by("id")
        .first()
    )
    if signal is None:
        return "the desk stored no signal of this strategy on that bar"
    order = Order.objects.filter(signal=signal, purpose="ENTRY", parent__isnull=True).order_by("id").first()
    if order is not None:
        reason = f" ({order.status_reason})" if order.status_reason else ""
        return f"the desk's entry order {order.client_order_id} ended {order.status}{reason}"
    if signal.status != SignalStatus.ACCEPTED:
        return f"the desk rejected the signal: {signal.reject_reason or signal.status}"
    return "the desk accepted the signal but sent no order"


def desk_simulator(index: str) -> SimSource | None:
    """The simulated market the paper loop (``runtrader``) last ran, from its ``TradingState`` (seed and
    first session); None when it never ran one. The simulator is deterministic: its sessions are the
    recording of what the desk saw, as long as the loop kept that seed and start."""
    ts = TradingState.objects.filter(index=index).first()
    if ts is None or ts.feed_seed is None or ts.feed_start is None:
        return None
    return SimSource(index=index, seed=ts.feed_seed, start=ts.feed_start)


def backtest_sim_session(
    source: SimSource,
    session: date,
    *,
    mode: str = "PAPER",
    warmup_sessions: int | None = None,
    signals: dict | None = None,
) -> list[DriftTrade]:
    """The trades the backtest makes on a simulated ``session``, warmed like the desk's features on the
    simulated sessions before it (none before the simulation's first), with its IV history."""
    count = _warmup_count(warmup_sessions)
    warm: list[date] = []
    prev = session
    for _ in range(count):
        prev = market_calendar.previous_trading_day(prev)
        if source.first_session is not None and prev < source.first_session:
            break
        warm.insert(0, prev)
    return _backtest_day(
        source.index,
        session,
        source.day(session),
        [source.day(d) for d in warm],
        source.iv_history(),
        mode=mode,
        source="SIM",
        signals=signals,
    )


def drift_report_build(
    *,
    user: Any,
    start: date,
    end: date,
    index: str = "NIFTY",
    modes: tuple[str, ...] = TRADED_MODES,
    store: MarketDataStore | str | Path | None = None,
    tolerance: timedelta = drift_figures.DEFAULT_TOLERANCE,
    iv_closes: Any = None,
) -> DriftResult:
    """Compare the engine's ``modes`` trades of ``index`` in sessions ``start..end`` with the backtest of
    the recorded sessions (``store``: default ``settings.MARKETDATA_DIR``). A session with trades but no
    recording (nor a simulator to regenerate it) is listed in ``skipped`` and its trades are left out
    (they cannot be judged); ``sources`` says what each compared session was backtested on.
    ``iv_closes``: see ``backtest_session``. A ``user``
    needs ``access.VIEW_JOURNAL``; None is the system itself."""
    if user is not None:
        access.require(user, access.VIEW_JOURNAL)
    index = index.upper()
    modes = tuple(m.upper() for m in modes)
    feed = StoreFeed(store if store is not None else settings.MARKETDATA_DIR, index)
    traded = traded_trades(index, start, end, modes)
    by_session: dict[date, list[DriftTrade]] = {}
    for t in traded:
        by_session.setdefault(t.session, []).append(t)
    for session in desk_sessions(index, start, end, modes):
        by_session.setdefault(session, [])
    recorded = set(feed.sessions)
    # Sessions the desk traded on the simulator (every trade's data source SIM) can be regenerated.
    sim_trades = Trade.objects.filter(
        symbol=index, entry_mode__in=modes, origin=TradeOrigin.ENGINE, trade_date__range=(start, end)
    )
    simulated = set(sim_trades.filter(data_source="SIM").values_list("trade_date", flat=True)) - set(
        sim_trades.exclude(data_source="SIM").values_list("trade_date", flat=True)
    )
    sim = desk_simulator(index) if simulated else None
    sources: dict[date, str] = {}
    outcomes: dict[tuple[str, datetime], str] = {}
    backtested: list[DriftTrade] = []
    compared: list[date] = []
    skipped: dict[date, str] = {}
    # A session traded LIVE is backtested as LIVE (contract selection asks the calendar as LIVE does).
    live = set()
    if "LIVE" in modes:
        live = set(
            Trade.objects.filter(
                symbol=index, entry_mode="LIVE", origin=TradeOrigin.ENGINE, trade_date__range=(start, end)
            ).values_list("trade_date", flat=True)
        )
        if modes == ("LIVE",):
            live |= set(by_session)
    for session in sorted(by_session):
        mode = "LIVE" if session in live else "PAPER"
        try:
            if session in recorded:
                backtested.extend(
                    backtest_session(feed, session, mode=mode, iv_closes=iv_closes, signals=outcomes)
                )
                sources[session] = "store"
            elif session in simulated and sim is not None and session >= (sim.first_session or session):
                backtested.extend(backtest_sim_session(sim, session, mode=mode, signals=outcomes))
                sources[session] = f"simulator (seed {sim.seed}, from {sim.first_session})"
            else:
                skipped[session] = "no market data recorded for this session in the store"
                continue
        except NoData as exc:
            skipped[session] = str(exc)
            continue
        compared.append(session)
    kept = [t for t in traded if t.session in set(compared)]
    report = drift_figures.drift_report(backtested, kept, tolerance=tolerance)
    for row in report.rows:
        if row["status"] == drift_figures.MISSED:
            row["note"] = why_missed(index, modes, row["strategy"], row["backtest_entry_time"])
        elif row["status"] == drift_figures.EXTRA:
            key = (row["strategy"], signal_bar(row["traded_entry_time"]))
            row["note"] = outcomes.get(key, "the backtest had no signal of this strategy on that bar")
    return DriftResult(
        report=report,
        index=index,
        start=start,
        end=end,
        modes=modes,
        sessions=compared,
        skipped=skipped,
        sources=sources,
    )


def risk_note() -> str:
    """What the report cannot reconstruct: the risk rules are today's settings."""
    rules = risk_config()
    return (
        f"risk rules as configured now (capital {formats.inr(rules.capital, 0)}, stop {rules.stop_loss_pct:.0%}, "
        f"target {rules.target_pct:.0%}); strategy configuration as audited at each session's open"
    )
