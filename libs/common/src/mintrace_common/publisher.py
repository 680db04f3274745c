"""The one way a record leaves a mintrace process: `Publisher.send_all(emits)`.

Every record is encoded once, carries `content-type` and the trace context in its headers, and
`send_all` returns only when the broker has acknowledged every record it accepted. A record the
broker can never take (larger than `max.request.size`) is refused at once and handed back to the
caller instead of being retried forever.
"""

import asyncio
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError, RecordTooLargeError
from faststream.kafka import KafkaRouter
from faststream.kafka.security import parse_security
from murmurhash2 import murmurhash2
from pydantic import BaseModel

from . import telemetry
from .settings import Settings

CONTENT_TYPE = ("content-type", b"application/json")
TOO_LARGE = (MessageSizeTooLargeError, RecordTooLargeError)


@dataclass(frozen=True)
class Emit:
    """One output record. `trace` is the trace context it continues (Kafka headers of the input
    it was made from); without it, the caller's current span's. `trace_key` names that input by
    its Kafka key when a stage fills `trace` in; it defaults to `key`."""

    topic: str
    key: str
    value: BaseModel | bytes
    trace_key: str | None = None
    headers: tuple[tuple[str, bytes], ...] = ()
    trace: tuple[tuple[str, bytes], ...] | None = field(default=None, compare=False)
    # `value` already encoded, when the caller needed its JSON anyway (encode each record once)
    body: bytes | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Refused:
    """A record the broker will never accept, and why."""

    emit: Emit
    error: str


class Murmur2Partitioner:
    """Kafka's default partitioner (the Java client's murmur2 of the key, as aiokafka's
    DefaultPartitioner computes it), in C: the pure-Python hash cost ~15 µs per record sent. A
    record goes to the same partition whichever client wrote it."""

    SEED = 0x9747B28C

    def __call__(self, key: bytes | None, all_partitions: list[int],
                 available: list[int]) -> int:
        if key is None:
            return random.choice(available or all_partitions)
        return all_partitions[(murmurhash2(key, self.SEED) & 0x7FFFFFFF) % len(all_partitions)]


class Producer(Protocol):
    async def send(self, topic: str, value: bytes, key: bytes,
                   headers: list[tuple[str, bytes]]) -> "asyncio.Future[Any]": ...


def _encode(value: BaseModel | bytes, cache: dict[int, bytes]) -> bytes:
    if isinstance(value, bytes):
        return value
    body = cache.get(id(value))
    if body is None:
        body = cache[id(value)] = value.model_dump_json().encode()
    return body


class Publisher:
    """Publishes through one producer per process. Start it in the lifespan; `producer` is
    injectable (tests hand in a fake)."""

    def __init__(self, settings: Settings | None = None, producer: Producer | None = None) -> None:
        self.settings = settings
        self._producer = producer
        self._owned: AIOKafkaProducer | None = None
        self._starting = asyncio.Lock()

    async def start(self) -> None:
        """Connect (also done by the first send: a process that never publishes never
        connects)."""
        async with self._starting:
            if self._producer is None:
                await self._connect()

    async def _connect(self) -> None:
        from .kafka import security

        s = self.settings or Settings()
        self._owned = AIOKafkaProducer(
            bootstrap_servers=s.kafka_bootstrap_servers, client_id=s.service_name,
            linger_ms=s.kafka_linger_ms, acks="all", max_request_size=s.kafka_max_request_bytes,
            partitioner=Murmur2Partitioner(),
            **parse_security(security(s)))
        await self._owned.start()
        self._producer = _AioKafka(self._owned)

    async def stop(self) -> None:
        if self._owned is not None:
            await self._owned.stop()
            self._owned, self._producer = None, None

    async def send_all(self, emits: Sequence[Emit]) -> list[Refused]:
        """Send every record without waiting for each, then wait until the broker acknowledged
        all of them. Returns the records refused as too large (permanent); raises KafkaError
        (transient: nothing is known to be delivered) on any other failure."""
        return await (await self.enqueue(emits)).acknowledged()

    async def enqueue(self, emits: Sequence[Emit]) -> "Sent":
        """Hand every record to the producer, in order, without waiting for acknowledgements
        (`Sent.acknowledged()` does): what is enqueued first is sent first on each partition."""
        if self._producer is None:
            await self.start()
        bodies: dict[int, bytes] = {}
        current: list[tuple[str, bytes]] | None = None
        sent = Sent()
        for e in emits:
            if e.trace is None and current is None:
                current = [(k, v.encode()) for k, v in telemetry.inject().items()]
            headers = [CONTENT_TYPE, *(current if e.trace is None else e.trace), *e.headers]
            try:
                sent.pending.append((e, await self._producer.send(
                    e.topic, e.body if e.body is not None else _encode(e.value, bodies),
                    e.key.encode(), headers)))
            except TOO_LARGE as exc:
                sent.refused.append(Refused(e, f"{type(exc).__name__}: {exc}"))
        return sent

    async def publish(self, emits: Sequence[Emit]) -> None:
        """`send_all` for callers with no dead-letter topic: a refused record raises
        `RecordRefused` (permanent: do not retry it)."""
        refused = await self.send_all(emits)
        if refused:
            raise RecordRefused(refused)


@dataclass
class Sent:
    pending: list[tuple[Emit, Any]] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)

    async def acknowledged(self) -> list[Refused]:
        results = await asyncio.gather(*(f for _, f in self.pending), return_exceptions=True)
        refused = list(self.refused)
        for (e, _), result in zip(self.pending, results):
            if isinstance(result, TOO_LARGE):
                refused.append(Refused(e, f"{type(result).__name__}: {result}"))
            elif isinstance(result, BaseException):
                raise result
        return refused


class RecordRefused(Exception):
    def __init__(self, refused: list[Refused]) -> None:
        super().__init__("; ".join(f"{r.emit.topic}/{r.emit.key}: {r.error[:200]}"
                                   for r in refused))
        self.refused = refused


class _AioKafka:
    def __init__(self, producer: AIOKafkaProducer) -> None:
        self.producer = producer

    async def send(self, topic: str, value: bytes, key: bytes,
                   headers: list[tuple[str, bytes]]) -> "asyncio.Future[Any]":
        return await self.producer.send(topic, value, key=key, headers=headers)


def declare(router: KafkaRouter, topics: Iterable[str], description: str) -> None:
    """Declare channels this process writes, so they show up in the AsyncAPI document (the
    records themselves go through `Publisher`)."""
    from .topics import BY_NAME

    declared = getattr(router, "declared", set())
    for t in topics:
        if t in declared:
            continue
        declared.add(t)
        router.publisher(t, description=description,
                         schema=BY_NAME[t].model if t in BY_NAME else None)
