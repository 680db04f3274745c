"""What PostgreSQL (through asyncpg) can store, judged before a value reaches it: text without NUL
and valid Unicode, instants that convert to UTC inside the datetime range, integers inside
bigint, decimals inside numeric. Pure: no framework, no database."""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

INT64 = (-(2**63), 2**63 - 1)
# numeric: up to 131072 digits before the decimal point, 16383 after (asyncpg silently encodes
# larger exponents as 0, so this is checked rather than left to the server).
NUMERIC_MAX_ADJUSTED = 131_071
NUMERIC_MAX_SCALE = 16_383
MAX_DEPTH = 64


@dataclass(frozen=True)
class Unstorable:
    """One value PostgreSQL cannot store: where it was (`path`), why (`code`, `message`)."""

    path: str
    code: str
    message: str


class UnstorableInput(ValueError):
    """Input that cannot become a database value; carries every problem found."""

    def __init__(self, problems: list[Unstorable]) -> None:
        super().__init__("; ".join(f"{p.path}: {p.message}" for p in problems))
        self.problems = problems


def _text(value: str) -> tuple[str, str] | None:
    if "\x00" in value:
        return "NUL_CHARACTER", "contains a NUL character, which PostgreSQL text cannot hold"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "INVALID_UNICODE", "contains a lone surrogate: not valid Unicode text"
    return None


def _scalar(value: Any) -> tuple[str, str] | None:
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        if not INT64[0] <= value <= INT64[1]:
            return "INTEGER_OUT_OF_RANGE", "integer outside the 64-bit range"
        return None
    if isinstance(value, Decimal):
        if value.is_finite() and (value.adjusted() > NUMERIC_MAX_ADJUSTED
                                  or -value.as_tuple().exponent > NUMERIC_MAX_SCALE):
            return "NUMBER_OUT_OF_RANGE", "number outside PostgreSQL's numeric range"
        return None
    if isinstance(value, datetime) and value.tzinfo is not None:
        try:
            value.astimezone(UTC)
        except OverflowError:
            return ("TIMESTAMP_OUT_OF_RANGE",
                    "instant outside the supported range (years 1 to 9999 in UTC)")
    return None


def label(name: Any) -> str:
    """A name fit for a problem's path: printable, short."""
    text = str(name)[:80]
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")


def _children(value: Any) -> Iterator[tuple[str, Any]] | None:
    if isinstance(value, BaseModel):
        return ((f".{k}", v) for k, v in value)
    if isinstance(value, Mapping):  # keys too: a JSON object's keys are stored as text
        return (item for k, v in value.items()
                for item in ((f".{label(k)}", v), (f".{label(k)}<key>", k)))
    if isinstance(value, list | tuple | set | frozenset):
        return ((f"[{i}]", v) for i, v in enumerate(value))
    return None


def problems(value: Any, path: str = "$") -> list[Unstorable]:
    """Every part of `value` (scalars, containers, pydantic models; mapping keys included) that
    PostgreSQL cannot store. Values of other types are not judged."""
    found: list[Unstorable] = []
    stack = [(path, value, 0)]
    while stack:
        where, v, depth = stack.pop()
        bad = _scalar(v)
        if bad is not None:
            found.append(Unstorable(where, *bad))
            continue
        children = _children(v) if depth < MAX_DEPTH else None
        if children is not None:
            stack.extend((where + k, child, depth + 1) for k, child in children)
    return sorted(found, key=lambda p: p.path)


def check(value: Any, path: str = "$") -> None:
    """Raises UnstorableInput naming every problem of `value`."""
    found = problems(value, path)
    if found:
        raise UnstorableInput(found)
