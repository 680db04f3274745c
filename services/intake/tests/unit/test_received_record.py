"""The reports.received record intake publishes is encoded once, from the one serialisation of
the report that also gives its content hash — and is byte for byte what the envelope model
would have encoded (consumers and the content hash must not notice the shortcut)."""

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from mintrace_common import examples
from mintrace_common.models import ReceivedReport, Report
from mintrace_intake.acceptance import received

REPORT = Report.model_validate({**examples.REPORT, "report_id": "R-1.a_b",
                                "quantity": {"value": "999999999999.999999", "unit": "t"}})


@pytest.mark.parametrize("received_at", [
    datetime(2026, 11, 20, 8, 30, 1, 123456, tzinfo=UTC),
    datetime(2026, 1, 2, tzinfo=UTC),
    datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=8))),
])
def test_the_published_record_is_what_the_envelope_model_encodes(received_at):
    made = received("JX2", REPORT, received_at)
    expected = ReceivedReport(producer_id="JX2", report_id=REPORT.report_id,
                              received_at=received_at, content_hash=made.record.content_hash,
                              report=REPORT)
    assert made.body == expected.model_dump_json().encode()
    assert made.record == expected
    assert ReceivedReport.model_validate_json(made.body) == expected


def test_the_content_hash_is_the_sha256_of_the_reports_canonical_json():
    made = received("JX2", REPORT, datetime(2026, 11, 20, tzinfo=UTC))
    assert made.record.content_hash == hashlib.sha256(REPORT.model_dump_json().encode()).hexdigest()
    assert json.loads(made.body)["content_hash"] == made.record.content_hash
