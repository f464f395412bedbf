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

    def add(
        self,
        *,
        net_pnl: Decimal,
        gross_pnl: Decimal,
        charges: Decimal,
        hold_minutes: Decimal,
        exit_time: datetime | None = None,
    ) -> None:
        """Add one trade (must not be earlier than the last one added, or max drawdown is wrong)."""
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
_STORED = _RUNNING + ("best_trade", "worst_trade")


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
