"""Working an alert's case: what the API and the console both call. An action is recorded in one
transaction (case, audit trail, cases.events outbox) and then published; an event the broker did
not acknowledge stays in the outbox and `drain` publishes it later."""

from collections.abc import Awaitable, Callable

import asyncpg

from mintrace_common import telemetry
from mintrace_common.models import Alert, CaseEvent

from . import cases, store

log = telemetry.get_logger(__name__)
Publish = Callable[[list[CaseEvent]], Awaitable[None]]
OUTBOX_LEASE_S = 30.0


class AlertNotFound(LookupError):
    """No such alert in this province (another province's alert is not found either)."""


def case_view(row, history: list) -> dict:
    c = cases.Case(**dict(row)) if row else cases.Case()
    return {"status": c.status, "assignee": c.assignee, "outcome": c.outcome,
            "history": [{"at": h["at"].isoformat(), "by": h["by"], "action": h["action"],
                         "assignee": h["assignee"], "note": h["note"], "outcome": h["outcome"]}
                        for h in history]}


async def detail(pool: asyncpg.Pool, province_code: str | None, alert_id: str,
                 evidence: bool = False) -> dict:
    """{"alert", "case"}; a SPLIT_SHIPMENTS case also lists its episode's `shipments`.
    `evidence` adds the supervision records the alert cites (and the episode's). Raises
    AlertNotFound."""
    async with pool.acquire() as conn:
        row = await store.alert(conn, province_code, alert_id)
        if row is None:
            raise AlertNotFound(alert_id)
        alert = Alert(**dict(row))
        out = {"alert": alert.model_dump(mode="json"),
               "case": case_view(await store.case(conn, alert_id),
                                 await store.history(conn, alert_id))}
        ids = list(alert.report_ids)
        if alert.type == "SPLIT_SHIPMENTS":
            shipments = await store.episode_shipments(conn, alert_id)
            out["case"]["shipments"] = [
                {"report_id": s["report_id"], "occurred_at": s["occurred_at"].isoformat(),
                 "quantity_kg": str(s["quantity_kg"])} for s in shipments]
            ids += [s["report_id"] for s in shipments if s["report_id"] not in ids]
        if evidence:
            out["evidence"] = await store.records(conn, alert.producer_id, ids)
        return out


async def act(pool: asyncpg.Pool, publish: Publish, by: str, province_code: str | None,
              alert_id: str, action: cases.Action) -> dict:
    """Apply `action` by the person `by` and publish it on cases.events; returns the case.
    Raises AlertNotFound, cases.InvalidTransition (nothing recorded)."""
    async with pool.acquire() as conn, conn.transaction():
        alert = await store.alert(conn, province_code, alert_id)
        if alert is None:
            raise AlertNotFound(alert_id)
        row = await store.case(conn, alert_id, lock=True)
        after = cases.apply(cases.Case(**dict(row)), action)
        await store.save_case(conn, alert_id, after.status, after.assignee, after.outcome)
        entry = await store.append_history(conn, alert_id, by, action.action, action.assignee,
                                           action.note, action.outcome, after.status)
        history = await store.history(conn, alert_id)
    log.info("case.acted", alert_id=alert_id, action=action.action, status=after.status)
    event = event_of(entry, alert_id, alert["province_code"])
    try:
        await publish([event])
        await store.mark_case_events_sent(pool, [entry["id"]])
    except Exception as exc:  # noqa: BLE001 - recorded; the outbox drain publishes it later
        log.warning("case.event_unpublished", alert_id=alert_id, error=repr(exc)[:300])
    return case_view(after.__dict__, history)


def event_of(entry, alert_id: str, province_code: str) -> CaseEvent:
    return CaseEvent(event_id=f"{alert_id}#{entry['id']}", alert_id=alert_id,
                     province_code=province_code, at=entry["at"], by=entry["by"],
                     action=entry["action"], assignee=entry["assignee"], note=entry["note"],
                     outcome=entry["outcome"], status=entry["status"])


async def drain(pool: asyncpg.Pool, publish: Publish, lease_s: float = OUTBOX_LEASE_S) -> int:
    """Publish the case events a crash or a broker outage left in the outbox; returns how many."""
    rows = await store.claim_case_events(pool, lease_s)
    if not rows:
        return 0
    await publish([event_of(r, r["alert_id"], r["province_code"]) for r in rows])
    await store.mark_case_events_sent(pool, [r["id"] for r in rows])
    return len(rows)
