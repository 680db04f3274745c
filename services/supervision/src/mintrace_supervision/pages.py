"""Keyset pagination: a cursor is the sort key of the last item returned, opaque to clients.
A cursor comes back from the client, so it is input like any other: decoded to the key's types
and judged storable before it reaches a query."""

import base64
import json
from datetime import date, datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError

from mintrace_common import storable


class BadCursor(ValueError):
    """A cursor this API did not hand out (or for another listing)."""


def encode(kind: str, key: list) -> str:
    raw = json.dumps([kind, [v.isoformat() if isinstance(v, date | datetime) else v
                             for v in key]], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(kind: str, cursor: str, key_type: TypeAdapter) -> tuple[Any, ...]:
    """The key inside `cursor`, as `key_type` (a tuple of the sort key's types); raises
    BadCursor."""
    try:
        got, key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError, RecursionError) as exc:
        raise BadCursor(f"not a cursor: {exc}") from None
    if got != kind:
        raise BadCursor(f"not a cursor of {kind}")
    try:
        typed = key_type.validate_python(key, strict=False)
        storable.check(typed, "cursor")
    except ValidationError as exc:
        why = "; ".join(e["msg"] for e in exc.errors(include_url=False))
        raise BadCursor(f"not a cursor of {kind}: {why}") from None
    except storable.UnstorableInput as exc:
        raise BadCursor(f"not a cursor of {kind}: {exc}") from None
    return typed
