from datetime import UTC, date, datetime

import pytest

from mintrace_common import examples
from mintrace_common.models import LicensedReport
from mintrace_provincial_routing.routing import (RollupDelta, UnknownFacility, day_of, emits,
                                                 rollup, rollup_key, supervision_record)

NOW = datetime(2026, 11, 21, tzinfo=UTC)
REPORT = LicensedReport.model_validate(examples.BY_MODEL["LicensedReport"])


def test_report_goes_to_its_facility_province_and_national():
    out = emits(supervision_record(REPORT, "150000", NOW))
    assert [e.topic for e in out] == ["supervision.inner-mongolia", "supervision.national"]
    assert all(e.key == REPORT.report_id and e.value.province_code == "150000" for e in out)


def test_unknown_province_cannot_be_routed():
    with pytest.raises(UnknownFacility):
        supervision_record(REPORT, None, NOW)


def _licensed(**report_changes) -> LicensedReport:
    body = examples.BY_MODEL["LicensedReport"]
    return LicensedReport.model_validate({**body, "report": {**body["report"], **report_changes}})


def test_routed_record_carries_every_decision_and_its_province():
    record = supervision_record(REPORT, "360000", NOW)
    assert record.province_slug == "jiangxi" and record.routed_at == NOW
    assert record.licence == REPORT.licence and record.warnings == REPORT.warnings
    assert record.report == REPORT.report and record.redelivery is False


def test_republished_record_is_marked_redelivery_on_both_topics():
    emits_ = emits(supervision_record(REPORT, "450000", NOW), redelivery=True)
    assert [e.topic for e in emits_] == ["supervision.guangxi", "supervision.national"]
    assert all(e.value.redelivery for e in emits_)


def test_rollup_day_is_the_china_date_of_the_transaction():
    late = supervision_record(_licensed(occurred_at="2026-11-20T17:30:00+00:00"), "360000", NOW)
    assert day_of(late) == date(2026, 11, 21)


def test_rollup_sums_quantity_usd_value_and_counts_per_key():
    a = supervision_record(REPORT, "360000", NOW)
    b = supervision_record(_licensed(report_id="JX-2"), "360000", NOW)
    eur = supervision_record(_licensed(report_id="JX-3", value={"amount": "10", "currency": "EUR"}),
                             "360000", NOW)
    mined = supervision_record(_licensed(report_id="JX-4", type="mining_output", export=None),
                               "360000", NOW)
    out = rollup([a, b, eur, mined])
    export_key = rollup_key(a)
    assert export_key.destination_country == "DE" and export_key.type == "export"
    assert out[export_key] == RollupDelta(quantity_kg=3 * a.quantity_kg,
                                          value_usd=2 * a.report.value.amount,
                                          report_count=3, non_usd_count=1)
    assert rollup_key(mined).destination_country == "CN"
    assert out[rollup_key(mined)].report_count == 1
