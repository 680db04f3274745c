"""Broker factory and the batch stage every consuming service is built from.

Delivery is at-least-once: a batch's offsets are committed only after every output it produced
has been acknowledged by the broker; a failure before that rewinds the partitions and the batch
is redelivered, so consumers must be idempotent. A message that can never be processed (does not
decode, or fails the business function on its own with a non-transient error) goes to
`<topic>.dlq` with the error attached instead of blocking its partition.
"""

import asyncio
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError
from faststream.kafka import KafkaBroker, KafkaRouter
from faststream.kafka.annotations import KafkaMessage
from faststream.middlewares import AckPolicy
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, SpanKind
from pydantic import BaseModel, ValidationError

from . import telemetry
from .metrics import METRICS
from .models import DeadLetter
from .settings import Settings
from .topics import BY_NAME, Topic

M = TypeVar("M", bound=BaseModel)
log = telemetry.get_logger(__name__)

TRANSIENT = (KafkaError, OSError, asyncio.TimeoutError, asyncpg.PostgresConnectionError,
             asyncpg.exceptions.InterfaceError, asyncpg.exceptions.SerializationError,
             asyncpg.exceptions.DeadlockDetectedError)
JSON = {"content-type": "application/json"}
# How long a stopping consumer may finish its batch; the pods' termination grace period
# (deploy/k8s) must be longer.
GRACEFUL_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class Emit:
    """One output record. `trace_key` names the input (by Kafka key) whose trace it continues;
    it defaults to `key`."""

    topic: str
    key: str
    value: BaseModel
    trace_key: str | None = None


def security(settings: Settings) -> BaseSecurity | None:
    """SASL (and TLS) from the settings; None when no credentials are configured."""
    ctx = ssl.create_default_context(cafile=settings.kafka_ssl_cafile) if settings.kafka_ssl else None
    if not settings.kafka_sasl_username:
        return BaseSecurity(ssl_context=ctx, use_ssl=True) if ctx else None
    kinds = {"SCRAM-SHA-512": SASLScram512, "SCRAM-SHA-256": SASLScram256, "PLAIN": SASLPlaintext}
    if settings.kafka_sasl_mechanism.upper() not in kinds:
        raise ValueError(f"KAFKA_SASL_MECHANISM must be one of {', '.join(kinds)}, "
                         f"not {settings.kafka_sasl_mechanism!r}")
    return kinds[settings.kafka_sasl_mechanism.upper()](
        username=settings.kafka_sasl_username, password=settings.kafka_sasl_password or "",
        ssl_context=ctx, use_ssl=settings.kafka_ssl)


def create_broker(settings: Settings) -> KafkaBroker:
    return KafkaBroker(
        settings.kafka_bootstrap_servers,
        security=security(settings),
        client_id=settings.service_name,
        linger_ms=settings.kafka_linger_ms,
        acks="all",
        log_level=logging.DEBUG,
        graceful_timeout=GRACEFUL_TIMEOUT_S,
        logger=telemetry.broker_logger(),
    )


async def _raw(_msg: Any) -> None:
    # The stage decodes each record itself so that one bad record cannot fail its batch.
    return None


def _headers(record: Any) -> dict[str, str]:
    return {k: v.decode(errors="replace") for k, v in (record.headers or ())}


def _key(record: Any) -> str | None:
    k = record.key
    return k.decode(errors="replace") if isinstance(k, bytes) else k


async def publish_all(publishers: dict[str, Any], emits: Sequence[Emit],
                      contexts: dict[str, Any] | None = None) -> None:
    """Send every record, then wait until the broker has acknowledged all of them."""
    futures = []
    for e in emits:
        ctx = (contexts or {}).get(e.trace_key or e.key)
        futures.append(await publishers[e.topic].publish(
            e.value.model_dump_json().encode(), key=e.key.encode(),
            headers={**JSON, **telemetry.inject(ctx)}, no_confirm=True))
    # The in-memory test broker delivers synchronously and hands back no future.
    pending = [f for f in futures if f is not None]
    if pending:
        await asyncio.gather(*pending)


def batch_stage(
    router: KafkaRouter,
    source: Topic,
    *,
    group: str,
    outputs: Sequence[str],
    max_records: int = 500,
    after_publish: Callable[[list[Emit]], Awaitable[None]] | None = None,
) -> Callable[[Callable[[list[M]], Awaitable[list[Emit]]]], Callable[[list[M]], Awaitable[list[Emit]]]]:
    """Register `fn(batch) -> emits` as the consumer of `source` in consumer group `group`.

    `fn` receives the decoded messages of one poll, in offset order per partition, and returns
    the records to publish; it must be idempotent (a batch can be redelivered). It may raise a
    TRANSIENT error to have the batch redelivered; any other error is narrowed down to the
    offending messages, which go to the DLQ. `after_publish(emits)` runs once the broker has
    acknowledged every output and before the offsets are committed (an outbox's "sent" mark).
    """
    # the registry's model documents each channel's payload in the AsyncAPI document
    publishers = {t: router.publisher(t, description=f"written by {group}",
                                      schema=BY_NAME[t].model if t in BY_NAME else None)
                  for t in outputs}
    dlq = router.publisher(source.dlq, description=f"messages of {source.name} that {group} "
                                                   "could never process")
    tracer = telemetry.tracer()

    def decorator(fn: Callable[[list[M]], Awaitable[list[Emit]]]):
        async def dead_letter(record: Any, error: str) -> None:
            METRICS.inc("dlq_total", topic=source.name)
            log.warning("message.dead_lettered", topic=source.name, partition=record.partition,
                        offset=record.offset, error=error[:500])
            letter = DeadLetter(
                source_topic=source.name, partition=record.partition, offset=record.offset,
                key=_key(record), error=error[:4000], consumer_group=group,
                value=(record.value or b"").decode(errors="replace"))
            await dlq.publish(letter.model_dump_json().encode(), key=record.key,
                              headers={**JSON, "mintrace-error": error[:200]})

        async def consume(msg: KafkaMessage) -> None:
            await _consume_batch(msg)

        consume.__name__ = f"consume_{source.name.replace('.', '_')}"
        router.subscriber(
            source.name, group_id=group, batch=True, max_records=max_records,
            batch_timeout_ms=100, ack_policy=AckPolicy.NACK_ON_ERROR, decoder=_raw,
            auto_offset_reset="earliest", title=f"{group}:{source.name}",
            description=f"{group} consumes {source.name} ({source.model.__name__})",
        )(consume)

        async def _consume_batch(msg: KafkaMessage) -> None:
            raw = msg.raw_message
            records = tuple(raw) if isinstance(raw, (list, tuple)) else (raw,)
            started = asyncio.get_running_loop().time()
            METRICS.inc("consumed_total", len(records), topic=source.name)
            items: list[tuple[Any, M]] = []
            for record in records:
                try:
                    items.append((record, source.model.model_validate_json(record.value or b"")))
                except ValidationError as exc:
                    await dead_letter(record, f"undecodable {source.model.__name__}: {exc}")
            spans, contexts = [], {}
            for record, _ in items:
                span = tracer.start_span(f"{source.name} process", kind=SpanKind.CONSUMER,
                                         context=telemetry.extract(_headers(record)),
                                         attributes={"messaging.system": "kafka",
                                                     "messaging.destination.name": source.name,
                                                     "messaging.consumer.group.name": group,
                                                     "messaging.kafka.message.key": _key(record) or ""})
                spans.append(span)
                contexts[_key(record)] = trace.set_span_in_context(span)
            # Work done for the whole batch (database statements) belongs to the report's trace
            # when the batch is one report, else to a batch span linked to every report's span.
            batch_span = None
            if len(spans) <= 1:
                batch_ctx = next(iter(contexts.values()), otel_context.get_current())
            else:
                batch_span = tracer.start_span(
                    f"{source.name} process batch", links=[Link(s.get_span_context()) for s in spans],
                    attributes={"messaging.batch.message_count": len(spans),
                                "messaging.consumer.group.name": group})
                batch_ctx = trace.set_span_in_context(batch_span)
            token = otel_context.attach(batch_ctx)
            try:
                emits = await _run(fn, items, dead_letter)
                await publish_all(publishers, emits, contexts)
                if after_publish is not None and emits:
                    await after_publish(emits)
            finally:
                otel_context.detach(token)
                for span in spans:
                    span.end()
                if batch_span is not None:
                    batch_span.end()
            done = asyncio.get_running_loop().time()
            METRICS.inc("processed_total", len(items), topic=source.name)
            METRICS.observe("batch_seconds", done - started, topic=source.name)
            now_ms = time.time() * 1000
            for record, _ in items:
                if record.timestamp and record.timestamp > 0:
                    METRICS.observe("latency_seconds", max(0.0, now_ms - record.timestamp) / 1000,
                                    topic=source.name)
            _record_lag(getattr(msg, "consumer", None), records, group)

        return fn

    return decorator


def _record_lag(consumer: Any, records: Sequence[Any], group: str) -> None:
    """Consumer lag per partition after this batch: the partition's high watermark minus the
    next offset this group will read (what KEDA scales on, seen from inside the process)."""
    highwater = getattr(consumer, "highwater", None)
    if highwater is None:
        return
    last: dict[tuple[str, int], int] = {}
    for r in records:
        last[(r.topic, r.partition)] = max(r.offset, last.get((r.topic, r.partition), -1))
    for (topic, partition), offset in last.items():
        try:
            hw = highwater(TopicPartition(topic, partition))
        except Exception:  # noqa: BLE001 - a metric must never fail a batch
            continue
        if hw is not None:
            METRICS.set("consumer_lag", max(0, hw - offset - 1), topic=topic,
                        partition=str(partition), group=group)


async def _run(fn, items, dead_letter) -> list[Emit]:
    if not items:
        return []
    try:
        return await fn([value for _, value in items])
    except TRANSIENT:
        raise
    except Exception as exc:
        if len(items) == 1:
            await dead_letter(items[0][0], f"{type(exc).__name__}: {exc}")
            return []
        log.warning("batch.failed_isolating", error=repr(exc)[:300], size=len(items))
    emits: list[Emit] = []
    for item in items:
        emits += await _run(fn, [item], dead_letter)
    return emits
