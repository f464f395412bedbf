"""One raw field of a trade read and checked: numbers, times, dates, choices, text and tags, each
refused by name (``ValidationError``), and the errors of a whole trade gathered to be raised at once
(``FieldErrors``). ``journal.derive`` checks a trade with them."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils.dateparse import parse_date, parse_datetime

from trading import inputs

log = logging.getLogger(__name__)

IST = ZoneInfo("Asia/Kolkata")


class FieldErrors:
    """The errors of every field of one trade, collected so that a form or an API answer names them
    all at once; a check whose input already failed is skipped."""

    def __init__(self) -> None:
        self.by_field: dict[str, list[str]] = {}

    def add(self, name: str, message: str) -> None:
        self.by_field.setdefault(name, []).append(message)

    @contextmanager
    def collect(self):
        try:
            yield
        except ValidationError as exc:
            for name, messages in message_dict(exc).items():
                for message in messages:
                    self.add(name, message)

    def raise_any(self) -> None:
        if self.by_field:
            raise ValidationError(self.by_field)


def message_dict(exc: ValidationError) -> dict[str, list[str]]:
    return exc.message_dict if hasattr(exc, "error_dict") else {NON_FIELD_ERRORS: exc.messages}


def decimal_of(name: str, value) -> Decimal:
    try:
        d = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise ValidationError({name: f"not a number: {value!r}"}) from exc
    if not d.is_finite():
        raise ValidationError({name: f"not a finite number: {value!r}"})
    if abs(d) >= Decimal("1e12"):
        raise ValidationError({name: f"out of range: {value!r}"})
    return d


def datetime_of(name: str, value) -> datetime:
    if isinstance(value, str):
        try:
            parsed = parse_datetime(value.strip())
        except ValueError:  # well-formed but impossible, e.g. 2026-02-30 or an offset of 24 hours
            parsed = None
        if parsed is None:
            raise ValidationError({name: f"not a date-time: {value!r}"})
        value = parsed
    if not isinstance(value, datetime):
        raise ValidationError({name: f"not a date-time: {value!r}"})
    if value.tzinfo is None:
        raise ValidationError({name: "date-time without a time zone (give UTC or +05:30)"})
    problem = inputs.utc_offset_problem(value)
    if problem:
        raise ValidationError({name: problem})
    if not 1990 <= value.year <= 2200:
        raise ValidationError({name: f"out of range: {value.isoformat()}"})
    return value


def date_of(name: str, value) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        parsed = parse_date(str(value).strip()) if value is not None else None
    except ValueError:  # well-formed but impossible, e.g. 2026-02-30
        parsed = None
    if parsed is None:
        raise ValidationError({name: f"not a date: {value!r}"})
    if not 1990 <= parsed.year <= 2200:
        raise ValidationError({name: f"out of range: {parsed.isoformat()}"})
    return parsed


def choice_of(name: str, value, choices) -> str:
    v = str(value).strip().upper()
    allowed = [c for c, _ in choices]
    if v not in allowed:
        raise ValidationError({name: f"unknown {name} {value!r}: expected one of {', '.join(allowed)}"})
    return v


def text_of(name: str, value, *, label: bool) -> str:
    """A text fact: refused with control characters (labels: any control or format character)."""
    text = "" if value is None else str(value)
    problem = inputs.text_problem(text, label=label)
    if problem:
        raise ValidationError({name: problem})
    return text


def normalize_tags(value) -> str:
    if value is None or value == "":
        return ""
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    tags = sorted({str(t).strip().lower() for t in items if str(t).strip()})
    for t in tags:
        if "," in t:
            raise ValidationError({"tags": f"a tag may not contain a comma: {t!r}"})
        problem = inputs.text_problem(t, label=True)
        if problem:
            raise ValidationError({"tags": f"tag {t!r} {problem}"})
    return "," + ",".join(tags) + "," if tags else ""
