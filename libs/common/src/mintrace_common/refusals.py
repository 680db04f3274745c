"""Why licence matching refuses an export: one code list, read by matching (which refuses) and
alerting (which raises an alert per refusal)."""

from collections.abc import Iterable
from enum import StrEnum


class Refusal(StrEnum):
    UNLICENSED = "UNLICENSED"
    EXPIRED = "EXPIRED"
    NOT_YET_VALID = "NOT_YET_VALID"
    SUSPENDED = "SUSPENDED"
    REVOKED = "REVOKED"
    WRONG_EXPORTER = "WRONG_EXPORTER"
    MATERIAL_NOT_COVERED = "MATERIAL_NOT_COVERED"
    DESTINATION_MISMATCH = "DESTINATION_MISMATCH"
    CONSIGNEE_MISMATCH = "CONSIGNEE_MISMATCH"
    END_USER_MISMATCH = "END_USER_MISMATCH"
    QUANTITY_EXCEEDED = "QUANTITY_EXCEEDED"
    # the placeholder license-matching keeps for a cancellation that arrived before its report;
    # the report is decided as submitted when it arrives (never published as a refusal)
    CANCELLED = "CANCELLED"


# the licence exists but does not cover this export
INVALID = frozenset({Refusal.EXPIRED, Refusal.NOT_YET_VALID, Refusal.SUSPENDED, Refusal.REVOKED,
                     Refusal.WRONG_EXPORTER, Refusal.MATERIAL_NOT_COVERED,
                     Refusal.DESTINATION_MISMATCH, Refusal.CONSIGNEE_MISMATCH,
                     Refusal.END_USER_MISMATCH})


def alert_type(reasons: Iterable[str]) -> str | None:
    """The alert a refusal raises (SPEC §4 types), or None (a cancellation raises none)."""
    found = set(reasons)
    if Refusal.UNLICENSED in found:
        return "UNLICENSED_EXPORT"
    if found & INVALID:
        return "LICENCE_INVALID"
    if Refusal.QUANTITY_EXCEEDED in found:
        return "LICENCE_QUANTITY_EXCEEDED"
    return None
