from datetime import UTC, datetime

from mintrace_alerting.rules import alert_id, licence_alerts, restored_quota_alerts
from mintrace_common import examples
from mintrace_common.models import SupervisionRecord

NOW = datetime(2026, 11, 21, tzinfo=UTC)


def record(status: str, reasons: list[str]) -> SupervisionRecord:
    data = {**examples.BY_MODEL["SupervisionRecord"]}
    data["licence"] = {**data["licence"], "status": status, "reasons": reasons}
    return SupervisionRecord.model_validate(data)


def test_unlicensed_export_raises_a_critical_alert_with_its_evidence():
    [alert] = licence_alerts(record("refused", ["UNLICENSED"]), NOW)
    assert alert.type == "UNLICENSED_EXPORT" and alert.severity == "critical"
    assert alert.report_ids == ["JX-2026-000123"] and alert.province_code == "360000"


def test_refusals_map_to_their_alert_types():
    assert licence_alerts(record("refused", ["EXPIRED"]), NOW)[0].type == "LICENCE_INVALID"
    assert licence_alerts(record("refused", ["QUANTITY_EXCEEDED"]), NOW)[0].type == \
        "LICENCE_QUANTITY_EXCEEDED"


def test_matched_and_not_required_raise_nothing():
    assert licence_alerts(record("matched", []), NOW) == []
    assert licence_alerts(record("not_required", []), NOW) == []


def test_alert_ids_are_deterministic_per_condition():
    assert alert_id("X", "p", "r") == alert_id("X", "p", "r") != alert_id("X", "p", "r2")


def reusing(status: str, uses: list[tuple[str, str]]) -> SupervisionRecord:
    data = {**examples.BY_MODEL["SupervisionRecord"]}
    data["licence"] = {**data["licence"], "status": status, "restored_quota_used": [
        {"report_id": rid, "quantity_kg": kg} for rid, kg in uses]}
    return SupervisionRecord.model_validate(data)


def test_an_export_drawing_quota_restored_by_a_cancellation_raises_one_alert_per_pair():
    alerts = restored_quota_alerts(reusing("matched", [("X-1", "60"), ("X-2", "40")]), NOW)
    assert [a.report_ids for a in alerts] == [["X-1", "JX-2026-000123"],
                                              ["X-2", "JX-2026-000123"]]
    a = alerts[0]
    assert (a.type, a.severity, a.details["reason"]) == \
        ("LICENCE_QUANTITY_EXCEEDED", "high", "restored_quota_reused")
    assert "cancelling report X-1" in a.summary and "reused by report JX-2026-000123" in a.summary
    # distinct from the refusal alert of the same report, the same on every delivery
    again = restored_quota_alerts(reusing("matched", [("X-1", "60")]), NOW)
    assert again[0].alert_id == a.alert_id != alerts[1].alert_id
    assert a.alert_id != alert_id("LICENCE_QUANTITY_EXCEEDED", a.producer_id, "JX-2026-000123")


def test_an_export_that_reuses_no_restored_quota_raises_nothing():
    assert restored_quota_alerts(reusing("matched", []), NOW) == []
    assert restored_quota_alerts(reusing("not_required", []), NOW) == []
