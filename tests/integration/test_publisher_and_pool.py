"""The one publisher on the real broker (headers always, a record too large is refused rather
than retried) and the pool's limits on the real database (server-side timeouts, bounded
acquire)."""

import asyncio
import secrets

import pytest
from aiokafka import AIOKafkaConsumer

from mintrace import devstack
from mintrace_common import db
from mintrace_common.errors import is_transient
from mintrace_common.models import ReportCancelled
from mintrace_common.publisher import Emit, Publisher
from mintrace_common.settings import Settings


async def test_publisher_refuses_a_record_too_large_and_delivers_the_rest_with_headers(kafka):
    topic = f"pub.{secrets.token_hex(3)}"
    await devstack.create_topics(kafka, [(topic, 1, -1)])
    publisher = Publisher(Settings(kafka_bootstrap_servers=kafka, kafka_max_request_bytes=2000))
    small = ReportCancelled(producer_id="P", report_id="small",
                            cancelled_at="2026-11-20T00:00:00Z")
    try:
        refused = await publisher.send_all([Emit(topic, "huge", b"x" * 10_000),
                                            Emit(topic, "small", small)])
    finally:
        await publisher.stop()
    assert [r.emit.key for r in refused] == ["huge"]
    assert "MessageSizeTooLarge" in refused[0].error
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka, auto_offset_reset="earliest")
    await consumer.start()
    try:
        got = await consumer.getmany(timeout_ms=5000)
    finally:
        await consumer.stop()
    [record] = [r for rs in got.values() for r in rs]
    assert record.key == b"small"
    assert ("content-type", b"application/json") in record.headers
    assert ReportCancelled.model_validate_json(record.value) == small


async def test_pooled_connections_carry_server_side_timeouts_and_acquire_is_bounded(database_url):
    limits = db.Limits(statement_timeout_ms=1500, lock_timeout_ms=700,
                       idle_in_transaction_timeout_ms=2500, acquire_timeout_s=0.3)
    pool = await db.create_pool(database_url, 1, 1, limits)
    try:
        async with pool.acquire() as conn:
            assert await conn.fetchval("SHOW statement_timeout") == "1500ms"
            assert await conn.fetchval("SHOW lock_timeout") == "700ms"
            assert await conn.fetchval("SHOW idle_in_transaction_session_timeout") == "2500ms"
            with pytest.raises(Exception) as slow:
                await conn.execute("SELECT pg_sleep(3)")
            assert is_transient(slow.value), repr(slow.value)  # 57014: retry, never DLQ
            with pytest.raises(asyncio.TimeoutError) as waited:
                async with pool.acquire():
                    pass
            assert is_transient(waited.value)
    finally:
        await pool.close()
