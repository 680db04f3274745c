"""Reading topics back in tests."""

import json
import time

from aiokafka import AIOKafkaConsumer


class TopicReader:
    """Reads topics from the beginning and collects records until a condition holds."""

    def __init__(self, bootstrap: str, *topics: str) -> None:
        self.bootstrap, self.topics = bootstrap, topics
        self.records: dict[str, list[tuple[str | None, dict, dict]]] = {t: [] for t in topics}

    async def __aenter__(self):
        self.consumer = AIOKafkaConsumer(*self.topics, bootstrap_servers=self.bootstrap,
                                         auto_offset_reset="earliest", enable_auto_commit=False)
        await self.consumer.start()
        return self

    async def __aexit__(self, *exc):
        await self.consumer.stop()

    async def until(self, done, timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        while not done(self.records):
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met in {timeout}s; have "
                                   f"{ {t: len(r) for t, r in self.records.items()} }")
            batch = await self.consumer.getmany(timeout_ms=300)
            for tp, recs in batch.items():
                for r in recs:
                    self.records[tp.topic].append(
                        (r.key.decode() if r.key else None, json.loads(r.value),
                         {k: v.decode() for k, v in r.headers}))
        return self.records

    def values(self, topic: str) -> list[dict]:
        return [v for _, v, _ in self.records[topic]]
