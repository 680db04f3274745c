"""Routing's flows on in-memory tables: a report is recorded and counted once, republished
(marked redelivery) only while unconfirmed; the sweep re-sends what a crash left unpublished;
the rollup is published in pages. The same flows run on PostgreSQL in
tests/integration/test_routing_outbox.py."""

import copy
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from mintrace_common import examples
from mintrace_common.models import LicensedReport, ReportCancelled, RollupRow
from mintrace_provincial_routing import service
from mintrace_provincial_routing.routing import UnknownFacility

NOW = datetime(2026, 11, 21, 4, tzinfo=UTC)


class FakeFacilities:
    def __init__(self, uow):
        self.uow = uow

    async def provinces(self, ids):
        return {i: self.uow.t["facilities"][i] for i in ids if i in self.uow.t["facilities"]}

    async def rates(self):
        return self.uow.t.get("fx_rates", {})


class FakeRouted:
    def __init__(self, uow):
        self.uow = uow

    async def existing(self, keys):
        rows = self.uow.t["routed"]
        return {k: (rows[k]["published"], rows[k]["record"], rows[k]["record"].province_code)
                for k in keys if k in rows}

    async def add(self, records, bodies=None):
        for r in records:
            self.uow.t["routed"][(r.producer_id, r.report_id)] = {
                "record": r, "published": False, "claimed": False}
        return {(r.producer_id, r.report_id) for r in records}

    async def mark_published(self, versions):
        for p, r, cancelled_at in versions:
            row = self.uow.t["routed"][(p, r)]
            if row["record"].cancelled_at == cancelled_at:
                row["published"] = True

    async def lock_uncancelled(self, keys):
        rows = self.uow.t["routed"]
        return [rows[k]["record"] for k in keys if k in rows and not rows[k]["record"].cancelled_at]

    async def set_cancelled(self, records):
        for r in records:
            self.uow.t["routed"][(r.producer_id, r.report_id)].update(
                record=r, published=False, claimed=False)

    async def cancelled_unpublished(self, keys):
        rows = self.uow.t["routed"]
        return [rows[k]["record"] for k in keys if k in rows and rows[k]["record"].cancelled_at
                and not rows[k]["published"]]

    async def claim_unpublished(self, older_than, lease, limit):
        out = []
        for row in self.uow.t["routed"].values():
            if not row["published"] and not row["claimed"] and len(out) < limit:
                row["claimed"] = True
                out.append(row["record"])
        return out


class FakeRollup:
    def __init__(self, uow):
        self.uow = uow

    async def add(self, deltas):
        for key, d in deltas:
            row = self.uow.t["rollup"].setdefault(key, [Decimal(0), 0])
            row[0] += d.quantity_kg
            row[1] += d.report_count

    async def since(self, day):
        return [r for r in self.uow.t["rows"] if r.day >= day]


class FakeCancellations:
    def __init__(self, uow):
        self.uow = uow

    async def share(self):
        self.uow.locks.append("shared")

    async def exclusive(self):
        self.uow.locks.append("exclusive")

    async def add(self, first):
        for k, at in first.items():
            self.uow.t["cancellations"].setdefault(k, at)

    async def of(self, keys):
        return {k: self.uow.t["cancellations"][k] for k in keys if k in self.uow.t["cancellations"]}


class FakeRouting:
    def __init__(self, facilities: dict[str, str] | None = None) -> None:
        self.t = {"facilities": facilities or {"JX1-SEP-01": "360000"}, "routed": {},
                  "rollup": {}, "rows": [], "cancellations": {}}
        self.facilities, self.routed, self.rollup = (FakeFacilities(self), FakeRouted(self),
                                                     FakeRollup(self))
        self.cancellations, self.locks = FakeCancellations(self), []

    async def __aenter__(self):
        self._before = copy.deepcopy(self.t)
        return self

    async def __aexit__(self, kind, exc, tb):
        if exc is not None:
            self.t = self._before


def licensed(report_id: str, facility: str = "JX1-SEP-01") -> LicensedReport:
    body = examples.BY_MODEL["LicensedReport"]
    return LicensedReport.model_validate(
        {**body, "report_id": report_id,
         "report": {**body["report"], "report_id": report_id, "facility_id": facility}})


def sent(emits):
    return sorted((e.topic, e.key, e.value.redelivery) for e in emits)


async def test_a_report_goes_to_its_province_and_national_and_is_counted_once():
    uow = FakeRouting()
    emits = await service.route_reports([licensed("A"), licensed("A")], uow, NOW)
    assert sent(emits) == [("supervision.jiangxi", "A", False),
                           ("supervision.national", "A", False)]
    [(kg, count)] = uow.t["rollup"].values()
    assert (kg, count) == (Decimal("250.000"), 1)


async def test_an_unconfirmed_report_is_republished_marked_and_a_confirmed_one_never():
    uow = FakeRouting()
    first = await service.route_reports([licensed("A")], uow, NOW)
    again = await service.route_reports([licensed("A")], uow, NOW + timedelta(hours=1))
    assert sent(again) == [("supervision.jiangxi", "A", True),
                           ("supervision.national", "A", True)]
    assert {e.value.routed_at for e in again} == {NOW}
    await service.mark_published(first, uow)
    assert await service.route_reports([licensed("A")], uow, NOW) == []
    assert [c for _, c in uow.t["rollup"].values()] == [1]


async def test_a_batch_with_an_unknown_facility_records_nothing():
    uow = FakeRouting()
    with pytest.raises(UnknownFacility):
        await service.route_reports([licensed("A"), licensed("B", "NOPE")], uow, NOW)
    assert uow.t["routed"] == {} and uow.t["rollup"] == {}


async def test_the_sweep_resends_unpublished_records_once_marked_redelivery():
    uow = FakeRouting()
    await service.route_reports([licensed("A"), licensed("B")], uow, NOW)
    await service.mark_published([e for e in await service.route_reports(
        [licensed("B")], uow, NOW) if e.key == "B"], uow)
    swept = await service.unpublished(uow)
    assert sent(swept) == [("supervision.jiangxi", "A", True),
                           ("supervision.national", "A", True)]
    assert await service.unpublished(uow) == []


def cancel(report_id: str, at: datetime = NOW) -> ReportCancelled:
    return ReportCancelled(producer_id=licensed(report_id).producer_id, report_id=report_id,
                           cancelled_at=at)


async def test_a_cancelled_report_is_published_again_cancelled_and_leaves_the_rollup_once():
    uow = FakeRouting()
    routed = await service.route_reports([licensed("A"), licensed("B")], uow, NOW)
    await service.mark_published(routed, uow)
    later = NOW + timedelta(hours=2)
    emits = await service.cancel_reports([cancel("A", later), cancel("A", later)], uow)
    assert sent(emits) == [("supervision.jiangxi", "A", False),
                           ("supervision.national", "A", False)]
    record = emits[0].value
    assert record.cancelled_at == later
    assert record.model_copy(update={"cancelled_at": None}) == routed[0].value
    [(kg, count)] = uow.t["rollup"].values()
    assert (kg, count) == (Decimal("250.000"), 1)  # B only
    # redelivered before the cancelled record was acknowledged: sent again, marked; after: never
    again = await service.cancel_reports([cancel("A", later)], uow)
    assert sent(again) == [("supervision.jiangxi", "A", True),
                           ("supervision.national", "A", True)]
    await service.mark_published(emits, uow)
    assert await service.cancel_reports([cancel("A", later)], uow) == []
    assert [c for _, c in uow.t["rollup"].values()] == [1]
    assert uow.locks == ["shared", "exclusive", "exclusive", "exclusive"]


async def test_a_report_cancelled_before_it_is_routed_is_routed_cancelled_and_never_counted():
    uow = FakeRouting()
    assert await service.cancel_reports([cancel("A")], uow) == []
    emits = await service.route_reports([licensed("A")], uow, NOW + timedelta(minutes=1))
    assert sent(emits) == [("supervision.jiangxi", "A", False),
                           ("supervision.national", "A", False)]
    assert {e.value.cancelled_at for e in emits} == {NOW}
    assert all(count == 0 for _, count in uow.t["rollup"].values())


async def test_the_original_records_acknowledgement_does_not_confirm_its_cancellation():
    uow = FakeRouting()
    routed = await service.route_reports([licensed("A")], uow, NOW)
    await service.cancel_reports([cancel("A")], uow)
    await service.mark_published(routed, uow)  # the first version's ack arrives late
    swept = await service.unpublished(uow)
    assert {e.value.cancelled_at for e in swept} == {NOW}


def row(n: int) -> RollupRow:
    return RollupRow(day=date(2026, 11, 21), province_code="360000", material="Dy",
                     type="export", destination_country=f"C{n}", quantity_kg=Decimal(n),
                     value_usd=Decimal(0), report_count=1)


async def test_the_rollup_is_published_in_pages_of_bounded_rows():
    uow = FakeRouting()
    uow.t["rows"] = [row(n) for n in range(5)]
    pages = await service.rollup_summaries(uow, NOW, days=7, page_rows=2)
    assert [(p.page, p.pages, len(p.rows)) for p in pages] == [(1, 3, 2), (2, 3, 2), (3, 3, 1)]
    assert [r for p in pages for r in p.rows] == uow.t["rows"]
    assert {p.since for p in pages} == {date(2026, 11, 15)}
    assert all(len(p.model_dump_json()) < 2000 for p in pages)


async def test_an_empty_rollup_is_still_one_record():
    pages = await service.rollup_summaries(FakeRouting(), NOW, days=7, page_rows=2)
    assert [(p.page, p.pages, p.rows) for p in pages] == [(1, 1, [])]
