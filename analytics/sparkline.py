"""The home page's equity sparkline, from the per-day performance rows."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from analytics import stats
from analytics.report_filters import capital_for
from analytics.returns import daily_net
from journal.selectors import daily_net_rows

SPARKLINE_DAYS = 60


def equity_sparkline(*, mode: str, days: int = SPARKLINE_DAYS) -> dict[str, Any]:
    """The equity (capital + cumulative net P&L, rupees) at the close of the last ``days`` trading days
    of ``mode``, from the per-day performance rows: ``{"dates", "equity", "capital", "last"}``."""
    capital = capital_for(mode)
    rows = daily_net_rows(mode=mode)
    if not rows:
        return {"dates": [], "equity": [], "capital": capital, "last": capital}
    equity = stats.equity_curve(daily_net(rows, end=max(timezone.localdate(), rows[-1][0])), capital)
    tail = equity.iloc[-days:]
    return {
        "dates": [d.strftime("%Y-%m-%d") for d in tail.index],
        "equity": [round(float(v), 6) for v in tail],
        "capital": capital,
        "last": float(tail.iloc[-1]),
    }
