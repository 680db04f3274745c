"""Where the CLI and the tools find the system, and the one way they reach it.

Coordinates: an explicit environment variable wins (`DATABASE_URL`, `KAFKA_BOOTSTRAP_SERVERS`,
`MINTRACE_INTAKE_URL`, `MINTRACE_SUPERVISION_URL`); else those of a running `mintrace dev`
(the state file `.dev/state.json` it writes in the directory it runs from, found from the current
directory upwards); else the defaults of `Settings`. Kafka clients get SASL/SCRAM and TLS from
the same settings as the services (`KAFKA_SASL_*`, `KAFKA_SSL*`)."""

import json
import os
import re
from pathlib import Path
from typing import Any

from mintrace_common.settings import Settings

STATE_FILE = Path(".dev") / "state.json"
CONNECT_TIMEOUT_S = 5.0
# How long the CLI keeps trying to connect (backoff with jitter) before it reports the database
# or broker unreachable: long enough for a restart, short enough for an operator.
RETRY_S = float(os.environ.get("MINTRACE_CONNECT_RETRY_S", "8"))
ENV = {"database_url": "DATABASE_URL", "kafka_bootstrap_servers": "KAFKA_BOOTSTRAP_SERVERS",
       "intake_url": "MINTRACE_INTAKE_URL", "supervision_url": "MINTRACE_SUPERVISION_URL"}
DEFAULT_URLS = {"intake_url": "http://127.0.0.1:8080", "supervision_url": "http://127.0.0.1:8081"}


def pid_alive(pid: int) -> bool:
    """Whether `pid` runs. A zombie does not: a process SIGKILLed whose parent died too waits for
    a reaper that a container's PID 1 may never be, and it still answers `kill(pid, 0)`."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def find_state(start: Path | None = None) -> Path | None:
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / STATE_FILE).is_file():
            return d / STATE_FILE
    return None


def dev_state(start: Path | None = None) -> dict[str, Any]:
    """The running dev stack's coordinates, or {} (no state file, or its `mintrace dev` is
    gone: a state left by a killed stack is ignored)."""
    path = find_state(start)
    if path is None:
        return {}
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return state if pid_alive(int(state.get("pid", 0))) else {}


def coordinates() -> dict[str, str]:
    """database_url, kafka_bootstrap_servers, intake_url, supervision_url: environment, else the
    dev stack's state, else defaults."""
    state = dev_state()
    base = Settings(service_name="mintrace-cli")
    out = {}
    for field, var in ENV.items():
        default = DEFAULT_URLS.get(field) or getattr(base, field)
        out[field] = os.environ.get(var) or state.get(field) or default
    return out


def settings() -> Settings:
    """The services' settings as the CLI should use them (coordinates resolved as above)."""
    c = coordinates()
    return Settings(service_name="mintrace-cli", database_url=c["database_url"],
                    kafka_bootstrap_servers=c["kafka_bootstrap_servers"])


_SECRET_IN_URL = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@\s]*)@",
                            re.I)
_SECRET_PARAM = re.compile(r"(?P<k>password|passwd|pwd|sasl_plain_password)=(?P<v>[^&\s'\"]+)",
                           re.I)


def mask(text: str, *secrets: str | None) -> str:
    """`text` with passwords replaced by ***: in URLs (user:pw@), in password= parameters, and
    every literal secret given (e.g. the SASL password)."""
    text = _SECRET_IN_URL.sub(lambda m: f"{m['scheme']}{m['user']}:***@", str(text))
    text = _SECRET_PARAM.sub(lambda m: f"{m['k']}=***", text)
    for s in secrets:
        if s:
            text = text.replace(s, "***")
    return text


def kafka_options(s: Settings, timeout: float = CONNECT_TIMEOUT_S) -> dict[str, Any]:
    """aiokafka client keyword arguments for `s` (the services' own: SASL/SCRAM, TLS)."""
    from mintrace_common.kafka_clients import kafka_options as options

    return options(s, timeout_s=max(timeout, 1) * 6)


def producer(s: Settings | None = None, **extra):
    from aiokafka import AIOKafkaProducer

    # acks=all; no idempotent producer: the dev broker (Tansu) refuses InitProducerId, and every
    # consumer is idempotent anyway.
    return AIOKafkaProducer(**{**kafka_options(s or settings()), "acks": "all", **extra})


def consumer(*topics: str, s: Settings | None = None, **extra):
    from aiokafka import AIOKafkaConsumer

    return AIOKafkaConsumer(*topics, **{**kafka_options(s or settings()),
                                        "enable_auto_commit": False, **extra})


def admin(s: Settings | None = None):
    from aiokafka.admin import AIOKafkaAdminClient

    opts = kafka_options(s or settings())
    opts.pop("client_id")
    return AIOKafkaAdminClient(**opts)


def for_bootstrap(bootstrap: str) -> Settings:
    """Settings of the CLI with another bootstrap (tests, the dev stack's own broker)."""
    return settings().model_copy(update={"kafka_bootstrap_servers": bootstrap})
