"""The validation stage on faststream's in-memory broker (handler only; registry faked)."""

import json

from faststream.kafka import KafkaRouter, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage

from mintrace_common import examples, topics
from mintrace_common.kafka import create_broker
from mintrace_common.settings import Settings
from mintrace_validation import handlers
from mintrace_validation.rules import RegistryView
from mintrace_validation.settings import ValidationSettings


class FakeResources:
    settings = ValidationSettings(service_name="validation")
    pool = None


PRODUCER = "91360700MA0000001T"  # the example's producer, with a valid USCC


async def fake_registry_view(pool, producers, facilities):
    return RegistryView(producers=frozenset({PRODUCER}),
                        facilities={"JX-GZ-SEP-01": (PRODUCER, ("trading",))})


async def test_valid_report_goes_to_validated_bad_one_to_rejected_garbage_to_dlq():
    broker = create_broker(Settings())
    router = KafkaRouter()
    handlers.register(router, FakeResources(), registry_view=fake_registry_view)
    broker.include_router(router)
    good = json.loads(json.dumps({**examples.BY_MODEL["ReceivedReport"]}))
    good["producer_id"] = PRODUCER
    good["report"] = {**good["report"], "stage": "trading", "producer_id": PRODUCER}
    bad = json.loads(json.dumps(good))
    bad["report_id"] = bad["report"]["report_id"] = "BAD-1"
    bad["report"]["facility_id"] = "NOWHERE"
    seen: dict[str, list] = {topics.VALIDATED.name: [], topics.REJECTED.name: [],
                             topics.RECEIVED.dlq: []}
    def collector(name: str):
        async def collect(msg: KafkaMessage) -> None:
            seen[name].append(json.loads(msg.body))
        return collect

    for name in seen:
        broker.subscriber(name, group_id=f"test-{name}")(collector(name))
    async with TestKafkaBroker(broker) as br:
        await br.publish(good, topics.RECEIVED.name, key=b"JX-2026-000123")
        await br.publish(bad, topics.RECEIVED.name, key=b"BAD-1")
        await br.publish(b"{not json", topics.RECEIVED.name, key=b"junk")
    assert [m["report_id"] for m in seen[topics.VALIDATED.name]] == ["JX-2026-000123"]
    assert seen[topics.VALIDATED.name][0]["quantity_kg"] == "250.000"
    rejected = seen[topics.REJECTED.name]
    assert [p["code"] for p in rejected[0]["problems"]] == ["FACILITY_UNKNOWN"]
    assert seen[topics.RECEIVED.dlq][0]["key"] == "junk"
