"""The report's monthly heat map: a row per year, a cell per month (return and net), the year's
compounded return."""

from __future__ import annotations

from typing import Any

import pandas as pd

from analytics import stats
from trading import formats

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def monthly_heatmap(daily: pd.Series, returns: pd.Series) -> dict[str, Any]:
    """The heat map: a row per year, a cell per month (return % and net), the year's compounded return."""
    rets = stats.monthly_returns(returns) if len(returns) else {}
    nets = stats.monthly_net(daily) if len(daily) else {}
    years = stats.yearly_returns(returns) if len(returns) else {}
    biggest = max((abs(v) for v in rets.values() if v is not None), default=0.0)
    rows = []
    for year in sorted({int(k[:4]) for k in nets}):
        cells = []
        for m in range(1, 13):
            key = f"{year:04d}-{m:02d}"
            r = rets.get(key)
            if key not in nets:
                cells.append(
                    {"key": key, "month": _MONTHS[m - 1], "text": "", "net": "", "css": "none", "alpha": 0}
                )
                continue
            alpha = 0.15 + 0.85 * abs(r) / biggest if r is not None and biggest else 0.15
            cells.append(
                {
                    "key": key,
                    "month": _MONTHS[m - 1],
                    "text": formats.fraction_percent(r),
                    "net": formats.inr(nets[key], 0),
                    "css": formats.pnl_class(r) or "flat",
                    "alpha": f"{alpha:.2f}",
                }
            )
        total = years.get(year)
        rows.append(
            {
                "year": year,
                "cells": cells,
                "total": formats.fraction_percent(total),
                "css": formats.pnl_class(total),
            }
        )
    return {"months": _MONTHS, "rows": rows}
