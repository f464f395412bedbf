"""A report's filters: the journal's TradeFilterSet with the report's mode rule (no mode: the desk's
``TRADING_MODE``, or every mode for a backtest run; ``ALL`` or empty: every mode), and the capital its
equity and returns start from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import QueryDict

from journal.filters import TRADE_FILTER_NAMES, TradeFilterSet, filter_trades

ALL_MODES = "ALL"


def capital_for(mode: str) -> float:
    """Starting capital (rupees) of the equity and the returns of ``mode`` (``PAPER``... or ``ALL``):
    its ``ANALYTICS_CAPITAL`` entry, else ``TRADING_CAPITAL``."""
    return float(settings.ANALYTICS_CAPITAL.get(str(mode).upper(), settings.TRADING_CAPITAL))


@dataclass
class ReportFilters:
    """The bound TradeFilterSet of a report and its mode (``PAPER``... or ``ALL``)."""

    filterset: TradeFilterSet
    mode: str
    params: QueryDict

    def is_valid(self) -> bool:
        return self.filterset.is_valid()

    @property
    def errors(self) -> dict:
        return self.filterset.errors

    def labels(self) -> list[tuple[str, str]]:
        """The active filters as (label, value) for people; the mode first."""
        out = [("Mode", "All modes" if self.mode == ALL_MODES else self.mode)]
        data = getattr(self.filterset.form, "cleaned_data", {}) or {}
        for name, flt in self.filterset.filters.items():
            value = data.get(name)
            if name == "mode" or value in (None, "", [], ()):
                continue
            out.append((str(flt.label or name), str(value)))
        return out

    def query(self) -> str:
        """The filters as a query string (for the tearsheet link and the journal link)."""
        params = QueryDict(mutable=True)
        for name in TRADE_FILTER_NAMES:
            for value in self.params.getlist(name):
                params.appendlist(name, value)
        if "mode" not in params:
            params["mode"] = self.mode
        if params.get("mode") == ALL_MODES:
            params["mode"] = ""
        return params.urlencode()


def report_filters(query: Mapping[str, Any] | QueryDict) -> ReportFilters:
    """The report's filters from a request's query (or a dict of parameters): the journal's
    TradeFilterSet with the report's mode rule (module docstring). The caller checks ``is_valid()``."""
    if isinstance(query, QueryDict):
        params = query.copy()
    else:
        params = QueryDict(mutable=True)
        for key, value in query.items():
            if value is not None:
                params[key] = str(value)
    raw_mode = params.get("mode")
    if raw_mode is None and not params.get("backtest_run"):
        mode = str(settings.TRADING_MODE).upper()
        params["mode"] = mode
    elif raw_mode is None or raw_mode.strip().upper() in ("", ALL_MODES):
        mode = ALL_MODES
        params["mode"] = ""
    else:
        mode = raw_mode.strip().upper()
    return ReportFilters(filterset=filter_trades(params), mode=mode, params=params)
