"""Who may read what: a provincial supervisor its own province, the national office everything."""

from mintrace_common.provinces import BY_SLUG, NATIONAL


class UnknownScope(LookupError):
    """Neither a province slug nor `national`."""


def check_scope(scope: str) -> str | None:
    """The province code a scope (slug or `national`) filters on; None for national.
    Raises UnknownScope."""
    if scope == NATIONAL:
        return None
    if scope not in BY_SLUG:
        raise UnknownScope(scope)
    return BY_SLUG[scope].code


def may_read(kind: str, subject: str, scope: str) -> bool:
    """A supervisor key of `subject` (a slug or `national`) may read `scope`."""
    return kind == "supervisor" and subject in (NATIONAL, scope)
