"""Validation rules of Report v1 beyond its structure: pure functions of a report, what the
registry says about its producer and facility, and the time."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from mintrace_common.models import Problem, ReceivedReport

FUTURE_SKEW = timedelta(minutes=10)


@dataclass(frozen=True)
class RegistryView:
    """What the registry holds for the producers and facilities of one batch."""

    producers: frozenset[str]
    facilities: dict[str, tuple[str, tuple[str, ...]]]  # facility_id -> (producer_id, stages)


def check(received: ReceivedReport, registry: RegistryView, now: datetime) -> list[Problem]:
    """Every problem of one report, in a stable order; empty when it is valid."""
    r = received.report
    problems: list[Problem] = []

    def add(code: str, path: str, message: str) -> None:
        problems.append(Problem(code=code, path=path, message=message))

    if r.producer_id not in registry.producers:
        add("PRODUCER_UNKNOWN", "producer_id", f"producer {r.producer_id} is not registered")
    facility = registry.facilities.get(r.facility_id)
    if facility is None or facility[0] != r.producer_id:
        add("FACILITY_UNKNOWN", "facility_id",
            f"facility {r.facility_id} is not registered to producer {r.producer_id}")
    elif r.stage not in facility[1]:
        add("STAGE_NOT_ALLOWED", "stage",
            f"stage {r.stage} is not registered at facility {r.facility_id}")
    if r.occurred_at > now + FUTURE_SKEW:
        add("OCCURRED_IN_FUTURE", "occurred_at", "occurred_at is in the future")
    if r.type == "export" and r.export is None:
        add("EXPORT_BLOCK_REQUIRED", "export", "an export report needs the export block")
    if r.type in ("domestic_sale", "export") and r.value is None:
        add("VALUE_REQUIRED", "value", f"a {r.type} report needs its declared value")
    if r.type in ("domestic_sale", "domestic_purchase", "export", "import") and r.counterparty is None:
        add("COUNTERPARTY_REQUIRED", "counterparty", f"a {r.type} report needs its counterparty")
    if r.type == "processing_output" and not r.inputs:
        add("INPUTS_REQUIRED", "inputs", "a processing output needs its input lots")
    if r.type == "domestic_purchase" and not r.counterparty_report_id:
        add("COUNTERPARTY_REPORT_REQUIRED", "counterparty_report_id",
            "a domestic purchase needs the seller's report_id")
    return problems
