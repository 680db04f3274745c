"""Consumer lag read from the real broker: committed offsets of the group against the ends."""

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from mintrace_common.health import LagWatch
from mintrace_common.settings import Settings


@pytest.mark.asyncio
async def test_lag_is_the_records_a_group_has_not_committed_and_stuck_until_it_moves(kafka):
    topic, group = "licence.events", "lag-test-group"
    producer = AIOKafkaProducer(bootstrap_servers=kafka)
    await producer.start()
    for i in range(5):
        await producer.send_and_wait(topic, b"{}", key=b"L", partition=0)
    await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, group_id=group,
                                enable_auto_commit=False)
    await consumer.start()
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    end = (await consumer.end_offsets([tp]))[tp]
    await consumer.commit({tp: OffsetAndMetadata(end - 3, "")})

    watch = LagWatch([(topic, group)], stuck_after_s=0)
    settings = Settings(kafka_bootstrap_servers=kafka)
    await watch.poll(settings)
    assert watch.partitions[(topic, 0, group)].lag == 3
    assert any(f"{group}:{topic}[0] lag 3" in s for s in watch.stuck())

    await consumer.commit({tp: OffsetAndMetadata(end, "")})
    await consumer.stop()
    await watch.poll(settings)
    assert watch.partitions[(topic, 0, group)].lag == 0
    assert not [s for s in watch.stuck() if f"{topic}[0]" in s]  # others write the other ones


@pytest.mark.asyncio
async def test_the_oldest_unpublished_outbox_row_is_exported_with_its_age(database_url):
    from prometheus_client import REGISTRY

    from mintrace_common.health import watch_outbox
    from mintrace_common.service import Resources

    res = Resources(Settings(database_url=database_url))
    await res.open()
    try:
        async with res.pool.acquire() as conn:
            await conn.execute("INSERT INTO routed_reports (producer_id, report_id, province_code,"
                               " routed_at, published) VALUES ('P', 'OUTBOX-AGE-1', '360000', "
                               "now() - interval '1 hour', false)")
        watch_outbox(res, "routed_reports", "routed_at")
        [(name, _, measure)] = [p for p in res.periodic if p[0] == "outbox-age.routed_reports"]
        await measure()
        age = REGISTRY.get_sample_value("mintrace_outbox_oldest_unpublished_seconds",
                                        {"table": "routed_reports"})
        assert age >= 3600
        async with res.pool.acquire() as conn:
            await conn.execute("DELETE FROM routed_reports WHERE report_id = 'OUTBOX-AGE-1'")
    finally:
        await res.close()
