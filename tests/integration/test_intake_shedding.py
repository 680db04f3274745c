"""Load shedding at intake: the pipeline's backlog is measured on the real broker as consumer
lag, and past its limit intake answers 503 with Retry-After instead of accepting more."""

import secrets

import httpx
from reports import mining_report
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import OffsetAndMetadata

from mintrace import devstack
from mintrace_common.models import ReceivedReport
from mintrace_common.service import Resources
from mintrace_common.settings import Settings
from mintrace_intake.acceptance import Received
from mintrace_intake.api import create_api
from mintrace_intake.backlog import Backlog
from mintrace_intake.settings import IntakeSettings


async def test_backlog_is_the_stages_uncommitted_records_on_the_real_broker(kafka):
    topic, group = f"shed.{secrets.token_hex(3)}", f"shed-{secrets.token_hex(3)}"
    await devstack.create_topics(kafka, [(topic, 2, -1)])
    producer = AIOKafkaProducer(bootstrap_servers=kafka, acks="all")
    await producer.start()
    for i in range(40):
        await producer.send_and_wait(topic, b"{}", key=str(i).encode(), partition=i % 2)
    await producer.stop()
    committer = AIOKafkaConsumer(bootstrap_servers=kafka, group_id=group,
                                 enable_auto_commit=False)
    await committer.start()
    committer.assign([TopicPartition(topic, 0), TopicPartition(topic, 1)])
    admin, probe = AIOKafkaAdminClient(bootstrap_servers=kafka), AIOKafkaConsumer(
        bootstrap_servers=kafka)
    await admin.start()
    await probe.start()
    try:
        backlog = Backlog(Settings(kafka_bootstrap_servers=kafka), limit=10,
                          stages=[(topic, group)])
        assert await backlog.measure(admin, probe) == 40  # nothing committed yet
        await committer.commit({TopicPartition(topic, 0): OffsetAndMetadata(15, ""),
                                TopicPartition(topic, 1): OffsetAndMetadata(5, "")})
        assert await backlog.measure(admin, probe) == 20
        assert backlog.retry_after() is not None
        await committer.commit({TopicPartition(topic, p): OffsetAndMetadata(20, "")
                                for p in (0, 1)})
        assert await backlog.measure(admin, probe) == 0
        assert backlog.retry_after() is None
        assert backlog.drain_per_s > 0
    finally:
        await committer.stop()
        await probe.stop()
        await admin.close()


class Acknowledging:
    def __init__(self) -> None:
        self.acknowledged: list[ReceivedReport] = []

    async def publish(self, reports: list[Received]) -> None:
        self.acknowledged.extend(r.record for r in reports)


async def test_intake_sheds_with_503_and_retry_after_while_the_pipeline_is_behind(database_url):
    settings = IntakeSettings(database_url=database_url, service_name="intake")
    res = Resources(settings)
    await res.open()
    broker = Acknowledging()
    backlog = Backlog(settings, limit=1000)
    backlog.value, backlog.drain_per_s = 5000, 500.0
    app = create_api(settings, res, broker.publish, lifespan=None, backlog=backlog)
    key = (await devstack.issue_producer_keys(database_url, ["JX2"]))["JX2"]
    report = mining_report(f"S-{secrets.token_hex(4)}")
    auth = {"Authorization": f"Bearer {key}"}
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://intake") as client:
            shed = await client.post("/v1/reports/batch", json=[report], headers=auth)
            assert shed.status_code == 503, shed.text
            assert int(shed.headers["retry-after"]) == 9  # (5000 - 500) / 500 per second
            assert broker.acknowledged == []
            backlog.value = 1000  # at the limit: still accepted
            ok = await client.post("/v1/reports/batch", json=[report], headers=auth)
            assert ok.status_code == 200 and ok.json()["counts"] == {"202": 1}, ok.text
            assert [r.report_id for r in broker.acknowledged] == [report["report_id"]]
            # what was just admitted counts before the next measurement: now over the limit
            again = await client.post("/v1/reports/batch", json=[report], headers=auth)
            assert again.status_code == 503
    finally:
        await res.close()


def test_the_limit_is_seconds_of_the_rate_the_pipeline_drains_at():
    backlog = Backlog(Settings(), limit=3000, seconds=1.0)
    backlog.drain_per_s = 0.0  # idle: no rate measured yet, a burst is not refused
    assert backlog.current_limit() == Backlog.FLOOR
    backlog.drain_per_s = 1500.0
    assert backlog.current_limit() == 1500
    backlog.value = 1400
    assert backlog.retry_after() is None
    backlog.value = 1600  # more than a second of work queued: shed
    assert backlog.retry_after() == 1  # (1600 - 750) / 1500, rounded up
    backlog.drain_per_s = 9000.0  # never above INTAKE_MAX_BACKLOG
    assert backlog.current_limit() == 3000
    assert Backlog(Settings(), limit=0, seconds=1.0).current_limit() == 0  # 0: never shed
