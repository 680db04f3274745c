"""The licence ledger (license-matching's service over its PostgreSQL unit of work) on a real
database: draws, redelivery,
races between processes, cancellations, licence events, registry loads and the audit view."""

import asyncio
import secrets
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
import pytest

from mintrace import demo, devstack
from mintrace_common import db, registry
from mintrace_common.models import Licence, LicenceEvent, ReportCancelled, ValidatedReport
from mintrace_license_matching import service
from mintrace_license_matching.store import LedgerUnitOfWork

JX1 = demo.producer_ids()["JX1"]
NOW = datetime(2026, 11, 20, tzinfo=UTC)


@pytest.fixture(scope="module")
async def pool(pg_server_url):
    url = await devstack.scratch_database(pg_server_url, "mintrace_ledger")
    p = await db.create_pool(url, 1, 12)
    yield p
    await p.close()
    await devstack.drop_database(url)


def licence_doc(number: str, max_kg: str = "1000", **changes) -> Licence:
    return Licence.model_validate({
        "licence_number": number, "exporter_id": JX1, "materials": ["Dy"],
        "max_quantity_kg": max_kg, "destination_country": "DE",
        "consignee": {"name": "Hanse Magnetics GmbH", "country": "DE"},
        "end_user": {"name": "Hanse Magnetics GmbH", "country": "DE"},
        "valid_from": "2026-01-01", "valid_to": "2026-12-31", "status": "active", **changes})


async def new_licence(pool, max_kg: str = "1000") -> str:
    number = f"EL-T-{secrets.token_hex(4)}"
    async with pool.acquire() as conn:
        await registry.upsert_licence(conn, licence_doc(number, max_kg), "test")
    return number


def export(number: str | None, kg: str, report_id: str | None = None) -> ValidatedReport:
    rid = report_id or f"R-{secrets.token_hex(6)}"
    report = {
        "report_id": rid, "schema_version": 1, "producer_id": JX1, "facility_id": "JX1-SEP-01",
        "type": "export", "stage": "trading", "occurred_at": "2026-11-20T08:30:00+08:00",
        "lot_id": "LOT-1", "material": "Dy", "form": "oxide", "hs_code": "2846.90",
        "quantity": {"value": kg, "unit": "kg"}, "value": {"amount": "1", "currency": "USD"},
        "counterparty": {"name": "Hanse Magnetics GmbH", "country": "DE"},
        "export": {"licence_number": number, "destination_country": "DE",
                   "consignee": {"name": "HANSE MAGNETICS", "country": "DE"},
                   "end_user": {"name": "Hanse Magnetics G.m.b.H.", "country": "DE"}}}
    return ValidatedReport(producer_id=JX1, report_id=rid, received_at=NOW, content_hash="0",
                           report=report, quantity_kg=Decimal(kg), validated_at=NOW)


async def apply(pool, batch: list[ValidatedReport], now: datetime) -> list[tuple]:
    """(report, licence decision, decided_at) per report of the batch."""
    emits = await service.decide_exports(batch, LedgerUnitOfWork(pool), now)
    return [(e.value, e.value.licence, e.value.licence.decided_at) for e in emits]


async def cancel_all(pool, cancels: list[ReportCancelled]) -> list[service.Restored]:
    return await service.cancel_reports(cancels, LedgerUnitOfWork(pool))


async def apply_events(pool, events: list[LicenceEvent]) -> dict[str, str]:
    return await service.apply_licence_events(events, LedgerUnitOfWork(pool))


async def balance(pool, number: str) -> asyncpg.Record:
    async with pool.acquire() as conn:
        return await conn.fetchrow("SELECT * FROM licence_balances WHERE licence_number = $1",
                                   number)


async def test_matched_exports_draw_the_balance_and_refusals_do_not(pool):
    number = await new_licence(pool, "1000")
    batch = [export(number, "400"), export(number, "400"), export(number, "400"),
             export(number, "200")]
    decided = await apply(pool, batch, NOW)
    assert [o.status for _, o, _ in decided] == ["matched", "matched", "refused", "matched"]
    assert decided[2][1].reasons == ["QUANTITY_EXCEEDED"]
    assert [o.remaining_kg for _, o, _ in decided] == [600, 200, 200, 0]
    b = await balance(pool, number)
    assert (b["remaining_kg"], b["drawn_kg"], b["matched_kg"], b["agrees"]) == (0, 1000, 1000, True)


async def test_redelivered_report_gets_its_original_decision_and_draws_nothing(pool):
    number = await new_licence(pool, "1000")
    first = await apply(pool, [export(number, "300", "RE-1")], NOW)
    later = NOW + timedelta(hours=1)
    again = await apply(pool, [export(number, "300", "RE-1"), export(number, "100")], later)
    assert again[0][1] == first[0][1] and again[0][2] == first[0][2] == NOW
    assert again[1][1].remaining_kg == 600
    assert (await balance(pool, number))["remaining_kg"] == 600


async def test_a_report_twice_in_one_batch_is_decided_once(pool):
    number = await new_licence(pool, "1000")
    decided = await apply(pool, [export(number, "300", "TWICE"),
                                       export(number, "300", "TWICE")], NOW)
    assert decided[0][1] == decided[1][1]
    assert (await balance(pool, number))["drawn_kg"] == 300


async def test_racing_batches_never_oversell_and_decide_each_report_once(pool):
    numbers = [await new_licence(pool, "5000") for _ in range(3)]
    reports = [export(numbers[i % 3], str(10 + (i * 37) % 190)) for i in range(600)]
    # overlapping batches, as after a rebalance: every report is offered to two deciders at once
    batches = [reports[i:i + 50] for i in range(0, 600, 50)]
    batches += [reports[i:i + 50] for i in range(25, 600, 50)]
    results = await asyncio.gather(*[apply(pool, b, NOW) for b in batches])
    seen: dict[str, object] = {}
    for result in results:
        for report, outcome, _ in result:
            assert seen.setdefault(report.report_id, outcome) == outcome
    assert len(seen) == 600
    for n in numbers:
        b = await balance(pool, n)
        assert b["agrees"] and b["remaining_kg"] >= 0 and b["drawn_kg"] <= 5000
        assert b["remaining_kg"] < 200  # demand exceeded supply: the licence was drawn out


async def test_cancellation_restores_exactly_what_was_drawn_once(pool):
    number = await new_licence(pool, "1000")
    await apply(pool, [export(number, "700", "C-1"), export(number, "400", "C-2")], NOW)
    cancel = ReportCancelled(producer_id=JX1, report_id="C-1", cancelled_at=NOW)
    restored = await cancel_all(pool, [cancel, cancel])
    assert [(r.report_id, r.restored_kg) for r in restored] == [("C-1", 700)]
    assert await cancel_all(pool, [cancel]) == []
    b = await balance(pool, number)
    assert (b["remaining_kg"], b["matched_kg"], b["cancelled_count"], b["agrees"]) == \
        (1000, 0, 1, True)
    again = await apply(pool, [export(number, "700", "C-1")], NOW)
    assert again[0][1].status == "matched" and again[0][1].cancelled_at == NOW
    assert (await balance(pool, number))["remaining_kg"] == 1000


async def test_cancelling_a_refused_report_restores_nothing(pool):
    number = await new_licence(pool, "100")
    await apply(pool, [export(number, "700", "CR-1")], NOW)
    restored = await cancel_all(pool, [ReportCancelled(producer_id=JX1, report_id="CR-1",
                                                         cancelled_at=NOW)])
    assert [r.restored_kg for r in restored] == [0]
    assert (await balance(pool, number))["remaining_kg"] == 100


async def test_report_cancelled_before_its_decision_is_decided_as_submitted_and_draws_nothing(
        pool):
    number = await new_licence(pool, "1000")
    for rid in ("EARLY", "EARLY-BIG"):
        await cancel_all(pool, [ReportCancelled(producer_id=JX1, report_id=rid,
                                                  cancelled_at=NOW)])
    decided = await apply(pool, [export(number, "300", "EARLY"),
                                 export(number, "5000", "EARLY-BIG")], NOW)
    (_, early, _), (_, big, _) = decided
    assert (early.status, early.reasons, early.cancelled_at) == ("matched", [], NOW)
    assert (big.status, big.reasons, big.cancelled_at) == ("refused", ["QUANTITY_EXCEEDED"], NOW)
    b = await balance(pool, number)
    assert (b["remaining_kg"], b["drawn_kg"], b["cancelled_count"], b["agrees"]) == \
        (1000, 0, 1, True)
    again = await apply(pool, [export(number, "300", "EARLY")], NOW + timedelta(hours=1))
    assert again[0][1] == early
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT restored_kg FROM licence_decisions WHERE "
                                  "report_id = 'EARLY'")
    assert row["restored_kg"] == 300


async def test_quota_restored_by_a_cancellation_is_named_by_the_export_that_needs_it(pool):
    number = await new_licence(pool, "200")
    await apply(pool, [export(number, "100", "RQ-X")], NOW)
    await cancel_all(pool, [ReportCancelled(producer_id=JX1, report_id="RQ-X",
                                              cancelled_at=NOW)])
    (_, y, _), (_, z, _) = await apply(pool, [export(number, "100", "RQ-Y"),
                                              export(number, "100", "RQ-Z")], NOW)
    assert (y.status, y.restored_quota_used) == ("matched", [])
    assert z.status == "matched"
    assert [(u.report_id, u.quantity_kg) for u in z.restored_quota_used] == [("RQ-X", 100)]
    [(_, redelivered, _)] = await apply(pool, [export(number, "100", "RQ-Z")], NOW)
    assert redelivered == z
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT restored_kg, unused_kg FROM licence_restorations "
                                  "WHERE report_id = 'RQ-X'")
    assert (row["restored_kg"], row["unused_kg"]) == (100, 0)
    b = await balance(pool, number)
    assert (b["remaining_kg"], b["agrees"]) == (0, True)


async def test_cancellations_racing_decisions_restore_each_draw_exactly_once(pool):
    number = await new_licence(pool, "100000")
    reports = [export(number, "10") for _ in range(300)]
    cancels = [ReportCancelled(producer_id=JX1, report_id=r.report_id, cancelled_at=NOW)
               for r in reports[::3]]
    await asyncio.gather(*[apply(pool, reports[i:i + 30], NOW) for i in range(0, 300, 30)],
                         *[cancel_all(pool, cancels[i:i + 10]) for i in range(0, 100, 10)],
                         *[cancel_all(pool, cancels[i:i + 25]) for i in range(0, 100, 25)])
    b = await balance(pool, number)
    assert b["agrees"] and b["drawn_kg"] == 2000 and b["remaining_kg"] == 98000


async def event(number: str, type_: str, at: datetime, **fields) -> LicenceEvent:
    return LicenceEvent(event_id=f"ev-{secrets.token_hex(5)}", type=type_, licence_number=number,
                        occurred_at=at, **fields)


async def test_licence_events_apply_in_order_once_each(pool):
    number = f"EL-EV-{secrets.token_hex(3)}"
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    issued = await event(number, "issued", t0, licence=licence_doc(number, "1000"))
    suspended = await event(number, "suspended", t0 + timedelta(days=1))
    out = await apply_events(pool, [issued, suspended, issued])
    assert out == {issued.event_id: "applied", suspended.event_id: "applied"}
    [(_, refused, _)] = await apply(pool, [export(number, "10")], NOW)
    assert refused.reasons == ["SUSPENDED"]
    assert await apply_events(pool, [suspended]) == {}  # seen before: nothing happens
    reinstated = await event(number, "reinstated", t0 + timedelta(days=2))
    late = await event(number, "revoked", t0 + timedelta(hours=1))  # older than the last applied
    out = await apply_events(pool, [reinstated, late])
    assert out == {reinstated.event_id: "applied", late.event_id: "stale"}
    [(_, matched, _)] = await apply(pool, [export(number, "10")], NOW)
    assert matched.status == "matched"
    revoked = await event(number, "revoked", t0 + timedelta(days=3))
    back = await event(number, "reinstated", t0 + timedelta(days=4))
    out = await apply_events(pool, [revoked, back])
    assert out[back.event_id] == "ignored: revoked is final"
    async with pool.acquire() as conn:
        changes = [r["change"] for r in await conn.fetch(
            "SELECT change FROM licence_history WHERE licence_number = $1 ORDER BY id", number)]
    assert changes == ["issued", "suspended", "reinstated", "revoked"]


async def test_quantity_lowered_below_what_is_drawn_leaves_zero_never_negative(pool):
    number = await new_licence(pool, "1000")
    await apply(pool, [export(number, "600", "Q-1"), export(number, "300", "Q-2")], NOW)
    t = datetime(2026, 6, 1, tzinfo=UTC)
    await apply_events(pool, [await event(number, "quantity_changed", t,
                                                max_quantity_kg=Decimal("500"))])
    b = await balance(pool, number)
    assert (b["remaining_kg"], b["drawn_kg"], b["overdrawn_kg"], b["agrees"]) == (0, 900, 400, True)
    [(_, refused, _)] = await apply(pool, [export(number, "1")], NOW)
    assert refused.reasons == ["QUANTITY_EXCEEDED"]
    await cancel_all(pool, [ReportCancelled(producer_id=JX1, report_id="Q-1", cancelled_at=NOW)])
    b = await balance(pool, number)
    assert (b["remaining_kg"], b["drawn_kg"], b["agrees"]) == (200, 300, True)


async def test_registry_load_is_idempotent_and_keeps_what_is_drawn(pool):
    number = await new_licence(pool, "1000")
    await apply(pool, [export(number, "400")], NOW)
    from mintrace_common.models import RegistryDocument
    doc = RegistryDocument(licences=[licence_doc(number, "1500")])
    async with pool.acquire() as conn:
        assert (await registry.load(conn, doc))["licences_changed"] == 1
        assert (await registry.load(conn, doc))["licences_changed"] == 0
        history = await conn.fetchval("SELECT count(*) FROM licence_history "
                                      "WHERE licence_number = $1", number)
    b = await balance(pool, number)
    assert (b["max_quantity_kg"], b["remaining_kg"], b["agrees"]) == (1500, 1100, True)
    assert history == 2  # created, then raised; the identical reload wrote nothing
    async with pool.acquire() as conn:
        await registry.load(conn, RegistryDocument(licences=[licence_doc(number, "100")]))
    assert (await balance(pool, number))["remaining_kg"] == 0


async def test_audit_flags_a_balance_that_disagrees_with_the_decisions(pool):
    number = await new_licence(pool, "1000")
    await apply(pool, [export(number, "100")], NOW)
    assert (await balance(pool, number))["agrees"]
    async with pool.acquire() as conn:
        await conn.execute("UPDATE licences SET remaining_kg = 950 WHERE licence_number = $1",
                           number)
    assert not (await balance(pool, number))["agrees"]
