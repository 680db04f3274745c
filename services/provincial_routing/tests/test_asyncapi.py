from mintrace.supervise import asyncapi_document
from mintrace_common.provinces import PROVINCES


def test_asyncapi_document_lists_every_supervision_topic_with_its_record_schema():
    doc = asyncapi_document()
    addresses = {c["address"] for c in doc["channels"].values()}
    assert {f"supervision.{p.slug}" for p in PROVINCES} <= addresses
    assert {"supervision.national", "alerts.national", "rollup.national"} <= addresses
    record = doc["components"]["schemas"]["SupervisionRecord"]
    assert {"licence", "warnings", "province_code", "redelivery"} <= set(record["properties"])
    assert "RollupSummary" in doc["components"]["schemas"]
