from datetime import UTC, datetime, timedelta

import pytest

from mintrace_common import examples
from mintrace_common.models import ReceivedReport
from mintrace_validation.rules import RegistryView, check

NOW = datetime(2026, 11, 21, tzinfo=UTC)
P = examples.REPORT["producer_id"]
REGISTRY = RegistryView(producers=frozenset({P}),
                        facilities={"JX-GZ-SEP-01": (P, ("separation", "trading"))})


def received(**changes) -> ReceivedReport:
    report = {**examples.REPORT, **changes}
    return ReceivedReport(producer_id=report["producer_id"], report_id=report["report_id"],
                          received_at=NOW, content_hash="0", report=report)


def codes(**changes) -> list[str]:
    return [p.code for p in check(received(**changes), REGISTRY, NOW)]


def test_spec_example_is_valid():
    assert codes() == []


@pytest.mark.parametrize("changes, code", [
    ({"producer_id": "91110000MA0000000X"}, "PRODUCER_UNKNOWN"),
    ({"facility_id": "ELSEWHERE"}, "FACILITY_UNKNOWN"),
    ({"stage": "mining"}, "STAGE_NOT_ALLOWED"),
    ({"occurred_at": (NOW + timedelta(hours=2)).isoformat()}, "OCCURRED_IN_FUTURE"),
    ({"export": None}, "EXPORT_BLOCK_REQUIRED"),
    ({"value": None}, "VALUE_REQUIRED"),
    ({"counterparty": None}, "COUNTERPARTY_REQUIRED"),
    ({"type": "processing_output", "inputs": None}, "INPUTS_REQUIRED"),
    ({"type": "domestic_purchase"}, "COUNTERPARTY_REPORT_REQUIRED"),
])
def test_each_rule_rejects_its_case(changes, code):
    assert code in codes(**changes)


def test_all_problems_are_reported_at_once():
    assert {"FACILITY_UNKNOWN", "VALUE_REQUIRED", "EXPORT_BLOCK_REQUIRED"} <= set(
        codes(facility_id="X", value=None, export=None))
