"""Example messages, one per topic model; the topic-registry test validates each. And a
builder of routed reports from them, for tests."""

import copy
from datetime import datetime
from decimal import Decimal

from .models import SupervisionRecord

REPORT = {
    "report_id": "JX-2026-000123",
    "schema_version": 1,
    "producer_id": "91360700MA35XXXXXX",
    "facility_id": "JX-GZ-SEP-01",
    "type": "export",
    "stage": "separation",
    "occurred_at": "2026-11-20T08:30:00+08:00",
    "lot_id": "LOT-77812",
    "material": "Dy", "form": "oxide", "hs_code": "2846.90",
    "quantity": {"value": "250.000", "unit": "kg"},
    "purity_pct": "99.5",
    "value": {"amount": "81250.00", "currency": "USD"},
    "counterparty": {"name": "Hanse Magnetics GmbH", "country": "DE", "id": "5299000J2N45DDNE4Y28"},
    "inputs": [{"lot_id": "LOT-77001", "quantity": {"value": "260", "unit": "kg"}}],
    "counterparty_report_id": None,
    "export": {
        "licence_number": "EL-2026-DY-00042",
        "destination_country": "DE",
        "consignee": {"name": "Hanse Magnetics GmbH", "country": "DE"},
        "end_user": {"name": "Hanse Magnetics GmbH", "country": "DE", "end_use": "EV traction motors"},
        "port_of_exit": "CNSHA", "transport_mode": "sea",
    },
}

_RECEIVED = {
    "producer_id": REPORT["producer_id"], "report_id": REPORT["report_id"],
    "received_at": "2026-11-20T00:31:00Z", "content_hash": "0" * 64, "report": REPORT,
}
_VALIDATED = {**_RECEIVED, "quantity_kg": "250.000", "warnings": [],
              "validated_at": "2026-11-20T00:31:01Z"}
_DECISION = {"status": "matched", "licence_number": "EL-2026-DY-00042", "reasons": [],
             "quantity_kg": "250.000", "remaining_kg": "750.000",
             "decided_at": "2026-11-20T00:31:02Z"}
_LICENSED = {**_VALIDATED, "licence": _DECISION}
_SUPERVISION = {**_LICENSED, "province_code": "360000", "province_slug": "jiangxi",
                "routed_at": "2026-11-20T00:31:03Z"}
_ALERT = {
    "alert_id": "a-UNLICENSED_EXPORT-91360700MA35XXXXXX-JX-2026-000124",
    "type": "UNLICENSED_EXPORT", "severity": "high", "province_code": "360000",
    "producer_id": "91360700MA35XXXXXX", "report_ids": ["JX-2026-000124"],
    "summary": "export of 250 kg Dy to DE without an export licence",
    "raised_at": "2026-11-20T00:31:04Z",
}
_LICENCE = {
    "licence_number": "EL-2026-DY-00042", "exporter_id": "91360700MA35XXXXXX",
    "materials": ["Dy"], "max_quantity_kg": "1000", "destination_country": "DE",
    "consignee": {"name": "Hanse Magnetics GmbH", "country": "DE"},
    "end_user": {"name": "Hanse Magnetics GmbH", "country": "DE"},
    "valid_from": "2026-01-01", "valid_to": "2026-12-31", "status": "active",
}

BY_MODEL = {
    "ReceivedReport": _RECEIVED,
    "ValidatedReport": _VALIDATED,
    "RejectedReport": {
        "producer_id": REPORT["producer_id"], "report_id": "JX-2026-000125",
        "received_at": "2026-11-20T00:31:00Z", "rejected_at": "2026-11-20T00:31:01Z",
        "problems": [{"code": "FACILITY_UNKNOWN", "path": "facility_id",
                      "message": "facility JX-XX is not registered to this producer"}],
    },
    "LicensedReport": _LICENSED,
    "SupervisionRecord": _SUPERVISION,
    "Alert": _ALERT,
    "LicenceEvent": {"event_id": "ev-1", "type": "issued", "licence_number": "EL-2026-DY-00042",
                     "occurred_at": "2026-01-01T00:00:00Z", "licence": _LICENCE},
    "ReportCancelled": {"producer_id": REPORT["producer_id"], "report_id": REPORT["report_id"],
                        "cancelled_at": "2026-11-21T00:00:00Z"},
    "RollupSummary": {"generated_at": "2026-11-21T00:00:00Z", "since": "2026-11-14", "rows": [
        {"day": "2026-11-20", "province_code": "360000", "material": "Dy", "type": "export",
         "destination_country": "DE", "quantity_kg": "250", "value_usd": "81250.00",
         "report_count": 1}]},
    "CaseEvent": {"event_id": f"{_ALERT['alert_id']}#3", "alert_id": _ALERT["alert_id"],
                  "province_code": "360000", "at": "2026-11-20T02:00:00Z", "by": "Li Wei",
                  "action": "close", "assignee": "Li Wei", "note": "licence applied for late",
                  "outcome": "confirmed_violation", "status": "closed"},
    "DeadLetter": {"source_topic": "reports.received", "partition": 0, "offset": 12, "key": "x",
                   "error": "ValidationError: ...", "consumer_group": "validation", "value": "{"},
}


def supervision_record(report_id: str = "R-1", *, producer: str = "91360700MA35XXXXXX",
           type_: str = "export", material: str = "Dy", form: str = "oxide",
           kg: str | Decimal = "250", usd: str | None = "65000", when: datetime | str | None = None,
           facility: str = "JX-GZ-SEP-01",
           consignee: tuple[str, str] = ("Hanse Magnetics GmbH", "DE"),
           end_user: tuple[str, str] | None = None, destination: str | None = None,
           counterparty: dict | None = None, counterparty_report_id: str | None = None,
           licence: dict | None = None) -> SupervisionRecord:
    """A routed report built from the contract example, for tests and benches: the fields the
    detection rules look at, each overridable."""
    data = copy.deepcopy(BY_MODEL["SupervisionRecord"])
    r = data["report"]
    r.update(report_id=report_id, producer_id=producer, type=type_, material=material, form=form,
             facility_id=facility, quantity={"value": str(kg), "unit": "kg"},
             counterparty_report_id=counterparty_report_id)
    if when is not None:
        r["occurred_at"] = when if isinstance(when, str) else when.isoformat()
    r["value"] = {"amount": usd, "currency": "USD"} if usd is not None else None
    end_user = end_user or consignee
    r["counterparty"] = counterparty or {"name": consignee[0], "country": consignee[1]}
    if type_ == "export":
        r["export"] = {**r["export"], "destination_country": destination or consignee[1],
                       "consignee": {"name": consignee[0], "country": consignee[1]},
                       "end_user": {"name": end_user[0], "country": end_user[1]}}
    else:
        r["export"] = None
    data.update(report_id=report_id, producer_id=producer, quantity_kg=str(kg))
    data["licence"] = licence or {**data["licence"], "status": "matched" if type_ == "export"
                                  and material not in ("Nd", "La") else "not_required"}
    return SupervisionRecord.model_validate(data)
