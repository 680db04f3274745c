"""Plain aiokafka clients (admin, offsets, the operator's tools) with the same credentials as the
services' FastStream broker: SASL/SCRAM and TLS from `Settings`."""

import ssl
from typing import Any

from .settings import Settings

MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")


def kafka_options(s: Settings, timeout_s: float = 30.0) -> dict[str, Any]:
    """aiokafka keyword arguments: bootstrap, client id, SASL and TLS, request timeout.
    Raises ValueError for an unknown SASL mechanism."""
    opts: dict[str, Any] = {"bootstrap_servers": s.kafka_bootstrap_servers,
                            "client_id": s.service_name,
                            "request_timeout_ms": int(timeout_s * 1000)}
    ctx = ssl.create_default_context(cafile=s.kafka_ssl_cafile) if s.kafka_ssl else None
    if s.kafka_sasl_username:
        mechanism = s.kafka_sasl_mechanism.upper()
        if mechanism not in MECHANISMS:
            raise ValueError(f"KAFKA_SASL_MECHANISM must be one of {', '.join(MECHANISMS)}, "
                             f"not {s.kafka_sasl_mechanism!r}")
        opts.update(security_protocol="SASL_SSL" if ctx else "SASL_PLAINTEXT",
                    sasl_mechanism=mechanism, sasl_plain_username=s.kafka_sasl_username,
                    sasl_plain_password=s.kafka_sasl_password or "")
    elif ctx:
        opts["security_protocol"] = "SSL"
    if ctx:
        opts["ssl_context"] = ctx
    return opts
