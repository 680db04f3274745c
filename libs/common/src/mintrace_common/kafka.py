"""Broker connection settings: the faststream broker (declarations, AsyncAPI) and the security
every aiokafka client of a process uses. The stage is `delivery`, publishing is `publisher`."""

import logging
import ssl

from faststream.kafka import KafkaBroker
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from . import telemetry
from .delivery import GRACEFUL_TIMEOUT_S, Emit, batch_stage  # noqa: F401 - re-exported
from .settings import Settings



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
