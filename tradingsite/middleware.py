"""Site-wide guards on requests, before any view runs."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse


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
