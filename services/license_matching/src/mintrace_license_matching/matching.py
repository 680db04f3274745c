"""Export-licence matching: a pure decision per report against the licences it names.
No broker, no database: the ledger (store.py) feeds it locked licence rows and persists the result."""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from mintrace_common.materials import is_controlled
from mintrace_common.models import ValidatedReport


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


@dataclass(frozen=True)
class Outcome:
    status: str  # matched | refused | not_required
    licence_number: str | None
    reasons: tuple[str, ...]
    quantity_kg: Decimal | None
    remaining_kg: Decimal | None


def requires_licence(report: ValidatedReport) -> bool:
    return report.report.type == "export" and is_controlled(report.report.material)


def decide(report: ValidatedReport, licence: LicenceState | None) -> Outcome:
    """Decide one export; on `matched` the caller's `licence.remaining_kg` is drawn down."""
    if not requires_licence(report):
        return Outcome("not_required", None, (), None, None)
    r = report.report
    qty = report.quantity_kg
    number = r.export.licence_number if r.export else None
    if licence is None:
        return Outcome("refused", number, ("UNLICENSED",), qty, None)
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
    if r.export and r.export.destination_country != licence.destination_country:
        reasons.append("DESTINATION_MISMATCH")
    if not reasons and qty > licence.remaining_kg:
        reasons.append("QUANTITY_EXCEEDED")
    if reasons:
        return Outcome("refused", licence.licence_number, tuple(reasons), qty,
                       licence.remaining_kg)
    licence.remaining_kg -= qty
    return Outcome("matched", licence.licence_number, (), qty, licence.remaining_kg)
