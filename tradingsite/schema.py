"""The OpenAPI schema's common answers: every operation documents 400, 401, 403 and 404 with the
error bodies DRF sends, and 503 while the database is unreachable (``tradingsite.middleware``) - a
drf-spectacular postprocessing hook."""

from __future__ import annotations

from typing import Any

_DETAIL = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
# A 400 names each bad field: {"field": ["message", ...]}, or {"detail": "..."} when the body itself
# cannot be read.
_FIELD_ERRORS = {
    "type": "object",
    "additionalProperties": {
        "oneOf": [{"type": "array", "items": {"type": "string"}}, {"type": "string"}],
    },
}
ERROR_RESPONSES: dict[str, dict[str, Any]] = {
    "400": {"description": "Bad input: each bad field is named with its messages", "schema": _FIELD_ERRORS},
    "401": {"description": "Not authenticated: log in or send Authorization: Token <key>", "schema": _DETAIL},
    "403": {"description": "Your role does not allow this", "schema": _DETAIL},
    "404": {"description": "No such object (or route)", "schema": _DETAIL},
    "503": {
        "description": "The database is unreachable: nothing was read or changed; retry after Retry-After seconds",
        "schema": _DETAIL,
    },
}


def add_error_responses(result: dict, generator: Any, request: Any, public: bool) -> dict:
    """Give every operation the error answers above, unless it documents its own."""
    for path in result.get("paths", {}).values():
        for method, operation in path.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            responses = operation.setdefault("responses", {})
            for code, spec in ERROR_RESPONSES.items():
                current = responses.get(code)
                if current is None or "content" not in current:
                    responses[code] = {
                        "description": (current or {}).get("description") or spec["description"],
                        "content": {"application/json": {"schema": spec["schema"]}},
                    }
    return result
