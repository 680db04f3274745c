from datetime import UTC, datetime

from mintrace_alerting.rules import alert_id, licence_alerts
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
