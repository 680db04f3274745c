"""The validation stage on a real PostgreSQL database: a report is judged once. Redelivered (a
crash before the offset commit, a rebalance) after the registry changed, it gets its first
verdict again, so the pipeline never sees one report both validated and rejected."""

import asyncio
import json
import secrets
from dataclasses import dataclass

import pytest

from mintrace import devstack
from mintrace_common import db, examples, topics
from mintrace_common.delivery import Routes, Stage
from mintrace_common.publisher import Publisher
from mintrace_validation import handlers
from mintrace_validation.settings import ValidationSettings

PRODUCER = "91360700MA0000001T"


@pytest.fixture(scope="module")
async def pool(pg_server_url):
    url = await devstack.scratch_database(pg_server_url, "mintrace_verdicts", load_demo=False)
    p = await db.create_pool(url, 1, 4)
    yield p
    await p.close()
    await devstack.drop_database(url)


class Resources:
    settings = ValidationSettings(service_name="validation")

    def __init__(self, pool) -> None:
        self.pool = pool


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
        self.seen: list[tuple[str, dict]] = []

    async def send(self, topic, value, key, headers):
        self.seen.append((topic, json.loads(value)))
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


async def deliver(pool, received: dict) -> tuple[str, dict]:
    router = Routes()
    handlers.register(router, Resources(pool))
    [spec] = router.stages
    out = Collecting()
    stage = Stage(spec.source, spec.group, spec.fn, Publisher(producer=out))
    await stage.handle([Record(received["report_id"].encode(), json.dumps(received).encode(), 0)])
    [(topic, message)] = out.seen
    return topic, message


def received_report(facility_id: str, report_id: str) -> dict:
    received = json.loads(json.dumps(examples.BY_MODEL["ReceivedReport"]))
    received["producer_id"] = PRODUCER
    received["report_id"] = report_id
    received["report"] = {**received["report"], "report_id": report_id, "stage": "trading",
                          "producer_id": PRODUCER, "facility_id": facility_id}
    return received


async def register(pool, facility_id: str) -> None:
    async with pool.acquire() as conn:
        await conn.execute("INSERT INTO producers (producer_id, name) VALUES ($1, 'Gan Rare') "
                           "ON CONFLICT DO NOTHING", PRODUCER)
        await conn.execute("INSERT INTO facilities (facility_id, producer_id, province_code, "
                           "stages) VALUES ($1, $2, '360000', '{trading}')", facility_id, PRODUCER)


async def test_a_redelivered_report_gets_its_first_verdict_after_the_registry_changed(pool):
    facility, report_id = f"JX-F-{secrets.token_hex(3)}", f"R-{secrets.token_hex(4)}"
    await register(pool, facility)
    first_topic, first = await deliver(pool, received_report(facility, report_id))
    assert first_topic == topics.VALIDATED.name
    async with pool.acquire() as conn:           # the rule would now find FACILITY_UNKNOWN
        await conn.execute("DELETE FROM facilities WHERE facility_id = $1", facility)
    again_topic, again = await deliver(pool, received_report(facility, report_id))
    assert (again_topic, again) == (first_topic, first)


async def test_a_rejected_report_stays_rejected_after_its_facility_is_registered(pool):
    facility, report_id = f"JX-F-{secrets.token_hex(3)}", f"R-{secrets.token_hex(4)}"
    first_topic, first = await deliver(pool, received_report(facility, report_id))
    assert first_topic == topics.REJECTED.name
    assert "FACILITY_UNKNOWN" in [p["code"] for p in first["problems"]]
    await register(pool, facility)
    assert await deliver(pool, received_report(facility, report_id)) == (first_topic, first)
