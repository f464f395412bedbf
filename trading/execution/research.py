"""Research services: walk-forward analysis of a strategy's parameters, the deflated Sharpe ratio of the
best of several backtest runs, and Monte Carlo of a run's trades. The figures are
``analytics.research``'s; these functions gather their inputs (backtests, stored runs' trades).

A walk-forward backtests every candidate (a combination of parameters) once over the whole span, on
the engine of ``execution.backtests`` (``core.backtest.run_backtest``, the desk's paper fill model and
engine configuration), and keeps each candidate's net P&L per session; the windows then choose from
the in-sample sessions' P&L alone. Nothing is stored: it is a study, not a run of the journal.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings

from analytics import research
from journal.models import Trade
from trading import access
from trading.core import calendar as market_calendar
from trading.core.backtest import run_backtest
from trading.core.live import SimSource
from trading.core.state import StrategySlot
from trading.core.strategies import registry as strategy_registry
from trading.core.strategies.base import ParamError, validate_params
from trading.execution.backtest_market import empty_store_range
from trading.execution.config import engine_config, risk_config, setting, strategy_slots
from trading.execution.live import backtest_broker
from trading.execution.models import BacktestRun
from trading.marketdata.store.eod import iv_history as eod_iv_history
from trading.marketdata.store.store import MarketDataStore
from trading.marketdata.store_feed import StoreFeed

__all__ = [
    "WalkForwardStudy",
    "candidate_grid",
    "max_candidates",
    "run_daily_net",
    "run_monte_carlo",
    "runs_deflated_sharpe",
    "sweep_deflated_sharpe",
    "walk_forward_study",
]


MAX_MONTE_CARLO_CELLS = 50_000_000  # paths x steps of one request (seconds of work, bounded memory)


def max_candidates() -> int:
    """The most combinations one study may backtest (``RESEARCH_MAX_CANDIDATES``, default 64): each is a
    backtest over the whole span."""
    return int(setting("RESEARCH_MAX_CANDIDATES", 64))


def candidate_grid(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the values of ``grid`` (parameter -> values), in the order of the keys and
    values given: ``{"a": [1, 2], "b": [3]}`` -> ``[{"a": 1, "b": 3}, {"a": 2, "b": 3}]``."""
    names = list(grid)
    return [dict(zip(names, values)) for values in itertools.product(*(list(grid[n]) for n in names))]


@dataclass
class WalkForwardStudy:
    """A walk-forward of one strategy: the sessions, candidates, each candidate's daily P&L, the
    walk-forward result and the deflated Sharpe ratio of the best candidate over the whole span."""

    strategy: str
    index: str
    seed: int
    sessions: list[date]
    candidates: list[dict[str, Any]]
    pnl: np.ndarray  # candidates x sessions, rupees
    result: research.WalkForwardResult
    best: int  # the candidate with the best full-span score (what a plain sweep would pick)
    deflated: research.DeflatedSharpe | None
    source: str = "sim"  # sim or store

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: sessions as ISO dates, rupees as floats."""
        steps = []
        for s in self.result.steps:
            w = s.window
            steps.append(
                {
                    "window": w.number,
                    "in_sample": [
                        self.sessions[w.is_start].isoformat(),
                        self.sessions[w.is_end - 1].isoformat(),
                    ],
                    "out_of_sample": [
                        self.sessions[w.oos_start].isoformat(),
                        self.sessions[w.oos_end - 1].isoformat(),
                    ],
                    "chosen": self.candidates[s.chosen],
                    # -inf: no candidate had a Sharpe ratio in sample (JSON has no infinity)
                    "in_sample_score": s.in_sample_score if math.isfinite(s.in_sample_score) else None,
                    "in_sample_net": s.in_sample_net,
                    "out_of_sample_net": s.out_of_sample_net,
                }
            )
        return {
            "strategy": self.strategy,
            "index": self.index,
            "source": self.source,
            "seed": self.seed,
            "sessions": len(self.sessions),
            "candidates": self.candidates,
            "steps": steps,
            "out_of_sample": {
                "dates": [self.sessions[i].isoformat() for i in self.result.oos_periods],
                "pnl": self.result.oos_pnl,
                "equity": self.result.oos_equity,
                "net": float(sum(self.result.oos_pnl)),
            },
            "stability": self.result.stability,
            "best": {
                "candidate": self.candidates[self.best],
                "net": float(self.pnl[self.best].sum()),
                "deflated_sharpe": None if self.deflated is None else self.deflated.as_dict(),
            },
        }


def _study_slot(strategy: str, index: str) -> tuple[StrategySlot, dict[str, Any]]:
    slots, pairs = strategy_slots(index)
    if strategy not in slots:
        raise ValueError(f"strategy: {strategy!r} is not a strategy of {index}")
    slot = slots[strategy]
    slot.enabled = True
    return slot, dict(dict(pairs).get(strategy) or {})


def _daily_net(trades, sessions: Sequence[date]) -> np.ndarray:
    """Net P&L per session (rupees), by each trade's exit session."""
    where = {d: i for i, d in enumerate(sessions)}
    out = np.zeros(len(sessions))
    for closed in trades:
        i = where.get(market_calendar.ist_date(closed.exit_time))
        if i is not None:
            out[i] += float(closed.net_pnl)
    return out


def walk_forward_study(
    *,
    user: Any,
    strategy: str,
    grid: Mapping[str, Sequence[Any]],
    start: date,
    end: date,
    in_sample: int,
    out_of_sample: int,
    step: int | None = None,
    anchored: bool = False,
    score: str = "sharpe",
    seed: int = 7,
    index: str = "NIFTY",
    source: str = "sim",
    store: MarketDataStore | str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> WalkForwardStudy:
    """Walk ``strategy`` forward over the sessions ``start``..``end`` of ``source``: ``sim`` the simulated
    market (seed ``seed``), ``store`` the market-data store's minute sessions (``store``, default
    ``settings.MARKETDATA_DIR``; warmed on up to ``FEATURE_WARMUP_SESSIONS`` stored sessions before
    ``start``, IV ranked against its end-of-day history).
    ``in_sample`` sessions choose among the ``grid``'s combinations (over the strategy's stored
    parameters), the next ``out_of_sample`` trade the choice. A ``user`` needs
    ``access.VIEW_STRATEGIES``. ``ValueError`` (naming the argument) for a grid too large, an unknown
    strategy or windows that do not fit the sessions. ``progress(done, total)`` after each candidate's
    backtest (a study is one backtest per candidate over every session)."""
    if user is not None:
        access.require(user, access.VIEW_STRATEGIES)
    index = index.upper()
    if score not in research.SCORES:
        raise ValueError(f"score: one of {', '.join(research.SCORES)}")
    count = math.prod(len(list(values)) for values in grid.values())
    if count > max_candidates():  # counted before any is built: a grid can multiply to billions
        raise ValueError(f"grid: {count} combinations, at most {max_candidates()}")
    candidates = candidate_grid(grid) or [{}]
    if source not in ("sim", "store"):
        raise ValueError("source: sim or store")
    slot, stored = _study_slot(strategy, index)
    for candidate in candidates:
        try:
            validate_params(strategy_registry.get(strategy), {**stored, **candidate})
        except ParamError as exc:
            raise ValueError(f"grid: {exc}") from None
    if source == "store":
        feed = StoreFeed(store if store is not None else settings.MARKETDATA_DIR, index)
        sessions = feed.store.sessions("spot_minute", index, start, end)
        if not sessions:
            raise ValueError(f"source: {empty_store_range(feed.store.root, index, start, end)}")
        count = int(setting("FEATURE_WARMUP_SESSIONS", 5))
        before = [d for d in feed.sessions if d < start][-count:] if count > 0 else []
        days = [feed.day(d) for d in sessions]
        warm = [feed.day(d) for d in before]
        iv = eod_iv_history(feed.store, index, before=start)
        data_source = feed.source
    else:
        sessions = market_calendar.trading_days(start, end)
    windows = research.walk_forward_windows(
        len(sessions), in_sample=in_sample, out_of_sample=out_of_sample, step=step, anchored=anchored
    )
    if not windows:
        raise ValueError(
            f"in_sample: {len(sessions)} sessions leave no out-of-sample window after {in_sample} in-sample"
        )
    if source == "sim":
        sim = SimSource(index=index, seed=seed, start=start)
        days, warm, iv, data_source = list(sim.sim.days(start, end)), [], sim.iv_history(), "SIM"
    rows = []
    for candidate in candidates:
        result = run_backtest(
            days,
            strategies={strategy: slot},
            broker=backtest_broker(),
            config=engine_config(index, mode="BACKTEST", data_source=data_source, position_prefix="WF-"),
            params={strategy: {**stored, **candidate}},
            iv_history=iv,
            warmup=warm,
        )
        rows.append(_daily_net(result.trades, sessions))
        if progress is not None:
            progress(len(rows), len(candidates))
    pnl = np.vstack(rows)
    wf = research.walk_forward(pnl, windows, score=score, candidates=candidates)
    best, deflated = research.best_deflated(pnl, score)
    return WalkForwardStudy(
        source=source,
        strategy=strategy,
        index=index,
        seed=seed,
        sessions=sessions,
        candidates=candidates,
        pnl=pnl,
        result=wf,
        best=best,
        deflated=deflated,
    )


# --- stored runs ------------------------------------------------------------------------------------------


def _run_trades(run: BacktestRun):
    return Trade.objects.filter(backtest_run=run).order_by("exit_time", "id")


def run_daily_net(run: BacktestRun) -> tuple[list[date], list[float]]:
    """A stored run's net P&L per trading day of its span (rupees; 0 on a day without trades), by exit
    date."""
    sessions = market_calendar.trading_days(run.start, run.end)
    totals: dict[date, Decimal] = dict.fromkeys(sessions, Decimal(0))
    for exit_date, net in _run_trades(run).values_list("exit_time", "net_pnl"):
        d = market_calendar.ist_date(exit_date)
        totals[d] = totals.get(d, Decimal(0)) + net
    days = sorted(totals)
    return days, [float(totals[d]) for d in days]


def runs_deflated_sharpe(*, user: Any, runs: Sequence[BacktestRun]) -> dict[str, Any]:
    """The deflated Sharpe ratio of the best of ``runs`` (by per-period Sharpe ratio of the daily net
    P&L): N = the runs with a Sharpe ratio, V = the variance of their Sharpe ratios. A ``user`` needs
    ``access.VIEW_JOURNAL``."""
    if user is not None:
        access.require(user, access.VIEW_JOURNAL)
    rows = []
    for run in runs:
        _, daily = run_daily_net(run)
        rows.append((run, daily, research.period_sharpe(daily)))
    rated = [r for r in rows if r[2] is not None]
    if not rated:
        return {"runs": [r.pk for r in runs], "best": None, "deflated_sharpe": None}
    run, daily, _ = max(rated, key=lambda r: r[2])
    deflated = research.deflated_sharpe_of_trials(daily, [r[2] for r in rated])
    return {
        "runs": [r.pk for r in runs],
        "sharpe": {str(r.pk): s for r, _, s in rows},
        "best": run.pk,
        "deflated_sharpe": None if deflated is None else deflated.as_dict(),
    }


def run_monte_carlo(
    *,
    user: Any,
    run: BacktestRun,
    method: str = "shuffle",
    runs: int = 1000,
    seed: int = 0,
    floor: float | None = None,
) -> research.MonteCarloResult:
    """Monte Carlo of a stored run: its trades' net P&L in exit order (``shuffle``, ``resample``) or its
    daily net P&L (``bootstrap``), on the desk's capital (``TRADING_CAPITAL``); ``floor`` in rupees of
    equity. A ``user`` needs ``access.VIEW_JOURNAL``. ``ValueError`` naming ``runs`` past
    ``MAX_MONTE_CARLO_CELLS``."""
    if user is not None:
        access.require(user, access.VIEW_JOURNAL)
    if method == "bootstrap":
        _, pnl = run_daily_net(run)
    else:
        pnl = [float(n) for n in _run_trades(run).values_list("net_pnl", flat=True)]
    if runs * max(len(pnl), 1) > MAX_MONTE_CARLO_CELLS:
        raise ValueError(
            f"runs: at most {MAX_MONTE_CARLO_CELLS // max(len(pnl), 1)} paths of {len(pnl)} steps"
        )
    return research.monte_carlo(
        pnl, method=method, runs=runs, seed=seed, capital=float(risk_config().capital), floor=floor
    )


def sweep_deflated_sharpe(
    *, user: Any, sweep: Any, best_number: int | None = None, score: str = "sharpe"
) -> dict[str, Any]:
    """The deflated Sharpe ratio of a parameter sweep's best combination, to show next to it: each
    finished combination's equity curve (``[[exit time ISO, cumulative net], ...]``) as net P&L per
    trading day of the sweep's span; the best is combination ``best_number`` (the sweep table's first,
    by the sweep's objective) or, without one, the best by ``score``; its DSR among all of them (N = the
    combinations with a Sharpe ratio). ``sweep``: anything with ``start``, ``end`` and
    ``combinations.all()`` of objects with ``number``, ``parameters``, ``status`` and ``equity``. A
    ``user`` needs ``access.VIEW_BACKTESTS``."""
    if user is not None:
        access.require(user, access.VIEW_BACKTESTS)
    sessions = market_calendar.trading_days(sweep.start, sweep.end)
    done = [c for c in sweep.combinations.all() if c.status == "DONE"]
    numbers = [c.number for c in done]
    if not done or not sessions or (best_number is not None and best_number not in numbers):
        return {"best": None, "parameters": None, "deflated_sharpe": None, "trials": len(done)}
    rows = []
    for c in done:
        points = [
            (market_calendar.ist_date(datetime.fromisoformat(at)), float(value))
            for at, value in c.equity or []
        ]
        rows.append(research.daily_from_equity(points, sessions))
    daily = np.vstack(rows)
    if best_number is None:
        best, deflated = research.best_deflated(daily, score)
    else:
        best = numbers.index(best_number)
        srs = [s for s in (research.period_sharpe(row) for row in daily) if s is not None]
        deflated = research.deflated_sharpe_of_trials(daily[best], srs)
    return {
        "best": done[best].number,
        "parameters": done[best].parameters,
        "trials": len(done),
        "deflated_sharpe": None if deflated is None else deflated.as_dict(),
    }
