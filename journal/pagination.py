"""Keyset (cursor) pagination: a page deep in the history costs what the first page costs.

DRF's own ``CursorPagination`` keys the position on the first ordering field and skips ties with an
OFFSET; this one keys it on the pair (time, id) the tables are indexed on, so a page is always one
index range scan: ``WHERE t <= :t AND (t < :t OR id < :id) ORDER BY t DESC, id DESC LIMIT n + 1``.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime

from django.db.models import Q, QuerySet
from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response

from journal.cursor import decode_cursor, encode_cursor
from trading import inputs

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


def parse_page_size(params, *, default: int = DEFAULT_PAGE_SIZE, maximum: int = MAX_PAGE_SIZE) -> int:
    """``page_size`` from the query: 1..maximum, else 400 naming ``page_size``."""
    return parse_positive_int(params, "page_size", default=default, maximum=maximum)


def parse_positive_int(params, name: str, *, default: int, maximum: int) -> int:
    """A positive whole number from the query string, at most ``maximum``; 400 naming it otherwise."""
    raw = params.get(name)
    if raw in (None, ""):
        return default
    text = str(raw).strip()
    if not text.isdigit() or len(text) > 12:
        raise ValidationError({name: [f"not a positive whole number: {raw!r}"]})
    value = int(text)
    if value < 1 or value > maximum:
        raise ValidationError({name: [f"must be between 1 and {maximum}"]})
    return value


def keyset_cursor(value: datetime, pk: int, *, backwards: bool = False) -> str:
    """The opaque ``cursor`` of the page that starts after (or, backwards, ends before) the row
    (value, pk) in the (time, id) order."""
    token: dict = {"t": value.isoformat(), "i": pk}
    if backwards:
        token["r"] = True
    return encode_cursor(token)


class KeysetCursorPagination(BasePagination):
    """Cursor pages over ``view.keyset_ordering`` = (``"-<datetime field>"``, ``"-id"``).

    Rows are model instances, or anything else when the view gives ``keyset_row_key(row)`` ->
    (time, id) (the trade list pages over value tuples: no model instances to build).

    Query: ``cursor`` (opaque, from ``next``/``previous``), ``page_size`` (1..500, default 50).
    Response: ``{"next": url|null, "previous": url|null, "results": [...]}``. A cursor that does not
    decode is a 400 naming ``cursor``.
    """

    cursor_query_param = "cursor"
    page_size_query_param = "page_size"

    def paginate_queryset(self, queryset: QuerySet, request, view=None) -> list:
        self.request = request
        field, desc = self._ordering(view)
        self.field = field
        self.page_size = parse_page_size(request.query_params)
        cursor = self._decode(request.query_params.get(self.cursor_query_param))
        backwards = bool(cursor and cursor[2])
        # Going back walks the index the other way, then the page is put back in display order.
        forward_desc = desc != backwards
        order = (f"-{field}", "-id") if forward_desc else (field, "id")
        if cursor:
            value, pk = cursor[0], cursor[1]
            if forward_desc:
                queryset = queryset.filter(
                    Q(**{f"{field}__lte": value}) & (Q(**{f"{field}__lt": value}) | Q(id__lt=pk))
                )
            else:
                queryset = queryset.filter(
                    Q(**{f"{field}__gte": value}) & (Q(**{f"{field}__gt": value}) | Q(id__gt=pk))
                )
        rows = list(queryset.order_by(*order)[: self.page_size + 1])
        more = len(rows) > self.page_size
        rows = rows[: self.page_size]
        if backwards:
            rows.reverse()
        has_next = (more and not backwards) or (backwards and cursor is not None)
        has_previous = (more and backwards) or (not backwards and cursor is not None)
        row_key = getattr(view, "keyset_row_key", None) or self._instance_key
        self.next_link = self._link(row_key(rows[-1]), False) if rows and has_next else None
        self.previous_link = self._link(row_key(rows[0]), True) if rows and has_previous else None
        return rows

    def _instance_key(self, row) -> tuple[datetime, int]:
        return getattr(row, self.field), row.pk

    def get_paginated_response(self, data) -> Response:
        return Response(
            OrderedDict([("next", self.next_link), ("previous", self.previous_link), ("results", data)])
        )

    def get_paginated_response_schema(self, schema: dict) -> dict:
        return {
            "type": "object",
            "required": ["results"],
            "properties": {
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "previous": {"type": "string", "nullable": True, "format": "uri"},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view) -> list[dict]:
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "The pagination cursor value (from next/previous).",
                "schema": {"type": "string"},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Results per page, 1..{MAX_PAGE_SIZE} (default {DEFAULT_PAGE_SIZE}).",
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
            },
        ]

    # --- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _ordering(view) -> tuple[str, bool]:
        first, second = view.keyset_ordering
        assert second.lstrip("-") == "id" and first.startswith("-") == second.startswith("-")
        return first.lstrip("-"), first.startswith("-")

    def _decode(self, raw: str | None):
        if raw in (None, ""):
            return None
        try:
            data = decode_cursor(raw)
            value = parse_datetime(data["t"])
            pk = data["i"]
            backwards = data.get("r", False)
            if value is None or value.tzinfo is None or type(pk) is not int or type(backwards) is not bool:
                raise ValueError
            if inputs.utc_offset_problem(value):
                raise ValueError
            if not (0 <= pk < 2**63) or not (2 <= value.year <= 9998):
                raise ValueError
        except (ValueError, TypeError, KeyError):  # BadCursor is a ValueError
            raise ValidationError({self.cursor_query_param: ["invalid cursor"]}) from None
        return value, pk, backwards

    def _link(self, key: tuple[datetime, int], backwards: bool) -> str:
        params = self.request.query_params.copy()
        params[self.cursor_query_param] = keyset_cursor(key[0], key[1], backwards=backwards)
        url = self.request.build_absolute_uri(self.request.path)
        return f"{url}?{params.urlencode()}"
