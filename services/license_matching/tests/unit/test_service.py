"""Licence matching's flows on an in-memory ledger: what is decided, drawn, restored and applied,
and that a flow which lost a race runs again. The same flows run on PostgreSQL in
tests/integration/test_ledger.py."""

import copy
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from mintrace_common import examples, topics
from mintrace_common.models import LicenceEvent, ReportCancelled, ValidatedReport
from mintrace_license_matching import service
from mintrace_license_matching.matching import Change, LicenceState, Outcome, Restoration

NOW = datetime(2026, 11, 20, tzinfo=UTC)
P = examples.REPORT["producer_id"]
NUMBER = examples.REPORT["export"]["licence_number"]
HANSE = ("Hanse Magnetics GmbH", "DE")


class Conflict(Exception):
    pass


class Contention(Exception):
    pass


@dataclass
class Tables:
    licences: dict[str, LicenceState]
    decisions: dict = field(default_factory=dict)
    events: dict[str, str] = field(default_factory=dict)
    last_event_at: dict[str, datetime] = field(default_factory=dict)
    restorations: dict = field(default_factory=dict)  # key -> [licence, unused_kg], oldest first


class FakeLicences:
    def __init__(self, uow: "FakeLedger") -> None:
        self.uow = uow

    async def lock(self, numbers):
        self.uow.locked.append(list(numbers))
        t = self.uow.t
        return {n: replace(t.licences[n], restored=[]) for n in numbers if n in t.licences}

    async def draw(self, kg):
        for n, q in kg.items():
            self.uow.t.licences[n].remaining_kg -= q

    async def restore(self, kg):
        for n, q in kg.items():
            self.uow.t.licences[n].remaining_kg += q

    async def standing(self, number):
        lic = self.uow.t.licences.get(number)
        return (lic.status, self.uow.t.last_event_at.get(number)) if lic else (None, None)

    async def change(self, e: LicenceEvent, change: Change):
        t = self.uow.t
        if change.upsert:
            x = e.licence
            t.licences[x.licence_number] = LicenceState(
                x.licence_number, x.exporter_id, tuple(x.materials), x.max_quantity_kg,
                x.destination_country, x.valid_from, x.valid_to, x.status)
        elif change.status:
            t.licences[e.licence_number].status = change.status
        t.last_event_at[e.licence_number] = max(
            filter(None, (t.last_event_at.get(e.licence_number), e.occurred_at)))


class FakeRestorations:
    def __init__(self, uow: "FakeLedger") -> None:
        self.uow = uow

    async def attach(self, licences):
        for key, (number, unused) in self.uow.t.restorations.items():
            if number in licences and unused > 0:
                licences[number].restored.append(Restoration(key, unused))

    async def add(self, restored):
        for number, key, kg, _ in restored:
            self.uow.t.restorations.setdefault(key, [number, kg])

    async def use(self, used):
        for key, kg in used:
            self.uow.t.restorations[key][1] -= kg


class FakeDecisions:
    def __init__(self, uow: "FakeLedger") -> None:
        self.uow = uow

    async def existing(self, keys):
        d = self.uow.t.decisions
        return {k: d[k] for k in keys if k in d}

    async def add(self, new, now):
        if self.uow.races:
            self.uow.races -= 1
            raise Conflict("another process decided one of these first")
        for key, outcome in new:
            assert key not in self.uow.t.decisions, "decided twice"
            self.uow.t.decisions[key] = (outcome, now)

    async def decide_awaiting(self, late, now):
        d = self.uow.t.decisions
        for key, outcome in late:
            assert d[key][0].awaiting, "decided twice"
            d[key] = (outcome, now)
        return len(late)

    async def matched_licences(self, keys):
        d = self.uow.t.decisions
        return {d[k][0].licence_number for k in keys if k in d
                and d[k][0].status == "matched" and d[k][0].cancelled_at is None}

    async def add_cancelled(self, first):
        for key, at in first.items():
            self.uow.t.decisions.setdefault(
                key, (Outcome("refused", None, ("CANCELLED",), None, None, at), at))

    async def lock(self, keys):
        pass

    async def cancel(self, first):
        out = []
        for key, at in sorted(first.items()):
            outcome, decided_at = self.uow.t.decisions[key]
            if outcome.cancelled_at is None:
                self.uow.t.decisions[key] = (replace(outcome, cancelled_at=at), decided_at)
                kg = outcome.quantity_kg if outcome.status == "matched" else Decimal(0)
                out.append((key, outcome.licence_number, kg))
        return out


class FakeEvents:
    def __init__(self, uow: "FakeLedger") -> None:
        self.uow = uow

    async def seen(self, ids):
        return {i for i in ids if i in self.uow.t.events}

    async def record(self, events):
        self.uow.t.events.update({e.event_id: o for e, o in events})


class FakeLedger:
    """The unit of work in memory: a transaction works on the tables and restores them on an
    error. `races` makes that many decision inserts lose to another process."""

    Conflict = Conflict
    Contention = Contention

    def __init__(self, *licences: LicenceState, races: int = 0) -> None:
        self.t = Tables({x.licence_number: x for x in licences})
        self.races, self.commits, self.locked = races, 0, []
        self.licences, self.decisions, self.events = (FakeLicences(self), FakeDecisions(self),
                                                      FakeEvents(self))
        self.restorations = FakeRestorations(self)

    async def __aenter__(self):
        self._before = copy.deepcopy(self.t)
        return self

    async def __aexit__(self, kind, exc, tb):
        if exc is None:
            self.commits += 1
        else:
            self.t = self._before

    def remaining(self, number: str = NUMBER) -> Decimal:
        return self.t.licences[number].remaining_kg


def licence(max_kg: str = "1000", number: str = NUMBER, **changes) -> LicenceState:
    return LicenceState(**{**dict(
        licence_number=number, exporter_id=P, materials=("Dy",), remaining_kg=Decimal(max_kg),
        destination_country="DE", valid_from=date(2026, 1, 1), valid_to=date(2026, 12, 31),
        status="active", consignee=HANSE, end_user=HANSE), **changes})


def export(kg: str, report_id: str, number: str = NUMBER) -> ValidatedReport:
    report = {**examples.REPORT, "report_id": report_id,
              "quantity": {"value": kg, "unit": "kg"},
              "export": {**examples.REPORT["export"], "licence_number": number}}
    return ValidatedReport(producer_id=P, report_id=report_id, received_at=NOW, content_hash="0",
                           report=report, quantity_kg=Decimal(kg), validated_at=NOW)


def decisions(emits):
    return [(e.value.report_id, e.value.licence.status, e.value.licence.remaining_kg)
            for e in emits]


async def test_exports_are_matched_in_order_until_the_balance_runs_out():
    uow = FakeLedger(licence("1000"))
    emits = await service.decide_exports([export("400", "A"), export("700", "B"),
                                          export("600", "C")], uow, NOW)
    assert decisions(emits) == [("A", "matched", 600), ("B", "refused", 600),
                                ("C", "matched", 0)]
    assert {e.topic for e in emits} == {topics.LICENSED.name} and [e.key for e in emits] == \
        ["A", "B", "C"]
    assert uow.remaining() == 0 and uow.commits == 1


async def test_a_redelivered_export_gets_its_first_decision_and_draws_nothing():
    uow = FakeLedger(licence("1000"))
    first = await service.decide_exports([export("300", "A")], uow, NOW)
    again = await service.decide_exports([export("300", "A"), export("300", "A")], uow,
                                         NOW + timedelta(hours=1))
    assert [e.value.licence for e in again] == [first[0].value.licence] * 2
    assert uow.remaining() == 700


async def test_licences_are_locked_once_in_number_order():
    uow = FakeLedger(licence("100", "EL-B"), licence("100", "EL-A"))
    await service.decide_exports([export("1", "1", "EL-B"), export("1", "2", "EL-A"),
                                  export("1", "3", "EL-B")], uow, NOW)
    assert uow.locked == [["EL-A", "EL-B"]]


async def test_a_flow_that_lost_a_race_runs_again_and_draws_once():
    uow = FakeLedger(licence("1000"), races=2)
    emits = await service.decide_exports([export("250", "A")], uow, NOW)
    assert decisions(emits) == [("A", "matched", 750)] and uow.remaining() == 750


async def test_losing_every_race_raises_contention_for_the_batch_to_be_redelivered():
    uow = FakeLedger(licence("1000"), races=service.ATTEMPTS)
    with pytest.raises(Contention):
        await service.decide_exports([export("250", "A")], uow, NOW)
    assert uow.remaining() == 1000 and uow.t.decisions == {}


async def test_cancelling_gives_back_what_was_drawn_once():
    uow = FakeLedger(licence("1000"))
    await service.decide_exports([export("700", "A"), export("200", "B")], uow, NOW)
    cancel = ReportCancelled(producer_id=P, report_id="A", cancelled_at=NOW)
    restored = await service.cancel_reports([cancel, cancel], uow)
    assert [(r.report_id, r.licence_number, r.restored_kg) for r in restored] == \
        [("A", NUMBER, 700)]
    assert await service.cancel_reports([cancel], uow) == []
    assert uow.remaining() == 800


async def test_an_export_cancelled_before_its_decision_is_decided_as_submitted_and_draws_nothing():
    uow = FakeLedger(licence("1000"))
    for rid in ("A", "B"):
        await service.cancel_reports([ReportCancelled(producer_id=P, report_id=rid,
                                                      cancelled_at=NOW)], uow)
    emits = await service.decide_exports([export("300", "A"), export("5000", "B")], uow, NOW)
    a, b = (e.value.licence for e in emits)
    assert (a.status, a.reasons, a.cancelled_at, a.remaining_kg) == ("matched", [], NOW, 1000)
    # the refusal stands (its alert is raised downstream) although it was cancelled first
    assert (b.status, b.reasons, b.cancelled_at) == ("refused", ["QUANTITY_EXCEEDED"], NOW)
    assert uow.remaining() == 1000
    again = await service.decide_exports([export("300", "A")], uow, NOW + timedelta(hours=1))
    assert again[0].value.licence == a and uow.remaining() == 1000


async def test_an_export_cancelled_before_its_decision_reuses_no_restored_quota():
    uow = FakeLedger(licence("100"))
    await service.decide_exports([export("100", "X")], uow, NOW)
    for rid in ("X", "W"):
        await service.cancel_reports([ReportCancelled(producer_id=P, report_id=rid,
                                                      cancelled_at=NOW)], uow)
    [w] = await service.decide_exports([export("100", "W")], uow, NOW)
    assert (w.value.licence.status, w.value.licence.restored_quota_used) == ("matched", [])
    assert uow.t.restorations[(P, "X")] == [NUMBER, 100] and uow.remaining() == 100


def reused(emit):
    return [(u.report_id, u.quantity_kg) for u in emit.value.licence.restored_quota_used]


async def test_an_export_that_needs_quota_restored_by_a_cancellation_names_the_cancelled_report():
    uow = FakeLedger(licence("100"))
    await service.decide_exports([export("100", "X")], uow, NOW)
    await service.cancel_reports([ReportCancelled(producer_id=P, report_id="X",
                                                  cancelled_at=NOW)], uow)
    [y] = await service.decide_exports([export("60", "Y")], uow, NOW)
    [z] = await service.decide_exports([export("40", "Z")], uow, NOW)
    assert (y.value.licence.status, reused(y)) == ("matched", [("X", 60)])
    assert (z.value.licence.status, reused(z)) == ("matched", [("X", 40)])
    assert uow.remaining() == 0 and uow.t.restorations[(P, "X")] == [NUMBER, 0]


async def test_an_export_covered_without_the_restored_quota_reuses_nothing():
    uow = FakeLedger(licence("200"))
    await service.decide_exports([export("100", "X")], uow, NOW)
    await service.cancel_reports([ReportCancelled(producer_id=P, report_id="X",
                                                  cancelled_at=NOW)], uow)
    y, z = await service.decide_exports([export("100", "Y"), export("100", "Z")], uow, NOW)
    assert (reused(y), reused(z)) == ([], [("X", 100)])
    # a redelivery gets the same decision and uses nothing again
    again = await service.decide_exports([export("100", "Z")], uow, NOW)
    assert reused(again[0]) == [("X", 100)] and uow.t.restorations[(P, "X")][1] == 0


async def test_restored_quota_is_reused_oldest_cancellation_first():
    uow = FakeLedger(licence("100"))
    await service.decide_exports([export("30", "X1"), export("70", "X2")], uow, NOW)
    for rid in ("X2", "X1"):
        await service.cancel_reports([ReportCancelled(producer_id=P, report_id=rid,
                                                      cancelled_at=NOW)], uow)
    [y] = await service.decide_exports([export("80", "Y")], uow, NOW)
    assert reused(y) == [("X2", 70), ("X1", 10)]


def event(type_: str, at: datetime, **fields) -> LicenceEvent:
    return LicenceEvent(event_id=f"{type_}-{at.isoformat()}", type=type_, licence_number=NUMBER,
                        occurred_at=at, **fields)


async def test_licence_events_apply_once_each_and_a_late_one_is_stale():
    uow = FakeLedger(licence("1000"))
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    suspended, late = event("suspended", t0 + timedelta(days=2)), event("revoked", t0)
    assert await service.apply_licence_events([suspended, late, suspended], uow) == \
        {suspended.event_id: "applied", late.event_id: "stale"}
    assert await service.apply_licence_events([suspended], uow) == {}
    assert uow.t.licences[NUMBER].status == "suspended"
    [emit] = await service.decide_exports([export("1", "A")], uow, NOW)
    assert emit.value.licence.reasons == ["SUSPENDED"]


async def test_a_revoked_licence_is_never_reinstated():
    uow = FakeLedger(licence("1000"))
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    revoked, back = event("revoked", t0), event("reinstated", t0 + timedelta(days=1))
    out = await service.apply_licence_events([revoked, back], uow)
    assert out[back.event_id] == "ignored: revoked is final"
    assert uow.t.licences[NUMBER].status == "revoked"
