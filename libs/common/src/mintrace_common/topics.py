"""The topic registry: every topic, its message model, the one service that writes it, who
reads it and in which consumer group. Topic creation, the Strimzi manifests, the KEDA scalers
and the subscribers all derive from this list."""

from dataclasses import dataclass, field

from pydantic import BaseModel

from . import models as m
from .provinces import NATIONAL, PROVINCES

DAY_MS = 24 * 3600 * 1000
SERVICES = frozenset({"intake", "validation", "license-matching", "provincial-routing",
                      "alerting", "supervision"})


@dataclass(frozen=True)
class Topic:
    name: str
    model: type[BaseModel]
    writer: str
    readers: tuple[str, ...]
    partitions: int = 6
    retention_ms: int = 7 * DAY_MS
    has_dlq: bool = field(default=False)

    @property
    def dlq(self) -> str:
        return f"{self.name}.dlq"

    @property
    def internal(self) -> bool:
        """Written by one of our services (which decoded and checked what it wrote), not by an
        outside system."""
        return self.writer in SERVICES

    def group(self, reader: str) -> str:
        """The consumer group `reader` (one of our services) reads this topic in. Raises
        KeyError for a service that does not read it."""
        return CONSUMER_GROUPS[(reader, self.name)]


RECEIVED = Topic("reports.received", m.ReceivedReport, "intake", ("validation",), 12, has_dlq=True)
VALIDATED = Topic("reports.validated", m.ValidatedReport, "validation",
                  ("license-matching", "intake-status"), 12, has_dlq=True)
REJECTED = Topic("reports.rejected", m.RejectedReport, "validation", ("intake-status",), 6, has_dlq=True)
LICENSED = Topic("reports.licensed", m.LicensedReport, "license-matching",
                 ("provincial-routing", "intake-status"), 12, has_dlq=True)
CANCELLED = Topic("reports.cancelled", m.ReportCancelled, "intake",
                  ("license-matching", "provincial-routing"), 6, has_dlq=True)
LICENCE_EVENTS = Topic("licence.events", m.LicenceEvent, "licensing-authority",
                       ("license-matching",), 3, retention_ms=-1,
                       has_dlq=True)
SUPERVISION_NATIONAL = Topic(f"supervision.{NATIONAL}", m.SupervisionRecord, "provincial-routing",
                             ("supervisors:national", "alerting", "intake-status"), 12, has_dlq=True,
                             retention_ms=30 * DAY_MS)
ALERTS_NATIONAL = Topic(f"alerts.{NATIONAL}", m.Alert, "alerting",
                        ("supervisors:national", "intake-status"), 6, has_dlq=True,
                        retention_ms=90 * DAY_MS)
ROLLUP_NATIONAL = Topic("rollup.national", m.RollupSummary, "provincial-routing",
                        ("supervisors:national",), 1, retention_ms=90 * DAY_MS)
CASES_EVENTS = Topic("cases.events", m.CaseEvent, "supervision", ("supervisors:national",), 6,
                     retention_ms=-1)


def supervision_topic(slug: str) -> str:
    return f"supervision.{slug}"


def alerts_topic(slug: str) -> str:
    return f"alerts.{slug}"


PROVINCE_SUPERVISION = tuple(
    Topic(supervision_topic(p.slug), m.SupervisionRecord, "provincial-routing",
          (f"supervisors:{p.slug}",), 3, retention_ms=30 * DAY_MS)
    for p in PROVINCES
)
PROVINCE_ALERTS = tuple(
    Topic(alerts_topic(p.slug), m.Alert, "alerting", (f"supervisors:{p.slug}",), 1,
          retention_ms=90 * DAY_MS)
    for p in PROVINCES
)

TOPICS: tuple[Topic, ...] = (
    RECEIVED, VALIDATED, REJECTED, LICENSED, CANCELLED, LICENCE_EVENTS,
    SUPERVISION_NATIONAL, ALERTS_NATIONAL, ROLLUP_NATIONAL, CASES_EVENTS,
    *PROVINCE_SUPERVISION, *PROVINCE_ALERTS,
)
BY_NAME: dict[str, Topic] = {t.name: t for t in TOPICS}

# (service, topic) -> consumer group. One group per topic a service reads: members of a group
# that subscribe to different topics make every join or loss of any of them stall the others
# for a rebalance. Supervisors' own consumers use `supervisor-<slug>*` (their ACLs).
CONSUMER_GROUPS: dict[tuple[str, str], str] = {
    ("validation", RECEIVED.name): "validation",
    ("license-matching", VALIDATED.name): "license-matching",
    ("license-matching", CANCELLED.name): "license-matching-cancellations",
    ("license-matching", LICENCE_EVENTS.name): "license-matching-licence-events",
    ("provincial-routing", LICENSED.name): "provincial-routing",
    ("provincial-routing", CANCELLED.name): "provincial-routing-cancellations",
    ("alerting", SUPERVISION_NATIONAL.name): "alerting",
    # intake's status projection (its own process: the HTTP process only serves HTTP)
    **{("intake-status", t.name): f"intake-status.{t.name}" for t in TOPICS
       if "intake-status" in t.readers},
}
# The groups every report passes through on its way to supervision and its alerts: their fetch
# wait is the report's latency (KAFKA_FETCH_MAX_WAIT_MS); every other group polls at leisure.
REPORT_PATH_GROUPS = frozenset(CONSUMER_GROUPS[k] for k in (
    ("validation", RECEIVED.name), ("license-matching", VALIDATED.name),
    ("provincial-routing", LICENSED.name), ("alerting", SUPERVISION_NATIONAL.name)))


def groups_of(service: str) -> dict[str, str]:
    """topic -> consumer group, for every topic `service` reads."""
    return {topic: group for (reader, topic), group in CONSUMER_GROUPS.items()
            if reader == service}


def all_topic_names() -> list[tuple[str, int, int]]:
    """(name, partitions, retention_ms) of every topic and every DLQ companion."""
    out = [(t.name, t.partitions, t.retention_ms) for t in TOPICS]
    out += [(t.dlq, 1, 30 * DAY_MS) for t in TOPICS if t.has_dlq]
    return out
