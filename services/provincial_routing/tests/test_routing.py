from datetime import UTC, datetime

import pytest

from mintrace_common import examples
from mintrace_common.models import LicensedReport
from mintrace_provincial_routing.routing import UnknownFacility, route

NOW = datetime(2026, 11, 21, tzinfo=UTC)
REPORT = LicensedReport.model_validate(examples.BY_MODEL["LicensedReport"])


def test_report_goes_to_its_facility_province_and_national():
    emits = route(REPORT, "150000", NOW)
    assert [e.topic for e in emits] == ["supervision.inner-mongolia", "supervision.national"]
    assert all(e.key == REPORT.report_id and e.value.province_code == "150000" for e in emits)


def test_unknown_province_cannot_be_routed():
    with pytest.raises(UnknownFacility):
        route(REPORT, None, NOW)
