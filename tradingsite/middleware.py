"""Site-wide guards on requests, before any view runs."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

log = logging.getLogger(__name__)

DATABASE_DOWN = "The database is unreachable; nothing was read or changed. Try again in a minute."
RETRY_AFTER_SECONDS = 30


def refuse_nul_in_query(get_response: Callable[[HttpRequest], HttpResponse]) -> Callable:
    """400 naming the parameter when a query string holds a NUL character: no page or endpoint can
    use one, and PostgreSQL refuses it in any comparison (a server error further down)."""

    def middleware(request: HttpRequest) -> HttpResponse:
        for key, values in request.GET.lists():
            if "\x00" in key or any("\x00" in value for value in values):
                name = key.replace("\x00", "") or "query"
                return JsonResponse({name: ["contains a NUL character"]}, status=400)
        return get_response(request)

    return middleware


def database_unavailable(request: HttpRequest) -> HttpResponse:
    """503 while the database is unreachable, never a 500: JSON ``{"detail": ...}`` under /api/ (what
    the API documents), a short plain page elsewhere - built without a template, a session or a
    user, since each of those would ask the database again. ``Retry-After`` says when to try."""
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse({"detail": DATABASE_DOWN}, status=503)
    else:
        response = HttpResponse(
            "<!doctype html><html lang=en><meta charset=utf-8><title>Database unreachable</title>"
            f"<h1>Database unreachable</h1><p>{DATABASE_DOWN}</p></html>",
            status=503,
            content_type="text/html; charset=utf-8",
        )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def is_database_down(exc: BaseException | None) -> bool:
    """Whether ``exc`` says the database cannot be reached (connection refused, cut, timed out)."""
    return isinstance(exc, OperationalError | InterfaceError)


class DatabaseUnavailableMiddleware:
    """A view (page, API, admin) that meets an unreachable database answers 503, not 500. Errors
    raised by other middleware (a session saved on the way out) reach ``tradingsite.views.server_error``,
    which answers the same."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_database_down(exception):
            return None
        log.warning("%s %s: database unreachable: %s", request.method, request.path, exception)
        return database_unavailable(request)


def sync_below(get_response: Callable[[HttpRequest], HttpResponse]) -> Callable:
    """The innermost middleware, sync only: under ASGI, Django runs every middleware above it in
    its synchronous mode too (each is sync-capable), so a request enters one worker thread once,
    instead of hopping between the event loop and a thread at each middleware's request and response
    (the async mode of ``MiddlewareMixin`` runs both through ``sync_to_async``). The same middleware,
    in the same order, answer the same; only the hops go."""

    def middleware(request: HttpRequest) -> HttpResponse:
        return get_response(request)

    return middleware
