"""Routing's flows on in-memory tables: a report is recorded and counted once, republished
(marked redelivery) only while unconfirmed; the sweep re-sends what a crash left unpublished;
the rollup is published in pages. The same flows run on PostgreSQL in
tests/integration/test_routing_outbox.py."""

import copy
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from mintrace_common import examples
from mintrace_common.models import LicensedReport, RollupRow
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

    async def mark_published(self, keys):
        for k in keys:
            self.uow.t["routed"][k]["published"] = True

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


class FakeRouting:
    def __init__(self, facilities: dict[str, str] | None = None) -> None:
        self.t = {"facilities": facilities or {"JX1-SEP-01": "360000"}, "routed": {},
                  "rollup": {}, "rows": []}
        self.facilities, self.routed, self.rollup = (FakeFacilities(self), FakeRouted(self),
                                                     FakeRollup(self))

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
