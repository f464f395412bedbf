"""The one encoding of keyset-pagination cursors (the API's ``cursor``, the journal page's
``after``/``before``): a small JSON object as unpadded URL-safe base64, opaque to clients."""

from __future__ import annotations

import base64
import binascii
import json


class BadCursor(ValueError):
    """The text is not a cursor this encoding made."""


def encode_cursor(token: dict) -> str:
    """``token`` (JSON-ready values) as an opaque cursor."""
    return base64.urlsafe_b64encode(json.dumps(token, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(text: str) -> dict:
    """The token of a cursor; raises ``BadCursor`` for anything ``encode_cursor`` did not make."""
    try:
        padded = text + "=" * (-len(text) % 4)
        token = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error) as exc:
        raise BadCursor(str(exc)) from None
    if not isinstance(token, dict):
        raise BadCursor("not an object")
    return token
