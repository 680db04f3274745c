"""The stage every consuming service is built from, as visible steps:

    decode -> run -> produce -> mark -> commit

Delivery is at-least-once: a batch's offsets are committed only after every record it produced
(outputs and dead letters) has been acknowledged by the broker, so consumers must be idempotent.
A record that can never be processed (does not decode, fails the business function on its own
with a permanent error, or makes an output the broker can never take) goes to `<topic>.dlq` with
the error attached instead of blocking its partition. A transient failure (broker, database
restarting) rewinds to the last committed offsets and retries after an exponential backoff.

The loop keeps a few batches in flight: the business function runs one batch at a time in offset
order, while the outputs of earlier batches are still being acknowledged; offsets are committed
in order, at most every `commit_interval` seconds (and whenever nothing is in flight).
"""

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Generic, Protocol, TypeVar

import backoff
from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import OffsetAndMetadata
from faststream.kafka import KafkaRouter
from pydantic import BaseModel, ValidationError

from . import telemetry
from .errors import is_transient
from .metrics import METRICS
from .models import DeadLetter, trusted
from .publisher import Emit, Publisher, Refused, declare
from .topics import Topic

M = TypeVar("M", bound=BaseModel)
BusinessFn = Callable[[list[M]], Awaitable[list[Emit]]]
Mark = Callable[[list[Emit]], Awaitable[None]]
log = telemetry.get_logger(__name__)
# How long a stopping consumer may finish its batches; the pods' termination grace period
# (deploy/k8s) must be longer.
GRACEFUL_TIMEOUT_S = 20.0
LETTER_VALUE_BYTES = 128 * 1024


@dataclass(frozen=True)
class Failed:
    record: Any
    error: str


def key_of(record: Any) -> str:
    k = record.key
    return k.decode(errors="replace") if isinstance(k, bytes) else (k or "")


def decode(model: type[M], records: Sequence[Any], internal: bool = False
           ) -> tuple[list[tuple[Any, M]], list[Failed]]:
    """Each record as `model`; one that does not decode is poison. A record of an `internal`
    topic (one of our services wrote it from validated values) is decoded without the checks
    that can only refuse (models.trusted); an outside system's is validated in full."""
    validate = trusted(model).validate_json if internal else model.model_validate_json
    items, poison = [], []
    for record in records:
        try:
            items.append((record, validate(record.value or b"")))
        except ValidationError as exc:
            poison.append(Failed(record, f"undecodable {model.__name__}: {exc}"))
    return items, poison


async def run(fn: BusinessFn, items: list[tuple[Any, M]]) -> tuple[list[Emit], list[Failed]]:
    """`fn` over the whole batch; a permanent failure is narrowed down to the records that cause
    it on their own. A transient error propagates (the batch is retried whole)."""
    if not items:
        return [], []
    try:
        return await fn([value for _, value in items]), []
    except Exception as exc:
        if is_transient(exc):
            raise
        if len(items) == 1:
            return [], [Failed(items[0][0], f"{type(exc).__name__}: {exc}")]
        log.warning("batch.failed_isolating", error=repr(exc)[:300], size=len(items))
    emits: list[Emit] = []
    failed: list[Failed] = []
    for item in items:
        e, f = await run(fn, [item])
        emits += e
        failed += f
    return emits, failed


def with_traces(emits: list[Emit], records: Sequence[Any]) -> list[Emit]:
    """Each output continues the trace of the input it was made from: inside a one-record batch
    the current (child) span's, else the input's own trace headers, copied as they came."""
    if len(records) == 1:
        return emits
    traces = {key_of(r): tuple((k, v) for k, v in (r.headers or ()) if k in telemetry.TRACE_HEADERS)
              for r in records}
    return [e if e.trace is not None else replace(e, trace=traces.get(e.trace_key or e.key, ()))
            for e in emits]


@dataclass
class Stage(Generic[M]):
    """`fn` consuming `source` in consumer group `group`; see the module's docstring."""

    source: Topic
    group: str
    fn: BusinessFn
    publisher: Publisher
    mark: Mark | None = None
    max_records: int = 500
    model: type[BaseModel] | None = None  # a lighter view of the source's model, if any
    _turn: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def handle(self, records: Sequence[Any]) -> None:
        """Everything but the commit. Raises a transient error if anything must be retried;
        returns once every output and dead letter of `records` is acknowledged."""
        started = time.perf_counter()
        with telemetry.consuming(self.source.name, self.group, records):
            async with self._turn:  # one batch at a time through fn, in offset order
                items, poison = decode(self.model or self.source.model, records,
                                       self.source.internal)
                emits, failed = await run(self.fn, items)
                sent = await self.publisher.enqueue(with_traces(emits, records))
            refused = await sent.acknowledged()  # the next batch runs meanwhile
            if refused:
                failed += self._failed_outputs(refused, items)
                emits = [e for e in emits if e.key not in {r.emit.key for r in refused}]
            if poison or failed:
                await self.dead_letter([*poison, *failed])
            if self.mark is not None and emits:
                await self.mark(emits)
        topic = self.source.name
        METRICS.inc("processed_total", len(items), topic=topic)
        METRICS.observe("batch_seconds", time.perf_counter() - started, topic=topic)
        now_ms = time.time() * 1000
        latency = METRICS.histogram("latency_seconds", topic=topic)
        for record, _ in items:
            if record.timestamp and record.timestamp > 0:
                latency.observe(max(0.0, now_ms - record.timestamp) / 1000)

    def _failed_outputs(self, refused: list[Refused], items: list[tuple[Any, M]]) -> list[Failed]:
        by_key = {key_of(r): r for r, _ in items}
        return [Failed(by_key[r.emit.trace_key or r.emit.key], f"output to {r.emit.topic} "
                       f"refused: {r.error}") for r in refused
                if (r.emit.trace_key or r.emit.key) in by_key]

    async def dead_letter(self, failures: list[Failed]) -> None:
        letters = []
        for f in failures:
            r = f.record
            METRICS.inc("dlq_total", topic=self.source.name)
            log.warning("message.dead_lettered", topic=self.source.name, partition=r.partition,
                        offset=r.offset, error=f.error[:500])
            letters.append(Emit(self.source.dlq, key_of(r), DeadLetter(
                source_topic=self.source.name, partition=r.partition, offset=r.offset,
                key=key_of(r), error=f.error[:4000], consumer_group=self.group,
                # even escaped six-fold, a letter stays under the broker's 1 MiB default
                value=(r.value or b"")[:LETTER_VALUE_BYTES].decode(errors="replace")),
                headers=(("mintrace-error", f.error[:200].encode()),)))
        refused = await self.publisher.send_all(letters)
        if refused:  # never: letters are bounded well below the limit
            raise RuntimeError(f"dead letters refused: {refused[0].error}")


class Consumer(Protocol):
    """What the loop needs of an AIOKafkaConsumer (tests hand in a fake)."""

    async def getmany(self, *partitions, timeout_ms: int = 0,
                      max_records: int | None = None) -> dict[TopicPartition, list[Any]]: ...
    async def commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None: ...
    def seek(self, partition: TopicPartition, offset: int) -> None: ...


@dataclass
class _InFlight:
    first: dict[TopicPartition, int]   # where to seek back to
    next: dict[TopicPartition, int]    # what to commit once done
    task: asyncio.Task


class Loop:
    """Feeds a consumer's batches through `stage.handle` with up to `in_flight` batches at once,
    and commits offsets in order, only for batches whose `handle` returned."""

    def __init__(self, stage: Stage, consumer: Consumer, *, in_flight: int = 4,
                 commit_interval: float = 1.0, poll_ms: int = 200,
                 retry_max_s: float = 30.0,
                 warmed: Callable[[], None] | None = None) -> None:
        self.stage, self.consumer = stage, consumer
        self.in_flight, self.commit_interval, self.poll_ms = in_flight, commit_interval, poll_ms
        self.retry_max_s = retry_max_s
        self.warmed = warmed  # called once, after the first batch went through (heap.Heap.settle)
        self.pending: deque[_InFlight] = deque()
        self.done: dict[TopicPartition, int] = {}
        self.last_commit = time.monotonic()
        self.stopping = asyncio.Event()
        self._delays = None

    async def run(self) -> None:
        while not self.stopping.is_set():
            try:
                await self.step()
                self._delays = None
            except Exception as exc:  # noqa: BLE001 - every failure rewinds; permanent ones were DLQ'd
                await self.rewind(exc)
        await self.drain()

    async def step(self) -> None:
        got = await self.consumer.getmany(timeout_ms=self.poll_ms,
                                          max_records=self.stage.max_records)
        records = [r for rs in got.values() for r in rs]
        if records:
            METRICS.inc("consumed_total", len(records), topic=self.stage.source.name)
            self._record_lag(got)
            self.pending.append(_InFlight(
                {tp: rs[0].offset for tp, rs in got.items() if rs},
                {tp: rs[-1].offset + 1 for tp, rs in got.items() if rs},
                asyncio.ensure_future(self.stage.handle(records))))
        while self.pending and (len(self.pending) >= self.in_flight or self.pending[0].task.done()):
            await self._settle_head()  # raises: rewind
        if self.done and (not self.pending
                          or time.monotonic() - self.last_commit >= self.commit_interval):
            await self.commit()

    def _record_lag(self, got: dict[TopicPartition, list[Any]]) -> None:
        """Records not consumed yet per partition (what KEDA scales on, seen from inside)."""
        highwater = getattr(self.consumer, "highwater", None)
        if highwater is None:
            return
        for tp, rs in got.items():
            hw = highwater(tp) if rs else None
            if hw is not None:
                METRICS.set("consumer_lag", max(0, hw - rs[-1].offset - 1), topic=tp.topic,
                            partition=str(tp.partition), group=self.stage.group)

    async def _settle_head(self) -> None:
        head = self.pending[0]
        await head.task
        if self.pending and self.pending[0] is head:  # a concurrent drain may have settled it
            self.pending.popleft()
            self.done.update(head.next)
            if self.warmed is not None:
                warmed, self.warmed = self.warmed, None
                warmed()

    async def commit(self) -> None:
        offsets = {tp: OffsetAndMetadata(o, "") for tp, o in self.done.items()}
        self.done = {}
        await self.consumer.commit(offsets)
        self.last_commit = time.monotonic()

    async def drain(self) -> None:
        """Finish what is in flight and commit what finished (on stop and before a rebalance
        takes partitions away). A failure leaves the rest uncommitted: it is redelivered."""
        while self.pending:
            try:
                await self._settle_head()
            except Exception:  # noqa: BLE001
                break
        for p in self.pending:
            p.task.cancel()
        await asyncio.gather(*(p.task for p in self.pending), return_exceptions=True)
        self.pending.clear()
        if self.done:
            await self.commit()

    async def rewind(self, exc: BaseException) -> None:
        """Wait for the batches in flight to settle, seek every partition back to the first
        record not committed, and back off before trying again."""
        await asyncio.gather(*(p.task for p in self.pending), return_exceptions=True)
        seek: dict[TopicPartition, int] = {}
        for p in self.pending:
            for tp, o in p.first.items():
                seek.setdefault(tp, o)
        self.pending.clear()
        for tp, o in seek.items():
            try:
                self.consumer.seek(tp, o)
            except Exception as err:  # noqa: BLE001 - partition revoked meanwhile
                log.info("stage.seek_skipped", partition=str(tp), error=repr(err)[:200])
        if self._delays is None:
            self._delays = _delays(self.retry_max_s)
        delay = next(self._delays)
        level = log.warning if is_transient(exc) else log.error
        level("stage.retry", topic=self.stage.source.name, group=self.stage.group,
              error=repr(exc)[:300], delay_s=round(delay, 3))
        METRICS.inc("retries_total", topic=self.stage.source.name)
        await asyncio.sleep(delay)

    def stop(self) -> None:
        self.stopping.set()


def _delays(max_s: float):
    """Exponential backoff with full jitter (0.1 s doubling to `max_s`): no hot loop, and
    replicas retrying after one outage do not return in step."""
    delays = backoff.expo(base=2, factor=0.1, max_value=max_s)
    next(delays)  # backoff's generators are primed with one empty step
    for d in delays:
        yield backoff.full_jitter(d)


class DrainOnRevoke(ConsumerRebalanceListener):
    def __init__(self) -> None:
        self.loop: Loop | None = None

    async def on_partitions_revoked(self, revoked) -> None:
        if self.loop is not None and revoked:
            try:
                await self.loop.drain()
            except Exception as exc:  # noqa: BLE001 - the new owner redelivers
                log.warning("stage.drain_failed", error=repr(exc)[:300])

    async def on_partitions_assigned(self, assigned) -> None:
        return None


@dataclass
class StageSpec:
    source: Topic
    group: str
    fn: BusinessFn
    mark: Mark | None
    max_records: int
    model: type[BaseModel] | None = None


class Routes(KafkaRouter):
    """A faststream router that also lists the stages declared on it (`batch_stage`)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.stages: list[StageSpec] = []
        self.declared: set[str] = set()


def batch_stage(router: Routes, source: Topic, *, group: str, outputs: Sequence[str],
                max_records: int = 500, after_publish: Mark | None = None,
                view: type[BaseModel] | None = None):
    """Declare `fn(batch) -> emits` as the consumer of `source` in consumer group `group`.

    `fn` receives the decoded messages of one poll, in offset order per partition, and returns
    the records to publish; it must be idempotent (a batch can be redelivered). It may raise a
    transient error (`errors.is_transient`) to have the batch retried; any other error is
    narrowed down to the offending messages, which go to the DLQ. `after_publish(emits)` runs
    once the broker has acknowledged every output and before the offsets are committed (an
    outbox's "sent" mark). `view` decodes each record into a model of only the fields `fn`
    needs (the producer validated the whole message already), which is much cheaper."""
    declare(router, outputs, f"written by {group}")
    declare(router, [source.dlq], f"messages of {source.name} that {group} could never process")

    def decorator(fn: BusinessFn) -> BusinessFn:
        router.stages.append(StageSpec(source, group, fn, after_publish, max_records, view))
        return fn

    return decorator
