"""Backtest vs paper vs live, trade by trade. Pure (no Django): the service
``trading/execution/drift.py`` re-runs the backtest on the recorded market data and hands both sides
here as ``DriftTrade`` rows.

A traded (paper or live) trade is **matched** to a backtested one of the same strategy, session and
option side (CALL/PUT) whose entry is at most ``tolerance`` away; pairs are taken closest entry
first, each trade at most once. A backtested trade left over is **missed** (the backtest traded, the
desk did not: a missed signal, a rejected or unfilled order), a traded one left over is **extra**
(the desk traded what the backtest would not have). For a matched pair the differences are traded
minus backtested: entry and exit price (rupees per unit: the slippage, positive = paid more on
entry / got more on exit), entry and exit time (seconds, positive = later), charges and net P&L
(rupees).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

MATCHED, MISSED, EXTRA = "matched", "missed", "extra"
DEFAULT_TOLERANCE = timedelta(minutes=15)

# The columns of a drift row (page table, API and CSV), in order.
ROW_FIELDS = (
    "status",
    "session",
    "strategy",
    "instrument_type",
    "tradingsymbol",
    "backtest_trade_id",
    "traded_trade_id",
    "quantity",
    "backtest_entry_time",
    "traded_entry_time",
    "entry_delay_seconds",
    "backtest_exit_time",
    "traded_exit_time",
    "exit_delay_seconds",
    "backtest_entry_price",
    "traded_entry_price",
    "entry_slippage",
    "backtest_exit_price",
    "traded_exit_price",
    "exit_slippage",
    "backtest_exit_type",
    "traded_exit_type",
    "backtest_charges",
    "traded_charges",
    "charges_difference",
    "backtest_net_pnl",
    "traded_net_pnl",
    "net_pnl_difference",
)


# The figures of a summary line (``summarise``), after its keys, in order.
SUMMARY_FIELDS = (
    "backtest_trades",
    "traded_trades",
    "matched",
    "missed",
    "extra",
    "match_rate",
    "slippage",
    "mean_entry_delay_seconds",
    "mean_exit_delay_seconds",
    "backtest_charges",
    "traded_charges",
    "backtest_net_pnl",
    "traded_net_pnl",
    "net_pnl_difference",
)


@dataclass(frozen=True)
class DriftTrade:
    """One side's trade as the report compares it. Prices rupees per unit; charges and net rupees."""

    trade_id: str
    strategy: str
    session: date  # IST session of the entry
    instrument_type: str  # CALL / PUT
    tradingsymbol: str
    quantity: int
    entry_time: datetime
    exit_time: datetime
    entry_price: Decimal
    exit_price: Decimal
    exit_type: str
    charges: Decimal
    net_pnl: Decimal


@dataclass
class DriftReport:
    """Rows in session, strategy and entry order; the summary per (session, strategy) and overall."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    summary: list[dict[str, Any]] = field(default_factory=list)
    totals: dict[str, Any] = field(default_factory=dict)


def _seconds(a: datetime, b: datetime) -> int:
    return int(round((a - b).total_seconds()))


def _pair_row(bt: DriftTrade, tr: DriftTrade) -> dict[str, Any]:
    return {
        "status": MATCHED,
        "session": bt.session,
        "strategy": bt.strategy,
        "instrument_type": bt.instrument_type,
        "tradingsymbol": tr.tradingsymbol,
        "backtest_trade_id": bt.trade_id,
        "traded_trade_id": tr.trade_id,
        "quantity": tr.quantity,
        "backtest_entry_time": bt.entry_time,
        "traded_entry_time": tr.entry_time,
        "entry_delay_seconds": _seconds(tr.entry_time, bt.entry_time),
        "backtest_exit_time": bt.exit_time,
        "traded_exit_time": tr.exit_time,
        "exit_delay_seconds": _seconds(tr.exit_time, bt.exit_time),
        "backtest_entry_price": bt.entry_price,
        "traded_entry_price": tr.entry_price,
        "entry_slippage": tr.entry_price - bt.entry_price,
        "backtest_exit_price": bt.exit_price,
        "traded_exit_price": tr.exit_price,
        "exit_slippage": tr.exit_price - bt.exit_price,
        "backtest_exit_type": bt.exit_type,
        "traded_exit_type": tr.exit_type,
        "backtest_charges": bt.charges,
        "traded_charges": tr.charges,
        "charges_difference": tr.charges - bt.charges,
        "backtest_net_pnl": bt.net_pnl,
        "traded_net_pnl": tr.net_pnl,
        "net_pnl_difference": tr.net_pnl - bt.net_pnl,
    }


def _single_row(trade: DriftTrade, status: str) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(ROW_FIELDS)
    side = "backtest" if status == MISSED else "traded"
    row.update(
        status=status,
        session=trade.session,
        strategy=trade.strategy,
        instrument_type=trade.instrument_type,
        tradingsymbol=trade.tradingsymbol,
        quantity=trade.quantity,
    )
    row[f"{side}_trade_id"] = trade.trade_id
    row[f"{side}_entry_time"] = trade.entry_time
    row[f"{side}_exit_time"] = trade.exit_time
    row[f"{side}_entry_price"] = trade.entry_price
    row[f"{side}_exit_price"] = trade.exit_price
    row[f"{side}_exit_type"] = trade.exit_type
    row[f"{side}_charges"] = trade.charges
    row[f"{side}_net_pnl"] = trade.net_pnl
    return row


def match_trades(
    backtest: Iterable[DriftTrade], traded: Iterable[DriftTrade], *, tolerance: timedelta = DEFAULT_TOLERANCE
) -> list[dict[str, Any]]:
    """The drift rows (``ROW_FIELDS``): matched pairs, missed backtest trades, extra traded ones
    (see the module docstring for the rule)."""
    bts, trs = list(backtest), list(traded)
    candidates: list[tuple[float, int, int]] = []
    for i, bt in enumerate(bts):
        for j, tr in enumerate(trs):
            if (bt.strategy, bt.session, bt.instrument_type) != (tr.strategy, tr.session, tr.instrument_type):
                continue
            gap = abs((tr.entry_time - bt.entry_time).total_seconds())
            if gap <= tolerance.total_seconds():
                candidates.append((gap, i, j))
    candidates.sort()
    used_bt: set[int] = set()
    used_tr: set[int] = set()
    rows: list[dict[str, Any]] = []
    for _gap, i, j in candidates:
        if i in used_bt or j in used_tr:
            continue
        used_bt.add(i)
        used_tr.add(j)
        rows.append(_pair_row(bts[i], trs[j]))
    rows.extend(_single_row(bt, MISSED) for i, bt in enumerate(bts) if i not in used_bt)
    rows.extend(_single_row(tr, EXTRA) for j, tr in enumerate(trs) if j not in used_tr)
    rows.sort(key=_row_order)
    return rows


def _row_order(row: dict[str, Any]) -> tuple:
    entry = row["backtest_entry_time"] or row["traded_entry_time"]
    return (row["session"], row["strategy"], entry, row["status"])


def _sum(values: Iterable[Any]) -> Decimal:
    return sum((Decimal(v) for v in values if v is not None), Decimal(0))


def _mean(values: Sequence[int]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def summarise(rows: Sequence[dict[str, Any]], keys: Sequence[str] = ("session", "strategy")) -> list[dict]:
    """One line per value of ``keys``: counts of matched, missed and extra trades, the match rate (%
    of backtest and traded trades that were matched: 2 x matched / (backtest + traded)), the summed
    slippage in rupees (``(entry_slippage x -1 + exit_slippage) x quantity`` over matched pairs: what
    the fills cost or gained against the backtest), the mean entry and exit delays (s), the charges
    and net P&L of each side and their difference."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row[k] for k in keys), []).append(row)
    return [dict(zip(keys, key), **_figures(group)) for key, group in sorted(groups.items())]


def _figures(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    matched = [r for r in rows if r["status"] == MATCHED]
    n_missed = sum(1 for r in rows if r["status"] == MISSED)
    n_extra = sum(1 for r in rows if r["status"] == EXTRA)
    n_bt, n_tr = len(matched) + n_missed, len(matched) + n_extra
    slippage = _sum(
        (r["exit_slippage"] - r["entry_slippage"]) * r["quantity"]
        for r in matched
        if r["quantity"] is not None
    )
    bt_net = _sum(r["backtest_net_pnl"] for r in rows)
    tr_net = _sum(r["traded_net_pnl"] for r in rows)
    return {
        "backtest_trades": n_bt,
        "traded_trades": n_tr,
        "matched": len(matched),
        "missed": n_missed,
        "extra": n_extra,
        "match_rate": round(100.0 * 2 * len(matched) / (n_bt + n_tr), 2) if n_bt + n_tr else None,
        "slippage": slippage,
        "mean_entry_delay_seconds": _mean([r["entry_delay_seconds"] for r in matched]),
        "mean_exit_delay_seconds": _mean([r["exit_delay_seconds"] for r in matched]),
        "backtest_charges": _sum(r["backtest_charges"] for r in rows),
        "traded_charges": _sum(r["traded_charges"] for r in rows),
        "backtest_net_pnl": bt_net,
        "traded_net_pnl": tr_net,
        "net_pnl_difference": tr_net - bt_net,
    }


def drift_report(
    backtest: Iterable[DriftTrade], traded: Iterable[DriftTrade], *, tolerance: timedelta = DEFAULT_TOLERANCE
) -> DriftReport:
    """Rows, the summary per session and strategy, and the totals of the whole report."""
    rows = match_trades(backtest, traded, tolerance=tolerance)
    return DriftReport(rows=rows, summary=summarise(rows), totals=_figures(rows))
