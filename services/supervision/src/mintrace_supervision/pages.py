"""Keyset pagination: a cursor is the sort key of the last item returned, opaque to clients."""

import base64
import json
from datetime import date, datetime


class BadCursor(ValueError):
    """A cursor this API did not hand out (or for another listing)."""


def encode(kind: str, key: list) -> str:
    raw = json.dumps([kind, [v.isoformat() if isinstance(v, date | datetime) else v
                             for v in key]], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(kind: str, cursor: str, length: int) -> list:
    """The key inside `cursor`; raises BadCursor."""
    try:
        got, key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError) as exc:
        raise BadCursor(f"not a cursor: {exc}") from None
    if got != kind or not isinstance(key, list) or len(key) != length:
        raise BadCursor(f"not a {kind} cursor")
    return key
