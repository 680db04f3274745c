"""Export-licence matching: a pure decision per report against the licence it names.
No broker, no database: the ledger (store.py) feeds it locked licence rows and persists the
result."""

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from mintrace_common.materials import is_controlled
from mintrace_common.models import ValidatedReport
from mintrace_common.names import same_party


REASONS = ("UNLICENSED", "EXPIRED", "NOT_YET_VALID", "SUSPENDED", "REVOKED", "WRONG_EXPORTER",
           "MATERIAL_NOT_COVERED", "DESTINATION_MISMATCH", "CONSIGNEE_MISMATCH",
           "END_USER_MISMATCH", "QUANTITY_EXCEEDED")
CANCELLED = "CANCELLED"  # cancelled before it was decided: refused, draws nothing, no alert


@dataclass
class LicenceState:
    licence_number: str
    exporter_id: str
    materials: tuple[str, ...]
    remaining_kg: Decimal
    destination_country: str
    valid_from: date
    valid_to: date
    status: str
    consignee: tuple[str, str] = ("", "")  # (name, country)
    end_user: tuple[str, str] = ("", "")


@dataclass(frozen=True)
class Outcome:
    status: str  # matched | refused | not_required
    licence_number: str | None
    reasons: tuple[str, ...]
    quantity_kg: Decimal | None
    remaining_kg: Decimal | None
    cancelled_at: datetime | None = None


def requires_licence(report: ValidatedReport) -> bool:
    return report.report.type == "export" and is_controlled(report.report.material)


def licence_number_of(report: ValidatedReport) -> str | None:
    export = report.report.export
    return export.licence_number if export and export.licence_number else None


def problems(report: ValidatedReport, licence: LicenceState) -> list[str]:
    """Every reason the licence does not cover this export, quantity aside."""
    r = report.report
    reasons: list[str] = []
    if licence.status == "revoked":
        reasons.append("REVOKED")
    elif licence.status == "suspended":
        reasons.append("SUSPENDED")
    day = r.occurred_at.date()
    if day > licence.valid_to:
        reasons.append("EXPIRED")
    elif day < licence.valid_from:
        reasons.append("NOT_YET_VALID")
    if licence.exporter_id != r.producer_id:
        reasons.append("WRONG_EXPORTER")
    if r.material not in licence.materials:
        reasons.append("MATERIAL_NOT_COVERED")
    export = r.export
    if export is None or export.destination_country.upper() != licence.destination_country.upper():
        reasons.append("DESTINATION_MISMATCH")
    if export is None or not same_party(export.consignee.name, export.consignee.country,
                                        *licence.consignee):
        reasons.append("CONSIGNEE_MISMATCH")
    if export is None or not same_party(export.end_user.name, export.end_user.country,
                                        *licence.end_user):
        reasons.append("END_USER_MISMATCH")
    return reasons


def decide(report: ValidatedReport, licence: LicenceState | None) -> Outcome:
    """Decide one export; on `matched` the caller's `licence.remaining_kg` is drawn down.
    A refusal never touches the licence."""
    if not requires_licence(report):
        return Outcome("not_required", None, (), None, None)
    qty = report.quantity_kg
    if licence is None:
        return Outcome("refused", licence_number_of(report), ("UNLICENSED",), qty, None)
    reasons = problems(report, licence)
    if not reasons and qty > licence.remaining_kg:
        reasons.append("QUANTITY_EXCEEDED")
    if reasons:
        return Outcome("refused", licence.licence_number, tuple(reasons), qty,
                       licence.remaining_kg)
    licence.remaining_kg -= qty
    return Outcome("matched", licence.licence_number, (), qty, licence.remaining_kg)
