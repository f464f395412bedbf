"""The journal's pages: list, trade detail (with in-place notes and tags), manual entry, P&L calendar
and import. Server-rendered, login required; each view reads through ``journal.page_selectors`` (the
list, the calendar) or ``journal.detail_selectors`` (one trade) and writes through ``journal.services``
/ ``journal.import_services``."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from journal import combos, detail_selectors, import_services, page_selectors, selectors
from journal.filters import TRADE_FILTER_NAMES, filter_trades
from journal.forms import (
    COMBO_WINDOW_MAX,
    CalendarForm,
    ImportUploadForm,
    ManualTradeForm,
    TradeAnnotateForm,
    filter_bar,
)
from journal.models import Trade, TradeOrigin
from journal.services import record_trade, trade_update
from trading import access
from trading.choices import Mode

SESSION_IMPORT_KEY = "journal_import"


def _journal_params(query: QueryDict) -> QueryDict:
    """The request's query with the journal's default: the configured trading mode when no ``mode``
    is given at all (``mode=`` means every mode), so that totals never mix modes unasked."""
    params = query.copy()
    if "mode" not in params:
        params["mode"] = settings.TRADING_MODE
    return params


def _query(params: QueryDict, keep: tuple[str, ...] | None = None, **changes) -> str:
    """A query string of ``params`` (only ``keep`` names if given) with ``changes`` applied."""
    out = {}
    for key in params:
        if keep is not None and key not in keep:
            continue
        out[key] = params.getlist(key)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = [value]
    return urlencode([(k, v) for k, values in out.items() for v in values])


def _sort_links(params: QueryDict, sort: str) -> dict[str, dict]:
    """Per sortable column: its header link (toggles the direction, keeps the filters, restarts at
    the first page) and the arrow of the current sort."""
    desc = sort.startswith("-")
    links = {}
    for name, label in page_selectors.SORTABLE.items():
        current = sort.lstrip("-") == name
        target = (name if desc else f"-{name}") if current else f"-{name}"
        links[name] = {
            "label": label,
            "url": "?" + _query(params, sort=target, after=None, before=None),
            "arrow": ("▼" if desc else "▲") if current else "",
        }
    return links


@access.permission_required(access.VIEW_JOURNAL)
def trade_list(request: HttpRequest) -> HttpResponse:
    """The journal: filters, sortable columns, totals of the filtered set, keyset pages, exports."""
    params = _journal_params(request.GET)
    filterset = filter_trades(params)
    valid = filterset.is_valid()
    qs = filterset.qs if valid else Trade.objects.none()
    sort = page_selectors.normalise_sort(params.get("sort"))
    try:
        size = int(params.get("per", 25))
    except ValueError:
        size = 25
    size = size if size in page_selectors.PAGE_SIZES else 25
    page = page_selectors.trade_page(
        qs, sort=sort, after=params.get("after", ""), before=params.get("before", ""), size=size
    )
    # The API's totals: from the per-day performance rows when only dates and mode filter the set.
    totals = selectors.trade_totals(filterset) if valid else None
    # "Page N of M": no page before this one means rows 1..n; else one COUNT of the rows before it.
    position = page_selectors.page_position(
        qs, page, total=totals.trades if totals else 0, size=size, first_page=page.prev_cursor is None
    )
    filter_query = _query(params, keep=TRADE_FILTER_NAMES)
    # The API refuses an empty choice (mode= is "every mode" only on this page): exports leave empties out.
    export_query = _query(params, keep=TRADE_FILTER_NAMES, **{n: None for n in params if not params.get(n)})
    context = {
        **filter_bar(filterset, params),
        "filterset": filterset,
        "valid": valid,
        "page": page,
        "rows": combos.grouped_rows(list(page.trades)),
        "position": position,
        "totals": totals,
        "cols": _sort_links(params, sort),
        "sort": sort,
        "per": size,
        "page_sizes": page_selectors.PAGE_SIZES,
        "next_url": "?" + _query(params, after=page.next_cursor, before=None) if page.next_cursor else "",
        "prev_url": "?" + _query(params, before=page.prev_cursor, after=None) if page.prev_cursor else "",
        "first_url": "?" + _query(params, after=None, before=None) if page.prev_cursor else "",
        "export_csv": reverse("journal-api:trade-export-csv") + "?" + export_query,
        "export_xlsx": reverse("journal-api:trade-export-xlsx") + "?" + export_query,
        "analytics_url": reverse("analytics-pages:page") + "?" + filter_query,
        "mode": params.get("mode", ""),
    }
    return render(request, "journal/list.html", context, status=200 if valid else 400)


def _detail_context(trade: Trade, form: TradeAnnotateForm) -> dict:
    combo = trade.combo if trade.combo_id else None
    return {
        "trade": trade,
        "combo": combo,
        "combo_legs": list(combo.trades.order_by("entry_time", "trade_id")) if combo else [],
        "combo_payoff": combos.combo_payoff(combo) if combo else None,
        "groups": detail_selectors.trade_field_groups(trade),
        "context_rows": detail_selectors.market_context_rows(trade),
        "features": detail_selectors.trade_features(trade),
        "chart": detail_selectors.trade_chart(trade),
        "form": form,
        "audits": trade.audits.select_related("user")[:200],
    }


@access.permission_required(access.VIEW_JOURNAL)
def trade_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Every field of one trade, grouped; its chart; notes and tags editable; the audit history."""
    trade = get_object_or_404(Trade.objects.select_related("signal", "backtest_run", "combo"), pk=pk)
    form = TradeAnnotateForm(initial={"notes": trade.notes, "tags": ", ".join(trade.tag_list)})
    return render(request, "journal/detail.html", _detail_context(trade, form))


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


@access.permission_required(access.ANNOTATE_TRADE)
@require_POST
def trade_annotate(request: HttpRequest, pk: int) -> HttpResponse:
    """Save notes and tags (plain POST or fetch): re-derived, audited, source ``page``."""
    trade = get_object_or_404(Trade, pk=pk)
    form = TradeAnnotateForm(request.POST)
    if form.is_valid():
        try:
            trade = trade_update(trade=trade, user=request.user, source="page", **form.changes())
        except Trade.DoesNotExist:  # deleted since it was read above
            raise Http404 from None
        except ValidationError as exc:
            for name, msgs in getattr(exc, "message_dict", {None: exc.messages}).items():
                form.add_error(name if name in form.fields else None, msgs)
    if not form.is_valid():
        if _wants_json(request):
            return JsonResponse({"ok": False, "errors": form.errors.get_json_data()}, status=400)
        trade = get_object_or_404(Trade.objects.select_related("signal", "backtest_run", "combo"), pk=pk)
        return render(request, "journal/detail.html", _detail_context(trade, form), status=400)
    if _wants_json(request):
        audits = trade.audits.select_related("user")[:200]
        return JsonResponse(
            {
                "ok": True,
                "notes": trade.notes,
                "tags": trade.tag_list,
                "audit_html": render_to_string("journal/_audits.html", {"audits": audits}, request=request),
            }
        )
    messages.success(request, "Notes and tags saved.")
    return redirect("journal:detail", pk=trade.pk)


@access.permission_required(access.RECORD_TRADE)
@require_http_methods(["GET", "POST"])
def trade_new(request: HttpRequest) -> HttpResponse:
    """A trade entered by hand, validated exactly like record_trade; nothing is saved on error."""
    if request.method == "POST":
        now = timezone.now()
        form = ManualTradeForm(request.POST, now=now)
        if form.is_valid():
            try:
                trade = record_trade(now=now, origin=TradeOrigin.MANUAL, **form.raw)
            except ValidationError as exc:
                form.add_service_errors(exc)
            else:
                if getattr(trade, "spooled", False):
                    messages.warning(
                        request, "The database is unreachable: the trade is spooled and will appear soon."
                    )
                    return redirect("journal:list")
                messages.success(request, f"Trade {trade.trade_id} recorded.")
                return redirect("journal:detail", pk=trade.pk)
        return render(request, "journal/new.html", {"form": form}, status=400)
    form = ManualTradeForm(initial={"trade_id": ManualTradeForm.new_token()})
    return render(request, "journal/new.html", {"form": form})


@access.permission_required(access.VIEW_JOURNAL)
def pnl_calendar(request: HttpRequest) -> HttpResponse:
    """A month of daily net P&L (one mode), each day linking to its trades."""
    form = CalendarForm(request.GET)
    today = timezone.localdate()
    year_month = (today.year, today.month)
    mode = Mode.PAPER
    status = 200
    if form.is_valid():
        year_month = form.cleaned_data["month"] or year_month
        mode = form.cleaned_data["mode"] or Mode.PAPER
    else:
        status = 400
    month = page_selectors.calendar_month(month=date(year_month[0], year_month[1], 1), mode=mode)
    list_url = reverse("journal:list")
    for week in month.weeks:
        for cell in week:
            day = cell.day.isoformat()
            cell.url = f"{list_url}?{urlencode({'date_from': day, 'date_to': day, 'mode': mode})}"
    context = {
        "form": form,
        "month": month,
        "modes": Mode.choices,
        "prev": month.prev_month.strftime("%Y-%m"),
        "next": month.next_month.strftime("%Y-%m"),
        "weekdays": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
        "month_url": f"{list_url}?"
        + urlencode(
            {
                "date_from": month.month.isoformat(),
                "date_to": month.last_day.isoformat(),
                "mode": mode,
            }
        ),
    }
    return render(request, "journal/calendar.html", context, status=status)


@access.permission_required(access.IMPORT_TRADES)
@require_http_methods(["GET", "POST"])
def import_upload(request: HttpRequest) -> HttpResponse:
    """Upload a CSV and see what it would import, tradebook legs grouped into combos (nothing is
    saved here)."""
    if request.method == "GET":
        return render(request, "journal/import.html", {"form": _upload_form()})
    form = ImportUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return render(request, "journal/import.html", {"form": form}, status=400)
    upload = form.cleaned_data["file"]
    content = upload.read()
    window = form.cleaned_data.get("combo_window")
    preview = import_services.import_preview(content=content, filename=upload.name, combo_window=window)
    return _preview_page(request, preview, content, upload.name)


def _upload_form() -> ImportUploadForm:
    return ImportUploadForm(initial={"combo_window": import_services.combo_window_default()})


def _preview_page(request: HttpRequest, preview, content: bytes, filename: str) -> HttpResponse:
    can_confirm = preview.ok and preview.already_imported is None and bool(preview.new_trades)
    if can_confirm:
        import_services.stash_upload(content)
        request.session[SESSION_IMPORT_KEY] = {"sha256": preview.sha256, "filename": filename}
    context = {"form": _upload_form(), "preview": preview, "can_confirm": can_confirm}
    return render(request, "journal/import.html", context, status=200 if preview.ok else 400)


def _chosen_combos(request: HttpRequest) -> list[list[str]]:
    """The preview's grouping as the user left it: ``combo-<trade_id>`` = a combo number or blank."""
    chosen: dict[str, list[str]] = {}
    for key, value in request.POST.items():
        if key.startswith("combo-") and value.strip():
            chosen.setdefault(value.strip(), []).append(key.removeprefix("combo-"))
    return [chosen[n] for n in sorted(chosen, key=lambda n: (len(n), n))]


def _posted_window(request: HttpRequest) -> int | None:
    try:
        window = int(request.POST.get("combo_window", ""))
    except ValueError:
        return None
    return window if 0 <= window <= COMBO_WINDOW_MAX else None


@access.permission_required(access.IMPORT_TRADES)
@require_POST
def import_confirm(request: HttpRequest) -> HttpResponse:
    """Import the previewed file: all its new trades in one transaction, or nothing."""
    pending = request.session.get(SESSION_IMPORT_KEY) or {}
    sha = request.POST.get("sha256", "")
    content = import_services.load_stash(sha) if sha and pending.get("sha256") == sha else None
    if content is None:
        messages.error(request, "That upload is no longer pending: upload the file again.")
        return redirect("journal:import")
    filename = pending.get("filename") or "upload.csv"
    if request.POST.get("action") == "regroup":  # the same file again, grouped with another window
        preview = import_services.import_preview(
            content=content, filename=filename, combo_window=_posted_window(request)
        )
        return _preview_page(request, preview, content, filename)
    combos = _chosen_combos(request)
    try:
        result = import_services.import_commit(
            content=content, filename=filename, user=request.user, combos=combos
        )
    except import_services.ImportRejected as exc:
        preview = import_services.import_preview(content=content, filename=filename, combos=combos)
        preview.errors = preview.errors or exc.errors
        context = {"form": _upload_form(), "preview": preview, "can_confirm": False}
        return render(request, "journal/import.html", context, status=400)
    request.session.pop(SESSION_IMPORT_KEY, None)
    import_services.discard_stash(sha)
    if result.already_imported:
        messages.info(request, f"{filename} was imported before: nothing added.")
    else:
        messages.success(request, f"Imported {result.added} trade(s) from {filename}.")
    mode = "LIVE" if result.batch.kind == "zerodha" else ""
    return redirect(f"{reverse('journal:list')}?{urlencode({'mode': mode})}")
