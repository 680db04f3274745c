"""Alert rules that need nothing but the routed report itself."""

import hashlib
from datetime import datetime

from mintrace_common.models import Alert, SupervisionRecord

RULE_VERSION = "2026.11-1"

_INVALID = {"EXPIRED", "NOT_YET_VALID", "SUSPENDED", "REVOKED", "WRONG_EXPORTER",
            "MATERIAL_NOT_COVERED", "DESTINATION_MISMATCH", "CONSIGNEE_MISMATCH",
            "END_USER_MISMATCH"}


def alert_id(type_: str, *parts: str) -> str:
    """Deterministic: the same condition always yields the same id (de-duplication key)."""
    digest = hashlib.sha256("\x1f".join((type_, *parts)).encode()).hexdigest()[:24]
    return f"{type_.lower()}-{digest}"


def licence_alerts(rec: SupervisionRecord, now: datetime) -> list[Alert]:
    d = rec.licence
    if d.status != "refused":
        return []
    r = rec.report
    reasons = set(d.reasons)
    dest = r.export.destination_country if r.export else "?"
    what = f"{rec.quantity_kg} kg {r.material} ({r.form}) to {dest}"
    if "UNLICENSED" in reasons:
        type_, severity = "UNLICENSED_EXPORT", "critical"
        summary = f"export of {what} without a valid export licence"
    elif reasons & _INVALID:
        type_, severity = "LICENCE_INVALID", "high"
        summary = (f"export of {what} under licence {d.licence_number} refused: "
                   f"{', '.join(sorted(reasons & _INVALID))}")
    elif "QUANTITY_EXCEEDED" in reasons:
        type_, severity = "LICENCE_QUANTITY_EXCEEDED", "high"
        summary = (f"export of {what} exceeds the remaining {d.remaining_kg} kg of licence "
                   f"{d.licence_number}")
    else:
        return []
    return [Alert(alert_id=alert_id(type_, rec.producer_id, rec.report_id), type=type_,
                  severity=severity, province_code=rec.province_code, producer_id=rec.producer_id,
                  report_ids=[rec.report_id], summary=summary, raised_at=now,
                  rule_version=RULE_VERSION,
                  details={"licence_number": d.licence_number, "reasons": sorted(reasons)})]
