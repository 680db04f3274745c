"""Structured logs and traces. One report is one trace: context travels in Kafka headers."""

import logging
import sys
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from typing import Any

import structlog
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Link, SpanKind

from .settings import Settings

_provider: TracerProvider | None = None
TRACE_HEADERS = frozenset({"traceparent", "tracestate", "baggage"})
# A batch span links to at most this many of its records' traces.
MAX_LINKS = 64


def _add_trace_ids(_, __, event: MutableMapping) -> MutableMapping:
    span = trace.get_current_span()
    ctx = span.get_span_context()
    if ctx.is_valid:
        event["trace_id"] = format(ctx.trace_id, "032x")
        event["span_id"] = format(ctx.span_id, "016x")
    return event


def configure_logging(service: str, level: str = "INFO", fmt: str = "auto") -> None:
    """structlog events and every stdlib logger (FastStream, aiokafka, uvicorn) rendered the same
    way: one JSON object per line (or console lines on a TTY), with the trace ids."""
    console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    renderer = structlog.dev.ConsoleRenderer() if console else structlog.processors.JSONRenderer()
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_trace_ids,
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, structlog.stdlib.ExtraAdder(),
                           *shared],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, renderer]))
    root = logging.getLogger()
    # Replace plain stream handlers (ours from an earlier call, basicConfig's); keep others
    # (a test runner's capture handler, say).
    root.handlers = [h for h in root.handlers if type(h) is not logging.StreamHandler] + [handler]
    root.setLevel(logging.WARNING)
    # FastStream and uvicorn install their own plain-text handlers; route them through ours.
    for name in (*STDLIB_LOGGERS, *(n for n in logging.root.manager.loggerDict
                                    if n.startswith("faststream"))):
        lg = logging.getLogger(name)
        lg.handlers = []
        lg.propagate = True
    logging.getLogger("faststream").setLevel(logging.INFO)


STDLIB_LOGGERS = ("faststream", "faststream.access", "faststream.access.kafka", "uvicorn",
                  "uvicorn.error", "uvicorn.access")


def broker_logger() -> logging.Logger:
    """The logger handed to FastStream brokers and apps, so their lines are JSON like ours."""
    return logging.getLogger("faststream.mintrace")


def configure_tracing(service: str, endpoint: str | None = None,
                      extra: SpanProcessor | None = None,
                      ratio: float = 1.0) -> TracerProvider | None:
    """Install the process-wide tracer provider once; spans go over OTLP/HTTP when an endpoint
    is configured (OTEL_EXPORTER_OTLP_ENDPOINT) and to `extra` (tests) when given. With neither,
    no SDK provider is installed: spans are the API's no-ops and cost next to nothing. New traces
    are sampled at `ratio`; a sampled parent is always followed."""
    global _provider
    if _provider is None and not (endpoint or extra):
        return None
    if _provider is None:
        _provider = TracerProvider(resource=Resource.create({"service.name": service}),
                                   sampler=ParentBased(TraceIdRatioBased(ratio)))
        if endpoint:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            _provider.add_span_processor(
                BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")))
        trace.set_tracer_provider(_provider)
        # Statements only: query parameters carry report contents and never go into spans.
        AsyncPGInstrumentor(capture_parameters=False).instrument(tracer_provider=_provider)
    if extra is not None:
        _provider.add_span_processor(extra)
    return _provider


def configure(settings: Settings) -> None:
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    configure_tracing(settings.service_name, settings.otel_exporter_otlp_endpoint,
                      ratio=settings.otel_traces_sampler_ratio)


def enabled() -> bool:
    return _provider is not None


def shutdown() -> None:
    if _provider is not None:
        _provider.shutdown()


def tracer():
    return trace.get_tracer("mintrace")


def extract(headers: Mapping[str, str]) -> otel_context.Context:
    return propagate.extract(headers)


def inject(ctx: otel_context.Context | None = None) -> dict[str, str]:
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=ctx)
    return carrier


def _headers(record: Any) -> dict[str, str]:
    return {k: v.decode(errors="replace") for k, v in (record.headers or ()) if k in TRACE_HEADERS}


def new_trace(name: str, attributes: dict[str, Any]) -> tuple[tuple[str, bytes], ...]:
    """Start (and end) a root span; its context as Kafka headers, () without a provider."""
    if _provider is None:
        return ()
    with tracer().start_as_current_span(name, context=otel_context.Context(),
                                        kind=SpanKind.PRODUCER, attributes=attributes):
        return tuple((k, v.encode()) for k, v in inject().items())


@contextmanager
def consuming(topic: str, group: str, records: Sequence[Any]) -> Iterator[None]:
    """The span of one consumed batch, current inside the block. A one-record batch continues
    that record's trace; a larger one is a span of its own linked to (up to MAX_LINKS of) its
    records' traces — one span per batch, not per record. Nothing at all without a provider."""
    if _provider is None:
        yield
        return
    attributes = {"messaging.system": "kafka", "messaging.destination.name": topic,
                  "messaging.consumer.group.name": group,
                  "messaging.batch.message_count": len(records)}
    if len(records) == 1:
        key = records[0].key
        attributes["messaging.kafka.message.key"] = (
            key.decode(errors="replace") if isinstance(key, bytes) else key or "")
        span = tracer().start_as_current_span(f"{topic} process", kind=SpanKind.CONSUMER,
                                              context=extract(_headers(records[0])),
                                              attributes=attributes)
    else:
        links = []
        for r in records[:MAX_LINKS]:
            ctx = trace.get_current_span(extract(_headers(r))).get_span_context()
            if ctx.is_valid:
                links.append(Link(ctx))
        span = tracer().start_as_current_span(f"{topic} process batch", kind=SpanKind.CONSUMER,
                                              context=otel_context.Context(), links=links,
                                              attributes=attributes)
    with span:
        yield


def get_logger(name: str | None = None):
    return structlog.get_logger(name)
