"""Validation, top-down: one transaction of the unit of work (store.py in production, a fake in
the unit tests) around the pure rules of rules.py.

A report is judged once: its verdict is stored in the transaction that makes it, and a report
delivered again gets the stored verdict back, whatever the registry says by then. Two processes
racing for one report (after a rebalance) both emit the verdict that was stored first."""

from datetime import datetime, timedelta
from typing import Protocol

from mintrace_common import topics
from mintrace_common.kafka import Emit
from mintrace_common.metrics import METRICS
from mintrace_common.models import ReceivedReport, RejectedReport, ValidatedReport

from . import rules
from .rules import Key, Verdict, key_of


class ValidationUnitOfWork(Protocol):
    registry: object   # view(producer_ids, facility_ids) -> rules.RegistryView
    verdicts: object   # existing(keys) -> {key: Verdict}; add({key: Verdict}) -> keys added

    async def __aenter__(self) -> "ValidationUnitOfWork": ...
    async def __aexit__(self, *exc) -> None: ...


async def judge(batch: list[ReceivedReport], uow: ValidationUnitOfWork, now: datetime,
                late_after: timedelta = rules.LATE_AFTER) -> list[Emit]:
    """The verdict on every report of the batch, each judged once ever."""
    keys = list({key_of(r): None for r in batch})
    async with uow:
        verdicts: dict[Key, Verdict] = await uow.verdicts.existing(keys)
        fresh = {key_of(r): r for r in batch if key_of(r) not in verdicts}
        registry = await uow.registry.view({r.producer_id for r in fresh.values()},
                                           {r.report.facility_id for r in fresh.values()})
        new = {k: rules.judge(r.report, registry, now, late_after) for k, r in fresh.items()}
        added = await uow.verdicts.add(new)
        lost = [k for k in new if k not in added]     # another process stored one first
        verdicts |= {k: new[k] for k in added} | await uow.verdicts.existing(lost)
    METRICS.inc("rejected_total", len([k for k in added if new[k].problems]),
                stage="validation")
    return [emit(r, verdicts[key_of(r)]) for r in batch]


def emit(received: ReceivedReport, verdict: Verdict) -> Emit:
    if verdict.problems:
        return Emit(topics.REJECTED.name, received.report_id, RejectedReport(
            producer_id=received.producer_id, report_id=received.report_id,
            received_at=received.received_at, rejected_at=verdict.at,
            problems=verdict.problems))
    return Emit(topics.VALIDATED.name, received.report_id, ValidatedReport.extending(
        received, quantity_kg=received.report.quantity.kg, warnings=verdict.warnings,
        validated_at=verdict.at))
