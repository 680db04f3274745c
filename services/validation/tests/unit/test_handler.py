"""The validation stage run through the delivery stage with a hand-written producer (handler
only; registry faked)."""

import asyncio
import json
from dataclasses import dataclass

from mintrace_common import examples, topics
from mintrace_common.delivery import Routes, Stage
from mintrace_common.publisher import Publisher
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


@dataclass(frozen=True)
class Record:
    key: bytes
    value: bytes
    offset: int
    partition: int = 0
    topic: str = topics.RECEIVED.name
    headers: tuple = ()
    timestamp: int = 0


class Collecting:
    def __init__(self) -> None:
        self.seen: dict[str, list] = {}

    async def send(self, topic, value, key, headers):
        self.seen.setdefault(topic, []).append(json.loads(value))
        assert ("content-type", b"application/json") in headers
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


async def test_valid_report_goes_to_validated_bad_one_to_rejected_garbage_to_dlq():
    router = Routes()
    handlers.register(router, FakeResources(), registry_view=fake_registry_view)
    [spec] = router.stages
    out = Collecting()
    stage = Stage(spec.source, spec.group, spec.fn, Publisher(producer=out))
    good = json.loads(json.dumps({**examples.BY_MODEL["ReceivedReport"]}))
    good["producer_id"] = PRODUCER
    good["report"] = {**good["report"], "stage": "trading", "producer_id": PRODUCER}
    bad = json.loads(json.dumps(good))
    bad["report_id"] = bad["report"]["report_id"] = "BAD-1"
    bad["report"]["facility_id"] = "NOWHERE"
    await stage.handle([Record(b"JX-2026-000123", json.dumps(good).encode(), 0),
                        Record(b"BAD-1", json.dumps(bad).encode(), 1),
                        Record(b"junk", b"{not json", 2)])
    seen = out.seen
    assert [m["report_id"] for m in seen[topics.VALIDATED.name]] == ["JX-2026-000123"]
    assert seen[topics.VALIDATED.name][0]["quantity_kg"] == "250.000"
    rejected = seen[topics.REJECTED.name]
    assert [p["code"] for p in rejected[0]["problems"]] == ["FACILITY_UNKNOWN"]
    assert seen[topics.RECEIVED.dlq][0]["key"] == "junk"
