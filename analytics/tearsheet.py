"""The tearsheet: a report (``analytics.report.Report``) as ONE self-contained HTML file.

The same body template as the page (``analytics/_report.html``), with the stylesheets, Chart.js
(``static/vendor``) and the chart code (``static/analytics/report.js``) inlined: the file opens from
disk, offline, with no server. Used by the page's download and by ``manage.py report --out FILE``.
"""

from __future__ import annotations

import re
from pathlib import Path

from django.contrib.staticfiles import finders
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from analytics.report import Report

STYLESHEETS = ("css/desk.css", "journal/journal.css", "analytics/report.css")
SCRIPTS = ("vendor/chart.umd.min.js", "analytics/report.js")


def _static_text(path: str) -> str:
    found = finders.find(path)
    if not found:
        raise FileNotFoundError(f"static file {path} not found")
    return Path(found).read_text(encoding="utf-8")


def _inline(text: str, tag: str) -> str:
    """Text safe inside ``<tag>``: a closing ``</tag`` in it would end the element early."""
    return re.sub(rf"</({tag})", r"<\\/\1", text, flags=re.IGNORECASE)


def render_tearsheet(report: Report) -> str:
    """The report as a complete HTML document with every asset inlined (no URL is fetched)."""
    css = "\n".join(_inline(_static_text(p), "style") for p in STYLESHEETS)
    js = [_inline(_static_text(p), "script") for p in SCRIPTS]
    return render_to_string(
        "analytics/tearsheet.html",
        {"report": report, "inline_css": mark_safe(css), "inline_js": [mark_safe(s) for s in js]},  # noqa: S308 - our own static files
    )


def filename(report: Report) -> str:
    """``tearsheet-PAPER-2026-05-20.html``: the mode and the day it was made."""
    mode = re.sub(r"[^A-Za-z0-9]+", "-", report.mode).strip("-") or "report"
    return f"tearsheet-{mode}-{report.generated_at:%Y-%m-%d}.html"
