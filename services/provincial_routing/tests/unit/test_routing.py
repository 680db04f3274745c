from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from mintrace_common import examples
from mintrace_common.models import LicensedReport
from mintrace_provincial_routing.routing import (RollupDelta, UnknownFacility, day_of, emits,
                                                 rollup, rollup_key, supervision_record,
                                                 unconverted)

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


RATES = {"EUR": Decimal("1.08"), "KRW": Decimal("0.00072")}


def test_a_value_is_converted_at_the_registry_rate():
    eur = supervision_record(_licensed(value={"amount": "1000", "currency": "EUR"}), "360000",
                             NOW, RATES)
    assert eur.value_usd == Decimal("1080.00") and eur.warnings == REPORT.warnings
    assert supervision_record(REPORT, "360000", NOW, RATES).value_usd == REPORT.report.value.amount


def test_a_value_in_a_currency_without_a_rate_is_flagged_not_dropped():
    mnt = supervision_record(_licensed(value={"amount": "1000", "currency": "MNT"}), "360000",
                             NOW, RATES)
    assert mnt.value_usd is None
    assert [w.code for w in mnt.warnings][-1] == "FX_RATE_MISSING"
    assert unconverted([mnt, supervision_record(REPORT, "360000", NOW, RATES)]) == ["MNT"]


def test_rollup_sums_quantity_usd_value_and_counts_per_key():
    a = supervision_record(REPORT, "360000", NOW, RATES)
    b = supervision_record(_licensed(report_id="JX-2"), "360000", NOW, RATES)
    eur = supervision_record(_licensed(report_id="JX-3", value={"amount": "10", "currency": "EUR"}),
                             "360000", NOW, RATES)
    mnt = supervision_record(_licensed(report_id="JX-5", value={"amount": "10", "currency": "MNT"}),
                             "360000", NOW, RATES)
    mined = supervision_record(_licensed(report_id="JX-4", type="mining_output", export=None),
                               "360000", NOW, RATES)
    out = rollup([a, b, eur, mnt, mined])
    export_key = rollup_key(a)
    assert export_key.destination_country == "DE" and export_key.type == "export"
    assert out[export_key] == RollupDelta(quantity_kg=4 * a.quantity_kg,
                                          value_usd=2 * a.report.value.amount + Decimal("10.80"),
                                          report_count=4, non_usd_count=1)
    assert rollup_key(mined).destination_country == "CN"
    assert out[rollup_key(mined)].report_count == 1
