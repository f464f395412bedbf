"""Running trade statistics of the performance tables, pure Python (no Django).

Inputs are sequences of Decimals in exit-time order. Definitions (DESIGN.md "Rules of the money"):
a win is net P&L > 0 and a loss net P&L < 0; a trade at exactly 0 (a scratch) counts in ``trades``
but in neither wins nor losses. Profit factor = sum of wins / |sum of losses| (None
without losses); expectancy = net P&L / trades; max drawdown = the largest fall of the cumulative net
P&L from its running peak (the peak starts at 0), in rupees, >= 0.

The figures of the analytics page (daily series, drawdown spells, Sharpe, Sortino, CAGR, VaR...) are in
``analytics.stats`` on ``analytics.returns``' daily series; docs/analytics.md defines every one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

ZERO = Decimal("0")
PAISA = Decimal("0.01")


def _q(value: Decimal, places: Decimal = PAISA) -> Decimal:
    return value.quantize(places, ROUND_HALF_UP)


@dataclass
class Accumulator:
    """Running statistics of trades added in exit-time order (cheap to extend by one trade)."""

    trades: int = 0
    wins: int = 0
    losses: int = 0
    gross_pnl: Decimal = ZERO
    total_charges: Decimal = ZERO
    net_pnl: Decimal = ZERO
    sum_wins: Decimal = ZERO
    sum_losses: Decimal = ZERO
    best_trade: Decimal | None = None
    worst_trade: Decimal | None = None
    total_hold_minutes: Decimal = ZERO
    peak_net: Decimal = ZERO
    max_drawdown: Decimal = ZERO
    last_exit_time: datetime | None = None
    # What analytics adds up over rows (analytics.trade_stats.TradeSums): R-multiples (count, sum, sum of
    # squares), MAE/MFE, exit efficiency ((gross - MAE) / (MFE - MAE) over trades with MFE > MAE), and the
    # runs of wins (+1) and losses (-1) - the first run, the current (last) run and the longest of each -
    # so that the rows of consecutive days join into the streaks of the whole period.
    r_count: int = 0
    r_sum: Decimal = ZERO
    r_sum_sq: Decimal = ZERO
    mae_count: int = 0
    mae_sum: Decimal = ZERO
    mfe_count: int = 0
    mfe_sum: Decimal = ZERO
    efficiency_count: int = 0
    efficiency_sum: float = 0.0
    first_sign: int = 0
    first_run: int = 0
    last_sign: int = 0
    last_run: int = 0
    best_win_run: int = 0
    best_loss_run: int = 0

    def add(
        self,
        *,
        net_pnl: Decimal,
        gross_pnl: Decimal,
        charges: Decimal,
        hold_minutes: Decimal,
        exit_time: datetime | None = None,
        r_multiple: Decimal | None = None,
        mae: Decimal | None = None,
        mfe: Decimal | None = None,
    ) -> None:
        """Add one trade (must not be earlier than the last one added, or max drawdown and the runs are
        wrong)."""
        self._add_run(1 if net_pnl > 0 else -1 if net_pnl < 0 else 0)
        if r_multiple is not None:
            self.r_count += 1
            self.r_sum += r_multiple
            self.r_sum_sq += r_multiple * r_multiple
        if mae is not None:
            self.mae_count += 1
            self.mae_sum += mae
        if mfe is not None:
            self.mfe_count += 1
            self.mfe_sum += mfe
        if mae is not None and mfe is not None and mfe > mae:
            self.efficiency_count += 1
            self.efficiency_sum += float(gross_pnl - mae) / float(mfe - mae)
        self.trades += 1
        self.gross_pnl += gross_pnl
        self.total_charges += charges
        self.net_pnl += net_pnl
        if net_pnl > 0:
            self.wins += 1
            self.sum_wins += net_pnl
        elif net_pnl < 0:
            self.losses += 1
            self.sum_losses += net_pnl
        self.best_trade = net_pnl if self.best_trade is None else max(self.best_trade, net_pnl)
        self.worst_trade = net_pnl if self.worst_trade is None else min(self.worst_trade, net_pnl)
        self.total_hold_minutes += hold_minutes
        self.peak_net = max(self.peak_net, self.net_pnl)
        self.max_drawdown = max(self.max_drawdown, self.peak_net - self.net_pnl)
        if exit_time is not None:
            self.last_exit_time = exit_time

    def _add_run(self, sign: int) -> None:
        if self.trades == 0:
            self.first_sign, self.first_run = sign, 0
        if sign == self.last_sign and self.trades:
            self.last_run += 1
        else:
            self.last_sign, self.last_run = sign, 1
        if self.first_run == self.trades and sign == self.first_sign:
            self.first_run += 1
        if sign > 0:
            self.best_win_run = max(self.best_win_run, self.last_run)
        elif sign < 0:
            self.best_loss_run = max(self.best_loss_run, self.last_run)

    def figures(self) -> dict:
        """Every stored figure: the running sums plus the ratios derived from them."""
        n = self.trades
        out = {
            "trades": n,
            "wins": self.wins,
            "losses": self.losses,
            "gross_pnl": _q(self.gross_pnl),
            "total_charges": _q(self.total_charges),
            "net_pnl": _q(self.net_pnl),
            "sum_wins": _q(self.sum_wins),
            "sum_losses": _q(self.sum_losses),
            "best_trade": _q(self.best_trade or ZERO),
            "worst_trade": _q(self.worst_trade or ZERO),
            "total_hold_minutes": _q(self.total_hold_minutes),
            "peak_net": _q(self.peak_net),
            "max_drawdown": _q(self.max_drawdown),
            "last_exit_time": self.last_exit_time,
            **{name: getattr(self, name) for name in _ANALYTICS},
            "win_rate": _q(Decimal(self.wins) * 100 / n) if n else ZERO,
            "avg_win": _q(self.sum_wins / self.wins) if self.wins else ZERO,
            "avg_loss": _q(self.sum_losses / self.losses) if self.losses else ZERO,
            "profit_factor": _q(self.sum_wins / -self.sum_losses, Decimal("0.0001"))
            if self.sum_losses
            else None,
            "expectancy": _q(self.net_pnl / n) if n else ZERO,
            "avg_hold_minutes": _q(self.total_hold_minutes / n) if n else ZERO,
        }
        return out

    @classmethod
    def from_figures(cls, figures) -> Accumulator:
        """Resume from stored figures - a dict, or an object (a performance row) with those attributes."""
        if not isinstance(figures, dict):
            row = figures
            figures = {name: getattr(row, name) for name in _STORED}
        acc = cls()
        for name in _RUNNING:
            setattr(acc, name, figures[name])
        if acc.trades:
            acc.best_trade = figures["best_trade"]
            acc.worst_trade = figures["worst_trade"]
        return acc

    def as_dict(self) -> dict:
        return asdict(self)


# The day's (or strategy's) totals, as the performance tables store and the admin lists them.
TOTALS = ("trades", "wins", "losses", "gross_pnl", "total_charges", "net_pnl")
_RUNNING = (
    *TOTALS,
    "sum_wins",
    "sum_losses",
    "total_hold_minutes",
    "peak_net",
    "max_drawdown",
    "last_exit_time",
)
_ANALYTICS = (
    "r_count",
    "r_sum",
    "r_sum_sq",
    "mae_count",
    "mae_sum",
    "mfe_count",
    "mfe_sum",
    "efficiency_count",
    "efficiency_sum",
    "first_sign",
    "first_run",
    "last_sign",
    "last_run",
    "best_win_run",
    "best_loss_run",
)
_RUNNING = _RUNNING + _ANALYTICS
_STORED = _RUNNING + ("best_trade", "worst_trade")


def join_runs(rows: Iterable) -> tuple[int, int]:
    """(longest run of wins, longest run of losses) over rows in time order, each with ``trades``,
    ``first_sign``, ``first_run``, ``last_sign``, ``last_run``, ``best_win_run``, ``best_loss_run``
    (attributes): the streaks of all their trades as if added one by one."""
    best = {1: 0, -1: 0}
    sign, run = 0, 0
    for row in rows:
        if not row.trades:
            continue
        best[1] = max(best[1], row.best_win_run)
        best[-1] = max(best[-1], row.best_loss_run)
        if row.first_sign == sign and sign != 0:
            joined = run + row.first_run
            best[sign] = max(best[sign], joined)
            if row.first_run == row.trades:  # the whole row is one run: it goes on
                run = joined
                continue
        sign, run = row.last_sign, row.last_run
    return best[1], best[-1]


def summarize(rows: Iterable[tuple[Decimal, Decimal, Decimal, Decimal]]) -> dict:
    """Figures of (net, gross, charges, hold minutes) rows given in exit-time order."""
    acc = Accumulator()
    for net, gross, charges, hold in rows:
        acc.add(net_pnl=net, gross_pnl=gross, charges=charges, hold_minutes=hold)
    return acc.figures()


def max_drawdown(net_pnls: Iterable[Decimal]) -> Decimal:
    """Largest fall of cumulative P&L from its running peak (peak starts at 0); >= 0."""
    cum = peak = dd = ZERO
    for pnl in net_pnls:
        cum += pnl
        peak = max(peak, cum)
        dd = max(dd, peak - cum)
    return dd
