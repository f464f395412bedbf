"""Writes of the performance tables (``DailyPerformance``, ``StrategyPerformance``).

Called by the trade writers of ``journal.services`` inside the transaction that changed the trades, so
the tables always equal the journal.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from django.db.models import Q
from django.utils import timezone

from journal import bulk, cells
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


def _accumulate_by(qs, key: str | None) -> dict:
    """The trades of ``qs`` in exit-time order, one ``Accumulator`` per value of the field ``key``
    (one under None without a key)."""
    accs: dict = {}
    fields = (key, *_ROW) if key else _ROW
    for values in qs.order_by("exit_time", "id").values_list(*fields).iterator(chunk_size=5000):
        group = values[0] if key else None
        net, gross, charges, hold, exit_time, r, mae, mfe = values[1:] if key else values
        acc = accs.get(group)
        if acc is None:
            acc = accs[group] = Accumulator()
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
    return accs


def _accumulate(qs) -> Accumulator:
    return _accumulate_by(qs, None).get(None) or Accumulator()


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
    """Recompute the rows of each (day, mode, strategy) - after an edit, a delete or a bulk insert.

    Each mode's trades of those days or of those strategies are read once, in exit-time order, into
    both tables' accumulators (a backtest's days and strategies select mostly the same trades), and
    the rows written in one upsert each; a key left with no trade loses its row.
    """
    days: dict[str, set[date]] = {}
    strategies: dict[str, set[str]] = {}
    for d, m, s in keys:
        days.setdefault(m, set()).add(d)
        strategies.setdefault(m, set()).add(s)
    for mode, dates in days.items():
        names = strategies[mode]
        if len(dates) + len(names) <= _ONE_READ:
            by_day, by_name = _accumulate_both(mode, dates, names)
            _write_group(DailyPerformance, "date", mode, dates, by_day)
            _write_group(StrategyPerformance, "strategy_name", mode, names, by_name)
        else:
            _refresh_group(DailyPerformance, "date", "trade_date", mode, dates)
            _refresh_group(StrategyPerformance, "strategy_name", "strategy_name", mode, names)


# Keys read in one query (one parameter each); more go by chunks of 500, one table at a time.
_ONE_READ = 900


def _accumulate_both(mode: str, dates: set[date], names: set[str]) -> tuple[dict, dict]:
    """One ``Accumulator`` per day in ``dates`` and per strategy in ``names`` from one read of the
    mode's trades that fall in either (in exit-time order, as ``_accumulate_by``)."""
    by_day: dict = {}
    by_name: dict = {}
    qs = Trade.objects.filter(
        Q(trade_date__in=sorted(dates)) | Q(strategy_name__in=sorted(names)), entry_mode=mode
    )
    rows = qs.order_by("exit_time", "id").values_list("trade_date", "strategy_name", *_ROW)
    for day, name, net, gross, charges, hold, exit_time, r, mae, mfe in rows.iterator(chunk_size=5000):
        figures = {
            "net_pnl": net,
            "gross_pnl": gross,
            "charges": charges,
            "hold_minutes": hold,
            "exit_time": exit_time,
            "r_multiple": r,
            "mae": mae,
            "mfe": mfe,
        }
        if day in dates:
            acc = by_day.get(day)
            if acc is None:
                acc = by_day[day] = Accumulator()
            acc.add(**figures)
        if name in names:
            acc = by_name.get(name)
            if acc is None:
                acc = by_name[name] = Accumulator()
            acc.add(**figures)
    return by_day, by_name


def _refresh_group(model, key: str, trade_key: str, mode: str, wanted: set) -> None:
    """The rows of ``model`` for ``mode`` and every ``key`` in ``wanted``, from their trades."""
    accs: dict = {}
    for chunk in _chunks(sorted(wanted), 500):
        accs.update(
            _accumulate_by(Trade.objects.filter(entry_mode=mode, **{f"{trade_key}__in": chunk}), trade_key)
        )
    _write_group(model, key, mode, wanted, accs)


def _write_group(model, key: str, mode: str, wanted: set, accs: dict) -> None:
    """Upsert the rows of ``accs`` ({key value: Accumulator}); delete those of ``wanted`` without one."""
    empty = [k for k in wanted if k not in accs]
    for chunk in _chunks(empty, 500):
        model.objects.filter(mode=mode, **{f"{key}__in": chunk}).delete()
    if not accs:
        return
    now = timezone.now()
    rows = [model(mode=mode, **{key: k}, **acc.figures(), updated_at=now) for k, acc in accs.items()]
    fields = [*next(iter(accs.values())).figures(), "updated_at"]
    bulk.upsert(model, rows, unique=[key, "mode"], update=fields)


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def rebuild_all() -> None:
    """Recompute every performance row and breakdown cell from the journal (after a bulk load or an
    import)."""
    DailyPerformance.objects.all().delete()
    StrategyPerformance.objects.all().delete()
    # order_by() drops the model's default ordering, which would make every row "distinct".
    for d, m in Trade.objects.order_by().values_list("trade_date", "entry_mode").distinct():
        refresh_daily(d, m)
    for s, m in Trade.objects.order_by().values_list("strategy_name", "entry_mode").distinct():
        refresh_strategy(s, m)
    cells.rebuild()
