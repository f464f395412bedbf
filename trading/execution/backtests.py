"""Backtest runs: the engine over simulated sessions, the run stored with its trades in the journal."""

from __future__ import annotations

from datetime import date

from django.utils import timezone

from journal import services as journal_services
from journal.combos import combo_record, combo_refresh_totals
from journal.models import TradeOrigin
from trading.core import calendar as market_calendar
from trading.core.backtest import run_backtest
from trading.core.combo_exits import combo_facts
from trading.core.live import SimSource
from trading.execution.config import engine_config, risk_config, strategy_slots
from trading.execution.live import paper_broker
from trading.execution.models import BacktestRun


def _chosen(index: str, strategies: list[str] | None):
    """The slots to backtest (``strategies`` switched on, else the enabled ones) and their parameters."""
    slots, pairs = strategy_slots(index)
    if strategies:
        wanted = set(strategies)
        slots = {name: slot for name, slot in slots.items() if name in wanted}
        for slot in slots.values():
            slot.enabled = True
    slots = {name: slot for name, slot in slots.items() if slot.enabled}
    return slots, dict(pairs)


def backtest_execute(
    *,
    start: date,
    end: date,
    seed: int = 7,
    index: str = "NIFTY",
    strategies: list[str] | None = None,
    name: str = "",
    progress=None,
) -> BacktestRun:
    """Backtest the strategies over the simulated sessions ``start``..``end`` and store the run and
    its trades (entry mode BACKTEST, trade ids prefixed ``BT<run>-``)."""
    index = index.upper()
    slots, params = _chosen(index, strategies)
    run = BacktestRun.objects.create(
        name=name,
        strategies=list(slots),
        index=index,
        data_source="SIM",
        start=start,
        end=end,
        seed=seed,
        parameters={
            "risk": {key: str(value) for key, value in risk_config().__dict__.items()},
            "strategies": params,
        },
        status="RUNNING",
    )
    try:
        source = SimSource(index=index, seed=seed, start=start)
        config = engine_config(index, mode="BACKTEST", data_source="SIM", position_prefix=f"BT{run.pk}-")
        result = run_backtest(
            list(source.sim.days(start, end)),
            strategies=slots,
            broker=paper_broker(),  # PAPER_* fill model, as the desk
            config=config,
            params=params,
            iv_history=source.iv_history(),
            on_cycle=progress,
        )
        # The backtest's clock ends with the close of its last session.
        clock_end = market_calendar.session_close(end)
        for combo in result.combos.values():
            facts = combo_facts(combo, mode=config.mode, data_source=config.data_source)
            combo_record(now=clock_end, backtest_run_id=run.pk, **facts)
        for closed in result.trades:
            journal_services.record_trade(
                now=clock_end, origin=TradeOrigin.ENGINE, backtest_run=run, **closed.trade
            )
        combo_refresh_totals(result.combos)
        run.summary = result.summary()
        run.status = "DONE"
    except Exception as exc:
        run.status = "FAILED"
        run.summary = {"error": f"{type(exc).__name__}: {exc}"}
        run.finished_at = timezone.now()
        run.save()
        raise
    run.finished_at = timezone.now()
    run.save()
    return run
