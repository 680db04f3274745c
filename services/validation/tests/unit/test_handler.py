"""The validation stage run through the delivery stage with a hand-written producer (handler
only; registry and verdicts faked by a hand-written unit of work)."""

import asyncio
from datetime import UTC, datetime
import json
from dataclasses import dataclass

from mintrace_common import examples, topics
from mintrace_common.delivery import Routes, Stage
from mintrace_common.models import Problem
from mintrace_common.publisher import Publisher
from mintrace_validation import handlers
from mintrace_validation.rules import RegistryView, Verdict
from mintrace_validation.settings import ValidationSettings


class FakeResources:
    settings = ValidationSettings(service_name="validation")
    pool = None


PRODUCER = "91360700MA0000001T"  # the example's producer, with a valid USCC


class FakeRegistry:
    async def view(self, producers, facilities):
        return RegistryView(producers=frozenset({PRODUCER}),
                            facilities={"JX-GZ-SEP-01": (PRODUCER, ("trading",))})


class FakeVerdicts:
    """Verdicts kept in a dict; `stored_first` are stored by "another process" as this one
    tries to add its own."""

    def __init__(self) -> None:
        self.rows: dict = {}
        self.stored_first: dict = {}

    async def existing(self, keys):
        return {k: self.rows[k] for k in keys if k in self.rows}

    async def add(self, verdicts):
        self.rows |= self.stored_first
        added = {k for k in verdicts if k not in self.rows}
        self.rows |= {k: verdicts[k] for k in added}
        return added


class FakeUnitOfWork:
    def __init__(self, verdicts: FakeVerdicts) -> None:
        self.registry, self.verdicts = FakeRegistry(), verdicts

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        pass


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
    verdicts = FakeVerdicts()
    handlers.register(router, FakeResources(), uow=lambda: FakeUnitOfWork(verdicts))
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


async def test_a_report_another_process_judged_first_gets_that_verdict():
    verdicts = FakeVerdicts()
    router = Routes()
    handlers.register(router, FakeResources(), uow=lambda: FakeUnitOfWork(verdicts))
    [spec] = router.stages
    out = Collecting()
    stage = Stage(spec.source, spec.group, spec.fn, Publisher(producer=out))
    good = json.loads(json.dumps({**examples.BY_MODEL["ReceivedReport"]}))
    good["producer_id"] = PRODUCER
    good["report"] = {**good["report"], "stage": "trading", "producer_id": PRODUCER}
    problem = {"code": "FACILITY_UNKNOWN", "path": "facility_id", "message": "gone"}


    verdicts.stored_first = {(PRODUCER, good["report_id"]): Verdict(
        [Problem(**problem)], [], datetime(2026, 11, 20, tzinfo=UTC))}
    await stage.handle([Record(good["report_id"].encode(), json.dumps(good).encode(), 0)])
    assert topics.VALIDATED.name not in out.seen
    [rejected] = out.seen[topics.REJECTED.name]
    assert rejected["problems"] == [problem]
    assert rejected["rejected_at"].startswith("2026-11-20")
