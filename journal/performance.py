"""Writes of the performance tables (``DailyPerformance``, ``StrategyPerformance``).

Called by the trade writers of ``journal.services`` inside the transaction that changed the trades, so
the tables always equal the journal.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from django.utils import timezone

from journal.accumulator import Accumulator
from journal.models import DailyPerformance, StrategyPerformance, Trade

_ROW = (
    "net_pnl",
    "gross_pnl",
    "total_charges",
    "hold_duration_minutes",
    "exit_time",
    "r_multiple",
    "mae",
    "mfe",
)


def _accumulate(qs) -> Accumulator:
    acc = Accumulator()
    for net, gross, charges, hold, exit_time, r, mae, mfe in (
        qs.order_by("exit_time", "id").values_list(*_ROW).iterator(chunk_size=5000)
    ):
        acc.add(
            net_pnl=net,
            gross_pnl=gross,
            charges=charges,
            hold_minutes=hold,
            exit_time=exit_time,
            r_multiple=r,
            mae=mae,
            mfe=mfe,
        )
    return acc


def refresh_daily(day: date, mode: str) -> DailyPerformance | None:
    """Recompute one day's row of one mode from its trades (deleted when it has none)."""
    acc = _accumulate(Trade.objects.filter(trade_date=day, entry_mode=mode))
    if not acc.trades:
        DailyPerformance.objects.filter(date=day, mode=mode).delete()
        return None
    row, _ = DailyPerformance.objects.update_or_create(date=day, mode=mode, defaults=acc.figures())
    return row


def refresh_strategy(name: str, mode: str) -> StrategyPerformance | None:
    """Recompute one strategy's row of one mode from all its trades (deleted when it has none)."""
    acc = _accumulate(Trade.objects.filter(strategy_name=name, entry_mode=mode))
    if not acc.trades:
        StrategyPerformance.objects.filter(strategy_name=name, mode=mode).delete()
        return None
    row, _ = StrategyPerformance.objects.update_or_create(
        strategy_name=name, mode=mode, defaults=acc.figures()
    )
    return row


def _extend(model, lookup: dict, trade: Trade) -> bool:
    """Add ``trade`` to a row without reading the others back, when it arrives in exit-time order.

    Returns False when the row must be recomputed instead (the trade is older than the row's last).
    The row is locked so that two writers cannot both extend the same old figures.
    """
    # Create the row first (a concurrent creator makes get_or_create fetch theirs), then lock it.
    model.objects.get_or_create(**lookup)
    row = model.objects.select_for_update().get(**lookup)
    if row.trades == 0:
        acc = Accumulator()
    elif row.last_exit_time is None or trade.exit_time < row.last_exit_time or row.first_sign is None:
        return False
    else:
        acc = Accumulator.from_figures(row)
    acc.add(
        net_pnl=trade.net_pnl,
        gross_pnl=trade.gross_pnl,
        charges=trade.total_charges,
        hold_minutes=trade.hold_duration_minutes,
        exit_time=trade.exit_time,
        r_multiple=trade.r_multiple,
        mae=trade.mae,
        mfe=trade.mfe,
    )
    model.objects.filter(pk=row.pk).update(**acc.figures(), updated_at=timezone.now())
    return True


def refresh_for_new_trade(trade: Trade) -> None:
    """Bring the day's and the strategy's rows up to date after ``trade`` was inserted."""
    if not _extend(DailyPerformance, {"date": trade.trade_date, "mode": trade.entry_mode}, trade):
        refresh_daily(trade.trade_date, trade.entry_mode)
    if not _extend(
        StrategyPerformance, {"strategy_name": trade.strategy_name, "mode": trade.entry_mode}, trade
    ):
        refresh_strategy(trade.strategy_name, trade.entry_mode)


def refresh_keys(keys: Iterable[tuple[date, str, str]]) -> None:
    """Recompute the rows of each (day, mode, strategy) - after an edit or a delete."""
    days = {(d, m) for d, m, _ in keys}
    strategies = {(s, m) for _, m, s in keys}
    for d, m in days:
        refresh_daily(d, m)
    for s, m in strategies:
        refresh_strategy(s, m)


def rebuild_all() -> None:
    """Recompute every performance row from the journal (after a bulk load or an import)."""
    DailyPerformance.objects.all().delete()
    StrategyPerformance.objects.all().delete()
    # order_by() drops the model's default ordering, which would make every row "distinct".
    for d, m in Trade.objects.order_by().values_list("trade_date", "entry_mode").distinct():
        refresh_daily(d, m)
    for s, m in Trade.objects.order_by().values_list("strategy_name", "entry_mode").distinct():
        refresh_strategy(s, m)
