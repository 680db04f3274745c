"""Print a topic's records as they arrive: `python -m mintrace.tail supervision.jiangxi`."""

import asyncio
import os
import sys

from aiokafka import AIOKafkaConsumer


async def tail(topic: str, bootstrap: str) -> None:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    try:
        async for record in consumer:
            print(record.value.decode(errors="replace"), flush=True)
    finally:
        await consumer.stop()


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] in ("-h", "--help"):
        print("usage: python -m mintrace.tail TOPIC   (e.g. supervision.jiangxi, alerts.national)")
        sys.exit(0 if len(sys.argv) == 2 else 2)
    try:
        asyncio.run(tail(sys.argv[1], os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")))
    except KeyboardInterrupt:
        pass
