"""Case actions on a real PostgreSQL database when the broker does not acknowledge: the action
stands, its cases.events record waits in the outbox and is published once by the drain."""

import secrets
from datetime import UTC, datetime

import pytest
from aiokafka.errors import KafkaConnectionError

from mintrace import devstack
from mintrace_common import db
from mintrace_common.models import CaseEvent
from mintrace_supervision import casework
from mintrace_supervision.cases import Action, InvalidTransition


@pytest.fixture(scope="module")
async def pool(pg_server_url):
    url = await devstack.scratch_database(pg_server_url, "mintrace_cases", load_demo=False)
    p = await db.create_pool(url, 1, 4)
    yield p
    await p.close()
    await devstack.drop_database(url)


async def new_alert(pool, province_code: str = "360000") -> str:
    alert_id = f"a-test-{secrets.token_hex(4)}"
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO alerts (alert_id, type, severity, province_code, producer_id, "
            "report_ids, summary, raised_at, rule_version) VALUES ($1, 'UNLICENSED_EXPORT', "
            "'high', $2, 'p', '{r-1}', 'test', $3, '1')", alert_id, province_code,
            datetime.now(UTC))
    return alert_id


class Broker:
    """A hand-written publisher: down until `up`, then records what it is given."""

    def __init__(self) -> None:
        self.up, self.sent = False, []

    async def publish(self, events: list[CaseEvent]) -> None:
        if not self.up:
            raise KafkaConnectionError("broker down")
        self.sent += events


async def test_an_unacknowledged_case_event_is_published_later_by_the_drain(pool):
    alert_id, broker = await new_alert(pool), Broker()
    case = await casework.act(pool, broker.publish, "Li Wei", "360000", alert_id,
                              Action(action="assign", assignee="Zhang San"))
    assert case["status"] == "assigned"          # the action stands without the broker
    broker.up = True
    assert await casework.drain(pool, broker.publish) == 0     # the request's lease holds it
    assert await casework.drain(pool, broker.publish, lease_s=0) == 1
    assert [(e.alert_id, e.action, e.by, e.status) for e in broker.sent] == [
        (alert_id, "assign", "Li Wei", "assigned")]
    assert await casework.drain(pool, broker.publish, lease_s=0) == 0   # sent once


async def test_a_refused_action_records_and_publishes_nothing(pool):
    alert_id, broker = await new_alert(pool), Broker()
    broker.up = True
    with pytest.raises(InvalidTransition):
        await casework.act(pool, broker.publish, "Li Wei", "360000", alert_id,
                           Action(action="reopen"))
    with pytest.raises(casework.AlertNotFound):   # another province's alert
        await casework.act(pool, broker.publish, "Chen Jie", "430000", alert_id,
                           Action(action="note", note="peek"))
    detail = await casework.detail(pool, "360000", alert_id)
    assert detail["case"]["history"] == [] and broker.sent == []
    assert await casework.drain(pool, broker.publish, lease_s=0) == 0
