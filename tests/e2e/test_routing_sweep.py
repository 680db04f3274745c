"""Routing's sweep on the real broker and database: a record committed but never acknowledged,
whose batch will not come back (its offsets were committed elsewhere), is published by the
running routing process, marked redelivery, and then marked published."""

import asyncio
import secrets
from datetime import UTC, datetime, timedelta

import pytest

from mintrace_common import db, examples
from mintrace_provincial_routing.routing import destination

pytestmark = pytest.mark.e2e


async def test_a_record_left_unpublished_is_swept_onto_both_topics(stack, topic_reader):
    rid = f"SWEEP-{secrets.token_hex(4)}"
    record = examples.supervision_record(rid).model_copy(
        update={"routed_at": datetime.now(UTC) - timedelta(hours=1)})
    conn = await db.connect(stack.database_url)
    try:
        await conn.execute(
            "INSERT INTO routed_reports (producer_id, report_id, province_code, routed_at, "
            "record, material, type, occurred_at, destination_country) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            record.producer_id, rid, record.province_code, record.routed_at,
            record.model_dump(mode="json"), record.report.material, record.report.type,
            record.report.occurred_at, destination(record))
        async with topic_reader("supervision.jiangxi", "supervision.national") as reader:
            def arrived(records):
                return all(any(k == rid for k, _, _ in records[t]) for t in records)
            records = await reader.until(arrived, timeout=90)
        for topic in records:
            [value] = [v for k, v, _ in records[topic] if k == rid]
            assert value["redelivery"] is True and value["report_id"] == rid
        for _ in range(60):
            if await conn.fetchval("SELECT published FROM routed_reports WHERE report_id = $1",
                                   rid):
                break
            await asyncio.sleep(0.5)
        else:
            raise AssertionError("the swept record was never marked published")
    finally:
        await conn.close()
