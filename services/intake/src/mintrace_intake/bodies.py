"""Request bodies: bounded reading, JSON and NDJSON batches split item by item, and structural
problems in the shape every 4xx answer uses. No framework state, no I/O beyond the stream."""

import json
from collections.abc import AsyncIterator, Iterator
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


async def read_body(stream: AsyncIterator[bytes], declared: str | None, limit: int) -> bytes:
    """The body, refused with 413 as soon as it is known to exceed `limit` — from the declared
    Content-Length before reading, else while streaming — never after reading it whole."""
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPProblem(413, f"body exceeds {limit} bytes")
    chunks, size = [], 0
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            raise HTTPProblem(413, f"body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)


def _invalid_json(message: str, path: str = "$") -> HTTPProblem:
    return HTTPProblem(422, "body is not JSON", [Problem(code="INVALID_JSON", path=path,
                                                         message=message)])


def _text(body: bytes) -> str:
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


def _skip_ws(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    return i


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


def one(body: bytes) -> Any:
    """A single JSON document."""
    text = _text(body)
    item, end = _decode(text, _skip_ws(text, 0))
    if _skip_ws(text, end) != len(text):
        raise _invalid_json(f"extra data at character {end}")
    return item


def items(body: bytes, content_type: str,
          max_items: int) -> Iterator[tuple[Any, int] | HTTPProblem]:
    """The reports of a batch body, one at a time, each with its size in characters (or, for an
    NDJSON line that is not JSON, the problem). More than `max_items` → 413 before the rest is
    parsed."""
    text = _text(body)
    if content_type.split(";", 1)[0].strip().lower() in NDJSON_TYPES:
        lines = [line for line in text.splitlines() if line.strip()]
        if len(lines) > max_items:
            raise HTTPProblem(413, f"a batch holds at most {max_items} reports")
        for line in lines:
            try:
                yield one(line.encode()), len(line)
            except HTTPProblem as p:
                yield p
        return
    yield from _array(text, max_items)


def _array(text: str, max_items: int) -> Iterator[tuple[Any, int]]:
    i = _skip_ws(text, 0)
    if not text.startswith("[", i):
        raise HTTPProblem(422, "a batch is a JSON array (or NDJSON with an ndjson content type)",
                          [Problem(code="BATCH_NOT_ARRAY", path="$", message="expected an array")])
    i = _skip_ws(text, i + 1)
    if text.startswith("]", i):
        i = _skip_ws(text, i + 1)
    else:
        count = 0
        while True:
            count += 1
            if count > max_items:
                raise HTTPProblem(413, f"a batch holds at most {max_items} reports")
            item, end = _decode(text, i)
            yield item, end - i
            i = _skip_ws(text, end)
            if text.startswith(",", i):
                i = _skip_ws(text, i + 1)
                continue
            if text.startswith("]", i):
                i = _skip_ws(text, i + 1)
                break
            raise _invalid_json(f"expected ',' or ']' at character {i}")
    if i != len(text):
        raise _invalid_json(f"extra data at character {i}")
