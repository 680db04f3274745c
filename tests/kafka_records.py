"""Consumed records for tests that drive a stage without a broker: aiokafka's own type, so a
stage sees exactly the attributes it reads in production."""

from aiokafka.structs import ConsumerRecord


def consumed(topic: str, partition: int, offset: int, key: bytes, value: bytes,
             headers: tuple = (), timestamp: int = 0) -> ConsumerRecord:
    return ConsumerRecord(topic, partition, offset, timestamp, 0, key, value, None, len(key),
                          len(value), headers)
