"""The stage's delivery contract, with a hand-written consumer and producer: offsets are never
committed before every output of the records below them is acknowledged; transient failures
rewind; permanent ones dead-letter the record and move on."""

import asyncio
import json
import random

import asyncpg
from aiokafka import TopicPartition
from aiokafka.errors import MessageSizeTooLargeError

from kafka_records import consumed
from mintrace_common import topics
from mintrace_common.delivery import Loop, Stage
from mintrace_common.errors import is_transient
from mintrace_common.models import ReceivedReport
from mintrace_common.examples import BY_MODEL
from mintrace_common.publisher import Emit, Publisher

SOURCE = topics.RECEIVED
OUT = topics.VALIDATED.name




def report(report_id: str) -> bytes:
    body = json.loads(json.dumps(BY_MODEL["ReceivedReport"]))
    body["report_id"] = body["report"]["report_id"] = report_id
    return json.dumps(body).encode()


class FakeConsumer:
    """Partitions as lists; `seek` moves the read position back like Kafka's."""

    def __init__(self, partitions: int, per_partition: int, batch: int) -> None:
        self.log = {TopicPartition(SOURCE.name, p): [
            consumed(SOURCE.name, p, o, f"R{p}-{o}".encode(),
                   b"{garbage" if (p, o) == (0, 3) else report(f"R{p}-{o}"))
            for o in range(per_partition)] for p in range(partitions)}
        self.position = {tp: 0 for tp in self.log}
        self.batch = batch
        self.commits: list[dict[TopicPartition, int]] = []
        self.committed = {tp: 0 for tp in self.log}
        self.seeks: list[tuple[TopicPartition, int]] = []
        self.on_commit = lambda offsets: None

    async def getmany(self, *_, timeout_ms: int = 0, max_records: int | None = None):
        await asyncio.sleep(0)
        ready = [tp for tp in self.log if self.position[tp] < len(self.log[tp])]
        if not ready:
            await asyncio.sleep(timeout_ms / 1000 / 20)
            return {}
        tp = random.choice(ready)
        start = self.position[tp]
        got = self.log[tp][start:start + random.randint(1, self.batch)]
        self.position[tp] = start + len(got)
        return {tp: got}

    async def commit(self, offsets) -> None:
        plain = {tp: o.offset for tp, o in offsets.items()}
        self.on_commit(plain)
        self.commits.append(plain)
        self.committed.update(plain)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append((tp, offset))
        self.position[tp] = offset

    def drained(self) -> bool:
        return all(self.committed[tp] == len(rs) for tp, rs in self.log.items())


class FakeProducer:
    """Acknowledges each record after a random delay, out of order across calls."""

    def __init__(self, too_large: set[str] = frozenset(), fail_first: int = 0) -> None:
        self.acked: list[tuple[str, str]] = []
        self.too_large, self.fail_first = too_large, fail_first

    async def send(self, topic, value, key, headers):
        if topic == OUT and key.decode() in self.too_large:
            raise MessageSizeTooLargeError("record too large")
        future = asyncio.get_running_loop().create_future()
        if self.fail_first > 0:
            self.fail_first -= 1
            future.set_exception(OSError("broker went away"))
            return future

        def ack():
            self.acked.append((topic, key.decode()))
            future.set_result(None)

        asyncio.get_running_loop().call_later(random.uniform(0, 0.01), ack)
        return future


def stage(producer: FakeProducer, fn=None, marks: list | None = None) -> Stage:
    async def validate(batch: list[ReceivedReport]) -> list[Emit]:
        return [Emit(OUT, r.report_id, r) for r in batch]

    async def mark(emits: list[Emit]) -> None:
        marks.extend(e.key for e in emits)

    return Stage(SOURCE, "validation", fn or validate, Publisher(producer=producer),
                 mark if marks is not None else None, max_records=5)


async def run_until_drained(loop: Loop, consumer: FakeConsumer, seconds: float = 20) -> None:
    task = asyncio.create_task(loop.run())
    deadline = asyncio.get_running_loop().time() + seconds
    while not consumer.drained() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)
    loop.stop()
    await asyncio.wait_for(task, 10)
    assert consumer.drained(), f"committed {consumer.committed}"


async def test_offsets_are_committed_only_after_every_output_below_them_is_acknowledged():
    random.seed(7)
    consumer = FakeConsumer(partitions=3, per_partition=40, batch=5)
    producer = FakeProducer()
    violations = []

    def check(offsets):
        acked = set(producer.acked)
        for tp, upto in offsets.items():
            for r in consumer.log[tp][:upto]:
                wanted = (SOURCE.dlq if (tp.partition, r.offset) == (0, 3) else OUT, r.key.decode())
                if wanted not in acked:
                    violations.append((tp.partition, r.offset, upto))

    consumer.on_commit = check
    loop = Loop(stage(producer), consumer, in_flight=4, commit_interval=0)
    await run_until_drained(loop, consumer)
    assert not violations, f"committed before acknowledged: {violations[:5]}"
    assert len(consumer.commits) > 3  # committed as it went, not only at the end
    assert (SOURCE.dlq, "R0-3") in producer.acked


async def test_a_transient_failure_rewinds_to_the_first_uncommitted_record_and_loses_nothing():
    random.seed(3)
    consumer = FakeConsumer(partitions=2, per_partition=30, batch=5)
    producer = FakeProducer()
    calls = {"n": 0}

    async def flaky(batch: list[ReceivedReport]) -> list[Emit]:
        calls["n"] += 1
        if calls["n"] in (3, 4):
            raise asyncpg.exceptions.AdminShutdownError("terminating connection")
        return [Emit(OUT, r.report_id, r) for r in batch]

    loop = Loop(stage(producer, flaky), consumer, in_flight=3, commit_interval=0, retry_max_s=0.05)
    await run_until_drained(loop, consumer)
    assert consumer.seeks, "the failed batch was not rewound"
    for tp, offset in consumer.seeks:
        assert offset >= 0 and offset <= consumer.committed[tp]
    outputs = {k for t, k in producer.acked if t == OUT}
    assert outputs == {r.key.decode() for rs in consumer.log.values() for r in rs} - {"R0-3"}
    assert not any(t == SOURCE.dlq and k != "R0-3" for t, k in producer.acked)


async def test_a_broker_failure_while_producing_rewinds_instead_of_committing():
    random.seed(5)
    consumer = FakeConsumer(partitions=1, per_partition=12, batch=4)
    producer = FakeProducer(fail_first=2)
    loop = Loop(stage(producer), consumer, in_flight=2, commit_interval=0, retry_max_s=0.05)
    await run_until_drained(loop, consumer)
    assert consumer.seeks
    assert {k for t, k in producer.acked if t == OUT} == {f"R0-{i}" for i in range(12)} - {"R0-3"}


async def test_an_output_too_large_for_the_broker_dead_letters_its_input_and_the_rest_flows():
    random.seed(11)
    consumer = FakeConsumer(partitions=1, per_partition=10, batch=5)
    producer = FakeProducer(too_large={"R0-6"})
    marks: list[str] = []
    loop = Loop(stage(producer, marks=marks), consumer, in_flight=2, commit_interval=0)
    await run_until_drained(loop, consumer)
    assert (SOURCE.dlq, "R0-6") in producer.acked
    assert "R0-6" not in marks and "R0-7" in marks
    assert not consumer.seeks  # permanent: never retried


async def test_a_permanent_business_error_dead_letters_only_the_offending_record():
    random.seed(13)
    consumer = FakeConsumer(partitions=1, per_partition=10, batch=5)
    producer = FakeProducer()

    async def picky(batch: list[ReceivedReport]) -> list[Emit]:
        if any(r.report_id == "R0-8" for r in batch):
            raise ValueError("cannot judge R0-8")
        return [Emit(OUT, r.report_id, r) for r in batch]

    loop = Loop(stage(producer, picky), consumer, in_flight=2, commit_interval=0)
    await run_until_drained(loop, consumer)
    dead = {k for t, k in producer.acked if t == SOURCE.dlq}
    assert dead == {"R0-3", "R0-8"}
    assert {k for t, k in producer.acked if t == OUT} == {f"R0-{i}" for i in range(10)} - dead


def test_database_errors_are_classified_by_sqlstate():
    e = asyncpg.exceptions
    transient = [e.AdminShutdownError, e.CannotConnectNowError, e.TooManyConnectionsError,
                 e.ReadOnlySQLTransactionError, e.SerializationError, e.DeadlockDetectedError,
                 e.CrashShutdownError, e.QueryCanceledError, e.LockNotAvailableError,
                 e.OutOfMemoryError]
    permanent = [e.UniqueViolationError, e.DataError, e.UndefinedTableError,
                 e.NotNullViolationError]
    assert [c.__name__ for c in transient if not is_transient(c("x"))] == []
    assert [c.__name__ for c in permanent if is_transient(c("x"))] == []
    assert is_transient(ConnectionResetError()) and not is_transient(ValueError())
    assert not is_transient(MessageSizeTooLargeError())


async def test_the_heap_is_frozen_once_and_only_after_a_first_batch_went_through():
    consumer = FakeConsumer(partitions=2, per_partition=12, batch=5)
    calls = []
    loop = Loop(stage(FakeProducer()), consumer, in_flight=3, commit_interval=0.01,
                poll_ms=10, warmed=lambda: calls.append(sum(consumer.position.values())))
    await run_until_drained(loop, consumer)
    assert len(calls) == 1 and calls[0] > 0
