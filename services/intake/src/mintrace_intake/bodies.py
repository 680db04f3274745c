"""Request bodies: bounded reading, JSON and NDJSON batches split item by item, and structural
problems in the shape every 4xx answer uses. No framework state, no I/O beyond the stream."""

import codecs
import json
import re
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from mintrace_common.models import Problem

MAX_PATH_PART = 80


class HTTPProblem(Exception):
    """An answer other than success: status, a one-line detail, optionally every problem."""

    def __init__(self, status: int, detail: str, problems: list[Problem] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.problems, self.headers = status, detail, problems, headers

    def item(self, index: int) -> dict:
        """This problem as one entry of a batch's results."""
        out: dict[str, Any] = {"index": index, "status": self.status, "detail": self.detail}
        if self.problems:
            out["problems"] = [p.model_dump() for p in self.problems]
        return out


def _part(p: Any) -> str:
    # Field names come from the client: keep them printable, short and encodable.
    text = str(p).encode("utf-8", "replace").decode("utf-8")[:MAX_PATH_PART]
    return text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text


def json_path(loc: tuple, prefix: str = "") -> str:
    """("inputs", 0, "lot_id") -> "inputs[0].lot_id" (after `prefix`, e.g. "[3]")."""
    out = prefix
    for p in loc:
        out += f"[{p}]" if isinstance(p, int) else (f".{_part(p)}" if out else _part(p))
    return out or "$"


def problems_of(exc: ValidationError, prefix: str = "") -> list[Problem]:
    """Every structural problem pydantic found, coded SCHEMA_<error type> (stable across
    pydantic 2.x; custom rules of the Report model name their own types)."""
    return [Problem(code=f"SCHEMA_{e['type'].upper()}", path=json_path(tuple(e["loc"]), prefix),
                    message=e["msg"]) for e in exc.errors(include_url=False)]


async def read_body(stream: AsyncIterator[bytes], declared: str | None,
                    limit: int) -> bytearray:
    """The body, refused with 413 as soon as it is known to exceed `limit` — from the declared
    Content-Length before reading, else while streaming — never after reading it whole."""
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPProblem(413, f"body exceeds {limit} bytes")
    body = bytearray()  # grown in place: no list of chunks joined into a second copy
    async for chunk in stream:
        if len(body) + len(chunk) > limit:
            raise HTTPProblem(413, f"body exceeds {limit} bytes")
        body += chunk
    return body


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


# A number with a fraction or exponent becomes a Decimal, never a binary float: a quantity of
# 999999999999.999999 must not arrive as 1000000000000.0.
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=Decimal)
_WS = re.compile(rb"[ \t\r\n]*")
_WS_TEXT = re.compile(r"[ \t\r\n]*")
FIRST_WINDOW = 8 * 1024


def _invalid_json(message: str, path: str = "$") -> HTTPProblem:
    return HTTPProblem(422, "body is not JSON", [Problem(code="INVALID_JSON", path=path,
                                                         message=message)])


def _text(body: bytes | bytearray) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _invalid_json(f"not UTF-8: {exc.reason} at byte {exc.start}") from None


def _decode(text: str, at: int = 0) -> tuple[Any, int]:
    try:
        return _DECODER.raw_decode(text, at)
    except json.JSONDecodeError as exc:
        raise _invalid_json(f"{exc.msg} at character {exc.pos}") from None
    except ValueError as exc:
        raise _invalid_json(str(exc)) from None
    except RecursionError:
        raise _invalid_json("nested too deeply") from None


def _skip_ws(body: bytes | bytearray, i: int) -> int:
    return _WS.match(body, i).end()


JSON_TYPES = ("application/json",)
NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl")


def require_type(content_type: str, allowed: tuple[str, ...]) -> None:
    """415 unless the media type (parameters such as charset aside) is one of `allowed`."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media not in allowed:
        raise HTTPProblem(415, f"content type {media or '(none)'!r} is not accepted; send "
                               f"{' or '.join(allowed)}",
                          [Problem(code="UNSUPPORTED_MEDIA_TYPE", path="$",
                                   message=f"expected {' or '.join(allowed)}")])


def one(body: bytes | bytearray) -> Any:
    """A single JSON document."""
    text = _text(body)
    item, end = _decode(text, _WS_TEXT.match(text).end())
    if _WS_TEXT.match(text, end).end() != len(text):
        raise _invalid_json(f"extra data at character {end}")
    return item


def items(body: bytes | bytearray, content_type: str, max_items: int,
          max_item_bytes: int) -> Iterator[Any | HTTPProblem]:
    """The reports of a batch body, one at a time (or, for an NDJSON line that is not JSON or
    too large, the problem). No item is parsed beyond `max_item_bytes`: an NDJSON line over it is
    413 for that line; an array item over it makes the request 413 (its end cannot be found
    without parsing it). More than `max_items` → 413 before the rest is parsed."""
    if content_type.split(";", 1)[0].strip().lower() in NDJSON_TYPES:
        yield from _lines(body, max_items, max_item_bytes)
    else:
        yield from _array(body, max_items, max_item_bytes)


def _too_many(max_items: int) -> HTTPProblem:
    return HTTPProblem(413, f"a batch holds at most {max_items} reports")


def _lines(body: bytes | bytearray, max_items: int, limit: int) -> Iterator[Any | HTTPProblem]:
    # Lines end at "\n" only (a "\r" before it is whitespace): U+2028, U+2029 and U+0085 are
    # legal inside JSON strings and split nothing.
    count, at = 0, 0
    while (start := _skip_ws(body, at)) < len(body):
        newline = body.find(b"\n", start)
        at = len(body) if newline < 0 else newline + 1
        count += 1
        if count > max_items:
            raise _too_many(max_items)
        if at - start > limit:
            yield HTTPProblem(413, f"report exceeds {limit} bytes")
            continue
        try:
            yield one(body[start:at])
        except HTTPProblem as p:
            yield p


def _array(body: bytes | bytearray, max_items: int, limit: int) -> Iterator[Any]:
    i = _skip_ws(body, 0)
    if not body.startswith(b"[", i):
        _text(body)  # not UTF-8 at all: say so
        raise HTTPProblem(422, "a batch is a JSON array (or NDJSON with an ndjson content type)",
                          [Problem(code="BATCH_NOT_ARRAY", path="$", message="expected an array")])
    i = _skip_ws(body, i + 1)
    if body.startswith(b"]", i):
        i = _skip_ws(body, i + 1)
    else:
        count = 0
        while True:
            count += 1
            if count > max_items:
                raise _too_many(max_items)
            item, end = _item_at(body, i, limit)
            if item is _TOO_LARGE:
                raise HTTPProblem(413, f"report [{count - 1}] exceeds {limit} bytes")
            yield item
            i = _skip_ws(body, end)
            if body.startswith(b",", i):
                i = _skip_ws(body, i + 1)
                continue
            if body.startswith(b"]", i):
                i = _skip_ws(body, i + 1)
                break
            raise _invalid_json(f"expected ',' or ']' at byte {i}")
    if i != len(body):
        raise _invalid_json(f"extra data at byte {i}")


_TOO_LARGE = object()


def _item_at(body: bytes | bytearray, start: int, limit: int) -> tuple[Any, int]:
    """The JSON value at byte `start` and the byte after it, parsed from a window of the body:
    first a small one (most reports fit), then `limit` + 1 bytes. A value that does not end
    within `limit` bytes is (_TOO_LARGE, -1): never materialised beyond the window."""
    failed = None
    for size in dict.fromkeys((min(FIRST_WINDOW, limit + 1), limit + 1)):
        window = body[start:start + size]
        cut = start + size < len(body)
        text, bad_byte = _window_text(window, final=not cut)
        try:
            item, end = _DECODER.raw_decode(text)
        except json.JSONDecodeError as exc:
            if bad_byte is not None:
                raise _invalid_json(f"not UTF-8 at byte {start + bad_byte}") from None
            # a failure that stays put when the window grows is in the value, not the window's
            # edge (an unterminated string is reported where it starts: it may just be long)
            if not cut or (failed == (exc.msg, exc.pos)
                           and not exc.msg.startswith("Unterminated string")):
                raise _invalid_json(f"{exc.msg} at byte {start + exc.pos}") from None
            failed = (exc.msg, exc.pos)
            continue
        except ValueError as exc:
            raise _invalid_json(str(exc)) from None
        except RecursionError:
            raise _invalid_json("nested too deeply") from None
        if cut and end == len(text):
            continue  # a number may go on past the window's edge
        used = end if text.isascii() else len(text[:end].encode())
        return (_TOO_LARGE, -1) if used > limit else (item, start + used)
    return _TOO_LARGE, -1


def _window_text(window: bytes | bytearray, final: bool) -> tuple[str, int | None]:
    """The window as text (a multi-byte character cut at its end left out unless `final`),
    and where the first byte that is not UTF-8 is, if any (the text stops there)."""
    try:
        return codecs.utf_8_decode(window, "strict", final)[0], None
    except UnicodeDecodeError as exc:
        return window[:exc.start].decode(), exc.start
