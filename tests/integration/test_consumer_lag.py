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
    assert watch.partitions[(topic, 0, group)].lag == 0 and watch.stuck() == []
