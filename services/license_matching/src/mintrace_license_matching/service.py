"""Licence matching, top-down: each flow is one transaction of the unit of work (store.py in
production, a fake in the unit tests) around the pure rules of matching.py.

Any number of processes may run these flows at once: licences are locked in number order before
decision rows, a report is decided once (`licence_decisions` is keyed by it), and a flow that
loses a race to another process runs again and reads the winner's rows."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol, TypeVar

from mintrace_common import telemetry, topics
from mintrace_common.kafka import Emit
from mintrace_common.models import (LicenceDecision, LicenceEvent, LicensedReport, ReportCancelled,
                                    RestoredQuotaUse, ValidatedReport)

from . import matching
from .matching import Key, key_of

log = telemetry.get_logger(__name__)
ATTEMPTS = 5
T = TypeVar("T")


class LedgerUnitOfWork(Protocol):
    Conflict: type[Exception]     # raised on leaving the block when another process won a race
    Contention: type[Exception]   # what to raise after ATTEMPTS lost races (batch redelivered)
    licences: object
    restorations: object
    decisions: object
    events: object

    async def __aenter__(self) -> "LedgerUnitOfWork": ...
    async def __aexit__(self, *exc) -> None: ...


async def _retrying(what: str, uow: LedgerUnitOfWork, flow: Callable[[], Awaitable[T]]) -> T:
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return await flow()
        except uow.Conflict as exc:
            log.info("licence.retry", what=what, attempt=attempt, error=str(exc))
    raise uow.Contention(f"{what}: lost {ATTEMPTS} races in a row")


async def decide_exports(reports: list[ValidatedReport], uow: LedgerUnitOfWork,
                         now: datetime) -> list[Emit]:
    """Decide every report of the batch exactly once and draw the licences. A report decided
    before (a redelivery, or another process racing for it after a rebalance) gets its
    original decision back and draws nothing. A report cancelled before it arrived is decided
    as submitted (a refusal still raises its alert downstream) and gives back what it drew."""
    async def flow() -> matching.Decisions:
        async with uow:
            licences = await uow.licences.lock(matching.licence_numbers(reports))
            await uow.restorations.attach(licences)
            known = await uow.decisions.existing(list({key_of(r): None for r in reports}))
            decisions = matching.decide_all(reports, licences, known, now)
            await uow.decisions.add([(key_of(r), o) for r, o in decisions.new], now)
            if await uow.decisions.decide_awaiting(
                    [(key_of(r), o) for r, o in decisions.late], now) != len(decisions.late):
                raise uow.Conflict("another process decided a cancelled report first")
            await uow.licences.draw(decisions.drawn)
            await uow.restorations.add(decisions.restored)
            await uow.restorations.use(decisions.used)
        for number, kg in decisions.drawn.items():
            log.info("licence.drawn", licence=number, drawn_kg=str(kg),
                     remaining_kg=str(licences[number].remaining_kg))
        return decisions

    decisions = await _retrying("decide", uow, flow)
    return [licensed(r, *decisions.by_key[key_of(r)]) for r in reports]


def licensed(report: ValidatedReport, o: matching.Outcome, decided_at: datetime) -> Emit:
    return Emit(topics.LICENSED.name, report.report_id, LicensedReport.extending(
        report, licence=LicenceDecision(
            status=o.status, licence_number=o.licence_number, reasons=list(o.reasons),
            quantity_kg=o.quantity_kg, remaining_kg=o.remaining_kg, decided_at=decided_at,
            cancelled_at=o.cancelled_at, restored_quota_used=[
                RestoredQuotaUse(report_id=key[1], quantity_kg=kg)
                for key, kg in o.restored_used])))


@dataclass(frozen=True)
class Restored:
    producer_id: str
    report_id: str
    licence_number: str | None
    restored_kg: Decimal


async def cancel_reports(cancels: list[ReportCancelled], uow: LedgerUnitOfWork) -> list[Restored]:
    """Mark each report's decision cancelled and give back exactly what it drew, once: a
    cancellation seen again restores nothing. What is given back is recorded as restored
    quota (a later export that depends on it is reviewable). A report not decided yet gets an
    awaiting CANCELLED placeholder now: when it arrives it is decided and gives back its draw."""
    first: dict[Key, datetime] = {(c.producer_id, c.report_id): c.cancelled_at
                                  for c in reversed(cancels)}
    keys = sorted(first)

    async def flow() -> list[Restored]:
        async with uow:
            numbers = await uow.decisions.matched_licences(keys)
            await uow.licences.lock(sorted(numbers))       # licences before decisions
            await uow.decisions.add_cancelled(first)
            await uow.decisions.lock(keys)
            if not await uow.decisions.matched_licences(keys) <= numbers:
                # matched since we chose which licences to lock; locking one more now, while
                # holding decision rows, could deadlock with a decider: start over
                raise uow.Conflict("lock set changed")
            cancelled = await uow.decisions.cancel(first)
            back = matching.restored_per_licence((n, kg) for _, n, kg in cancelled)
            await uow.licences.restore(back)
            await uow.restorations.add([(n, key, kg, first[key]) for key, n, kg in cancelled
                                        if n is not None and kg > 0])
        for number, kg in back.items():
            log.info("licence.restored", licence=number, restored_kg=str(kg))
        return [Restored(*key, number, kg) for key, number, kg in cancelled]

    return await _retrying("cancel", uow, flow)


async def apply_licence_events(events: list[LicenceEvent], uow: LedgerUnitOfWork) -> dict[str, str]:
    """Apply licensing-authority events in the order given (the topic is keyed by licence, so
    that is their order per licence), each once: an event_id seen before is skipped, and an
    event older than the last one applied to its licence is recorded as stale, not applied.
    Returns event_id -> outcome for the events new to this call."""
    async with uow:
        await uow.licences.lock(sorted({e.licence_number for e in events}))
        seen = await uow.events.seen([e.event_id for e in events])
        outcomes: dict[str, tuple[LicenceEvent, str]] = {}
        for e in events:
            if e.event_id in seen or e.event_id in outcomes:
                continue
            outcome, change = matching.judge_event(e, *await uow.licences.standing(
                e.licence_number))
            if change is not None:
                await uow.licences.change(e, change)
            outcomes[e.event_id] = (e, outcome)
            log.info("licence.event", licence=e.licence_number, event_id=e.event_id,
                     type=e.type, outcome=outcome)
        await uow.events.record(list(outcomes.values()))
    return {i: o for i, (_, o) in outcomes.items()}
