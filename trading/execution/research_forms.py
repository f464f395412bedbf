"""The research pages' and API's input, checked once: a bad value is a 400 naming its field."""

from __future__ import annotations

import json
from datetime import date, timedelta

from django import forms
from django.conf import settings

from analytics import drift as drift_figures
from analytics import research
from trading.core import contracts

MAX_SPAN_DAYS = 31  # a drift report backtests each session: a month at most per request
MAX_RUNS = 5_000  # Monte Carlo paths (runs x trades floats are held at once)
# The calendar's arithmetic (session times, +- hours) stays inside these years.
FIRST_DATE, LAST_DATE = date(2000, 1, 1), date(2099, 12, 31)
MAX_STUDY_SESSIONS = 260  # a walk-forward backtests every candidate over the span: a year at most


def _check_dates(form: forms.Form, data: dict, *names: str) -> None:
    for name in names:
        value = data.get(name)
        if value is not None and not FIRST_DATE <= value <= LAST_DATE:
            form.add_error(name, f"between {FIRST_DATE} and {LAST_DATE}")
            data.pop(name, None)


def _index_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in contracts.INDICES]


class DriftForm(forms.Form):
    """Sessions ``start..end`` of one index; the modes compared; the matching tolerance (minutes)."""

    start = forms.DateField()
    end = forms.DateField(required=False)
    index = forms.ChoiceField(choices=_index_choices, required=False)
    mode = forms.ChoiceField(
        choices=[("", "PAPER and LIVE"), ("PAPER", "PAPER"), ("LIVE", "LIVE")], required=False
    )
    tolerance = forms.IntegerField(min_value=0, max_value=375, required=False)
    table = forms.ChoiceField(choices=[("rows", "rows"), ("summary", "summary")], required=False)  # CSV only

    def clean(self):
        data = super().clean()
        _check_dates(self, data, "start", "end")
        start, end = data.get("start"), data.get("end") or data.get("start")
        if start and end:
            if end < start:
                self.add_error("end", "before start")
            elif (end - start).days >= MAX_SPAN_DAYS:
                self.add_error("end", f"at most {MAX_SPAN_DAYS} days after start")
        data["end"] = end
        data["index"] = data.get("index") or settings.TRADING_INDEX.upper()
        data["modes"] = (data["mode"],) if data.get("mode") else ("PAPER", "LIVE")
        minutes = data.get("tolerance")
        data["tolerance"] = drift_figures.DEFAULT_TOLERANCE if minutes is None else timedelta(minutes=minutes)
        return data


class MonteCarloForm(forms.Form):
    """Monte Carlo of a stored backtest run."""

    method = forms.ChoiceField(choices=[(m, m) for m in research.METHODS], required=False)
    runs = forms.IntegerField(min_value=1, max_value=MAX_RUNS, required=False)
    seed = forms.IntegerField(min_value=0, max_value=2**63 - 1, required=False)
    floor = forms.DecimalField(max_digits=16, decimal_places=2, required=False)

    def clean(self):
        data = super().clean()
        data["method"] = data.get("method") or "shuffle"
        data["runs"] = data.get("runs") or 1000
        data["seed"] = 0 if data.get("seed") is None else data["seed"]
        data["floor"] = None if data.get("floor") is None else float(data["floor"])
        return data


class RunsForm(forms.Form):
    """Backtest run ids, comma separated: the trials of a sweep."""

    runs = forms.CharField(max_length=2000)

    def clean_runs(self) -> list[int]:
        parts = [p.strip() for p in self.cleaned_data["runs"].split(",") if p.strip()]
        if not parts or not all(p.isdigit() and len(p) <= 18 for p in parts):
            raise forms.ValidationError("comma-separated backtest run ids")
        return sorted({int(p) for p in parts})


class WalkForwardForm(forms.Form):
    """A walk-forward study: strategy, parameter grid (JSON object of lists), span and windows."""

    strategy = forms.CharField(max_length=64)
    grid = forms.JSONField()
    start = forms.DateField()
    end = forms.DateField()
    in_sample = forms.IntegerField(min_value=1, max_value=MAX_STUDY_SESSIONS)
    out_of_sample = forms.IntegerField(min_value=1, max_value=MAX_STUDY_SESSIONS)
    step = forms.IntegerField(min_value=1, max_value=MAX_STUDY_SESSIONS, required=False)
    anchored = forms.BooleanField(required=False)
    score = forms.ChoiceField(choices=[(s, s) for s in research.SCORES], required=False)
    seed = forms.IntegerField(min_value=0, max_value=2**31 - 1, required=False)
    index = forms.ChoiceField(choices=_index_choices, required=False)
    source = forms.ChoiceField(
        choices=[("sim", "simulated market"), ("store", "market-data store")], required=False
    )

    def clean_grid(self):
        grid = self.cleaned_data["grid"]
        if isinstance(grid, str):
            try:
                grid = json.loads(grid)
            except ValueError:
                raise forms.ValidationError("a JSON object: parameter -> list of values") from None
        if not isinstance(grid, dict) or not all(
            isinstance(k, str) and isinstance(v, list) and v for k, v in grid.items()
        ):
            raise forms.ValidationError("a JSON object: parameter -> non-empty list of values")
        return grid

    def clean(self):
        data = super().clean()
        _check_dates(self, data, "start", "end")
        start, end = data.get("start"), data.get("end")
        if start and end:
            if end < start:
                self.add_error("end", "before start")
            elif (end - start).days > MAX_STUDY_SESSIONS * 7 // 5 + 14:
                self.add_error("end", f"at most about {MAX_STUDY_SESSIONS} sessions after start")
        data["score"] = data.get("score") or "sharpe"
        data["seed"] = 7 if data.get("seed") is None else data["seed"]
        data["index"] = data.get("index") or settings.TRADING_INDEX.upper()
        data["source"] = data.get("source") or "sim"
        return data


def form_errors(form: forms.Form) -> dict[str, list[str]]:
    """The form's errors by field (``__all__`` for the form's own), as the API's 400 body."""
    return {name: [str(m) for m in messages] for name, messages in form.errors.items()}
