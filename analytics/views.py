"""The analytics page ``/analytics/`` and its tearsheet download: one call to ``analytics.report``.

The page and the tearsheet render the same ``Report`` with the same template
(``analytics/_report.html``); the tearsheet inlines the CSS, Chart.js and the chart code so that the
file opens offline (``analytics.tearsheet``).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from analytics import tearsheet
from analytics.report import build_report
from analytics.report_filters import report_filters
from journal.forms import filter_bar
from trading import access


@access.permission_required(access.VIEW_JOURNAL)
def analytics_page(request: HttpRequest) -> HttpResponse:
    """The journal's filter bar, then every figure, chart and table of the filtered trades."""
    filters = report_filters(request.GET)
    valid = filters.is_valid()
    context = {
        **filter_bar(filters.filterset, filters.params),
        "valid": valid,
        "report": build_report(filters) if valid else None,
    }
    return render(request, "analytics/page.html", context, status=200 if valid else 400)


@access.permission_required(access.VIEW_JOURNAL)
def tearsheet_download(request: HttpRequest) -> HttpResponse:
    """The same report as one self-contained HTML file (a download); 400 naming a bad filter."""
    filters = report_filters(request.GET)
    if not filters.is_valid():
        errors = "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in filters.errors.items())
        return HttpResponse(f"Bad filter - {errors}", status=400, content_type="text/plain; charset=utf-8")
    report = build_report(filters)
    response = HttpResponse(tearsheet.render_tearsheet(report), content_type="text/html; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{tearsheet.filename(report)}"'
    return response
