from datetime import UTC, datetime

from mintrace_common import examples
from mintrace_common.models import (LicenceDecision, LicensedReport, ReceivedReport,
                                    SupervisionRecord, ValidatedReport)

NOW = datetime(2026, 11, 20, tzinfo=UTC)


def test_extending_an_envelope_equals_validating_the_whole_next_one():
    received = ReceivedReport.model_validate(examples.BY_MODEL["ReceivedReport"])
    validated = ValidatedReport.extending(received, quantity_kg=received.report.quantity.kg,
                                          validated_at=NOW)
    decision = LicenceDecision.model_validate(examples.BY_MODEL["LicensedReport"]["licence"])
    licensed = LicensedReport.extending(validated, licence=decision)
    routed = SupervisionRecord.extending(licensed, province_code="360000",
                                         province_slug="jiangxi", routed_at=NOW)
    for built in (validated, licensed, routed):
        checked = type(built).model_validate_json(built.model_dump_json())
        assert checked == built
        assert built.model_dump_json() == checked.model_dump_json()
    assert routed.warnings == [] and routed.redelivery is False  # defaults filled in
    assert routed.report == received.report
