from datetime import timedelta

import pytest

from mintrace.supervise import QueueView, asyncapi_document, parse_since
from mintrace_common import examples
from mintrace_common.provinces import PROVINCES


def test_asyncapi_document_lists_every_supervision_topic_with_its_record_schema():
    doc = asyncapi_document()
    addresses = {c["address"] for c in doc["channels"].values()}
    assert {f"supervision.{p.slug}" for p in PROVINCES} <= addresses
    assert {"supervision.national", "alerts.national", "rollup.national"} <= addresses
    record = doc["components"]["schemas"]["SupervisionRecord"]
    assert {"licence", "warnings", "province_code", "redelivery"} <= set(record["properties"])
    assert "RollupSummary" in doc["components"]["schemas"]


def test_tail_view_counts_a_redelivered_copy_once():
    view = QueueView("jiangxi")
    record = {**examples.BY_MODEL["SupervisionRecord"], "redelivery": False}
    view.add("supervision.jiangxi", record)
    view.add("supervision.jiangxi", {**record, "redelivery": True})
    view.add("alerts.jiangxi", examples.BY_MODEL["Alert"])
    assert len(view.reports) == 1 and len(view.alerts) == 1
    assert view.counts["reports"] == 1 and view.counts["redeliveries"] == 1
    assert view.counts["kg"] == 250.0


def test_tail_view_withdraws_a_cancelled_report_once_and_shows_it_cancelled():
    view = QueueView("jiangxi")
    record = {**examples.BY_MODEL["SupervisionRecord"], "redelivery": False}
    other = {**record, "report_id": "R-other"}
    cancelled = {**record, "cancelled_at": "2026-11-23T10:00:00Z"}
    for value in (record, other, cancelled, cancelled):
        view.add("supervision.jiangxi", value)
    assert view.counts["reports"] == 1 and view.counts["kg"] == 250.0
    assert view.counts["cancelled"] == 1 and view.counts["redeliveries"] == 1
    assert [r["report_id"] for r in view.reports] == ["R-other", record["report_id"]]
    assert "cancelled 2026-11-23T10:00" in str(view.render().renderables[0].columns[-1]._cells)
    # cancelled before it was routed: shown as cancelled, never counted
    early = QueueView("jiangxi")
    early.add("supervision.jiangxi", cancelled)
    assert early.counts["reports"] == 0 and early.counts["kg"] == 0 and len(early.reports) == 1


def test_since_takes_a_number_and_a_unit():
    assert parse_since("90s") == timedelta(seconds=90)
    assert parse_since("1h") == timedelta(hours=1)
    assert parse_since("2d") == timedelta(days=2)
    with pytest.raises(ValueError):
        parse_since("yesterday")
