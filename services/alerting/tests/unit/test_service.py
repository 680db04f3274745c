"""Alerting's flows on in-memory state: what a batch locks, that a report's facts count once,
the stateful rules across batches, the incremental mass balance, and bounded alert records.
The same flows run on PostgreSQL in ../integration/test_store.py."""

import copy
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from mintrace_alerting import rules as R
from mintrace_alerting import service
from mintrace_alerting.config import Rules
from mintrace_common.names import Watchlist, fold
from mintrace_common.models import MAX_EVIDENCE, Alert

from mintrace_common.examples import supervision_record as record

RULES = Rules(mass_settle_seconds=0, transfer_grace_seconds=0)
NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)
T0 = datetime(2026, 11, 10, 8, tzinfo=UTC)
EMPTY = Watchlist([], 90)
COLUMNS = ("producer_id", "report_id", "facility_id", "province_code", "type", "material",
           "occurred_at", "day", "quantity_kg", "counterparty_id", "counterparty_report_id",
           "consignee")


class State:
    def __init__(self) -> None:
        self.facts: dict[tuple[str, str], dict] = {}
        self.pending: set[tuple[str, str]] = set()
        self.episodes: list[tuple] = []
        self.sales: dict[str, R.PendingSale] = {}
        self.totals: dict[tuple[str, str], list[Decimal]] = {}
        self.alerts: dict[str, Alert] = {}
        self.published: set[str] = set()


class FakeLocks:
    def __init__(self, uow):
        self.uow = uow

    async def take(self, keys):
        self.uow.locked.append(sorted(set(keys)))

    async def try_sweep(self):
        return True


class FakeFacts:
    def __init__(self, uow):
        self.uow = uow

    async def add(self, facts):
        new = set()
        for f in facts:
            row = dict(zip(COLUMNS, f))
            key = (row["producer_id"], row["report_id"])
            if key not in self.uow.s.facts:
                self.uow.s.facts[key] = row
                new.add(key)
        return new

    async def exports_near(self, groups):
        return [[R.Shipment(f["report_id"], f["occurred_at"], f["quantity_kg"])
                 for f in self.uow.s.facts.values() if f["type"] == "export"
                 and (f["producer_id"], f["province_code"], f["material"], f["consignee"])
                 == (p, prov, m, c)
                 and lo <= f["occurred_at"] <= hi] for p, prov, m, c, lo, hi in groups]

    async def daily_volumes(self, keys, baseline_days):
        out = []
        for p, m, t, d, prov in keys:
            mine = [f for f in self.uow.s.facts.values()
                    if (f["producer_id"], f["province_code"], f["material"], f["type"])
                    == (p, prov, m, t)]
            today = [f for f in mine if f["day"] == d]
            base = [f for f in mine if d - timedelta(days=baseline_days) <= f["day"] < d]
            if today:
                out.append(R.DailyVolume(p, prov, m, t, d.isoformat(),
                                         sum(f["quantity_kg"] for f in today), [],
                                         sum((f["quantity_kg"] for f in base), Decimal(0)),
                                         len({f["day"] for f in base})))
        return out

    async def day_report_ids(self, keys):
        return [sorted(f["report_id"] for f in self.uow.s.facts.values()
                       if (f["producer_id"], f["material"], f["type"], f["day"],
                           f["province_code"]) == k) for k in keys]


class FakeSplits:
    def __init__(self, uow):
        self.uow = uow

    async def episodes(self, groups, margin):
        return [[(e[4], e[5]) for e in self.uow.s.episodes if e[:4] == (p, prov, m, c)
                 and e[5] >= lo - margin and e[4] <= hi + margin]
                for p, prov, m, c, lo, hi in groups]

    async def add(self, episodes):
        self.uow.s.episodes += episodes

    async def extend(self, extended):
        for p, prov, m, c, first, last in extended:
            self.uow.s.episodes = [(*e[:5], max(e[5], last), e[6])
                                   if e[:5] == (p, prov, m, c, first) else e
                                   for e in self.uow.s.episodes]


class FakeTransfers:
    def __init__(self, uow):
        self.uow = uow

    async def add_sales(self, sales):
        for s in sales:
            named = any(f["type"] == "domestic_purchase" and f["producer_id"] == s.buyer_id
                        and f["counterparty_report_id"] == s.report_id
                        for f in self.uow.s.facts.values())
            if not named:
                self.uow.s.sales[s.report_id] = s

    async def confirm(self, purchases):
        for buyer, sale, _ in purchases:
            if sale in self.uow.s.sales and self.uow.s.sales[sale].buyer_id == buyer:
                del self.uow.s.sales[sale]

    async def take_due(self, deadline, grace):
        due = [s for s in self.uow.s.sales.values() if s.occurred_at < deadline]
        for s in due:
            del self.uow.s.sales[s.report_id]
        return due


class FakeBalances:
    def __init__(self, uow):
        self.uow = uow

    async def opening(self, keys):
        return {k: v for k, v in getattr(self.uow.s, "opening", {}).items() if k in keys}

    async def enqueue(self, keys):
        self.uow.s.pending |= set(keys)

    async def take_settled(self, settle, limit):
        keys = sorted(self.uow.s.pending - self.uow.still_settling)[:limit]
        self.uow.s.pending -= set(keys)
        return [self.uow.s.facts[k] for k in keys]

    async def fold(self, deltas):
        out = {}
        for key, (i, o) in deltas.items():
            t = self.uow.s.totals.setdefault(key, [Decimal(0), Decimal(0), Decimal(0)])
            t[0] += i
            t[1] += o
            out[key] = tuple(t)
        return out

    async def around(self, outflows):
        def kg(facts, types):
            return sum((f["quantity_kg"] for f in facts if f["type"] in types), Decimal(0))

        out = []
        for o in outflows:
            mine = [(k, f) for k, f in self.uow.s.facts.items()
                    if (f["facility_id"], f["material"]) == (o["facility_id"], o["material"])]
            point = (o["occurred_at"], o["report_id"])
            later = [f for k, f in mine if k not in self.uow.s.pending
                     and (f["occurred_at"], f["report_id"]) > point]
            unsettled = [f for k, f in mine if k in self.uow.s.pending
                         and (f["occurred_at"], f["report_id"]) <= point]
            out.append((kg(later, R.INFLOWS), kg(later, R.OUTFLOWS), kg(unsettled, R.INFLOWS)))
        self.uow.history_reads += sum(1 for _ in outflows)
        return out

    async def set_alerted(self, state):
        for key, deficit in state.items():
            self.uow.s.totals[key][2] = deficit


class FakeAlerts:
    def __init__(self, uow):
        self.uow = uow

    async def add(self, alerts):
        new = {a.alert_id for a in alerts if a.alert_id not in self.uow.s.alerts}
        self.uow.s.alerts.update({a.alert_id: a for a in alerts if a.alert_id in new})
        return new

    async def claim_unpublished(self, older_than, lease):
        return [a for i, a in self.uow.s.alerts.items() if i not in self.uow.s.published]

    async def mark_published(self, ids):
        self.uow.s.published |= set(ids)


class FakeAlerting:
    def __init__(self) -> None:
        self.s, self.locked, self.history_reads = State(), [], 0
        self.still_settling: set[tuple[str, str]] = set()   # pending, not old enough yet
        self.locks, self.facts, self.splits = FakeLocks(self), FakeFacts(self), FakeSplits(self)
        self.transfers, self.balances, self.alerts = (FakeTransfers(self), FakeBalances(self),
                                                      FakeAlerts(self))

    async def __aenter__(self):
        self._before = copy.deepcopy(self.s)
        return self

    async def __aexit__(self, kind, exc, tb):
        if exc is not None:
            self.s = self._before


async def run(uow, batch, now=NOW):
    return await service.raise_alerts(batch, uow, EMPTY, {}, now, RULES)


def piece(i: int, kg: int = 400, consignee: str = "Hanse Magnetics GmbH"):
    return record(f"E-{i}", kg=str(kg), usd=None, when=T0 + timedelta(hours=12 * i),
                  consignee=(consignee, "DE"))


async def test_a_batch_locks_only_the_conditions_its_reports_can_change():
    uow = FakeAlerting()
    await run(uow, [piece(0), piece(1, consignee="Nippon Motor Materials KK"),
                    record("M-1", type_="mining_output", material="W", form="ore", usd=None)])
    [keys] = uow.locked
    p, prov = piece(0).producer_id, piece(0).province_code
    assert keys == sorted([("split", p, prov, "Dy", fold("Hanse Magnetics GmbH").key),
                           ("split", p, prov, "Dy", fold("Nippon Motor Materials KK").key),
                           ("spike", p, prov, "W", "mining_output")])


async def test_split_shipments_alert_once_across_batches_and_redeliveries():
    uow = FakeAlerting()
    assert await run(uow, [piece(0)]) == [] and await run(uow, [piece(1)]) == []
    [alert] = await run(uow, [piece(2)])
    assert alert.type == "SPLIT_SHIPMENTS" and alert.report_ids == ["E-0", "E-1", "E-2"]
    assert await run(uow, [piece(1), piece(2)]) == []
    assert await run(uow, [piece(3)]) == []   # the same episode, extended
    assert len(uow.s.alerts) == 1


async def test_a_sale_never_named_by_a_purchase_alerts_after_the_window():
    seller, buyer = "91360727MA00000022", "91360700MA0000001T"

    def sale(i):
        return record(f"S-{i}", producer=seller, type_="domestic_sale", material="REO-concentrate",
                      form="ore", kg="10000", usd="10000", when=T0, facility="JX2-MIN-01",
                      counterparty={"name": "Ganzhou", "country": "CN", "id": buyer})

    purchase = record("P-2", producer=buyer, type_="domestic_purchase",
                      material="REO-concentrate", form="ore", kg="10000", usd="10000",
                      when=T0 + timedelta(hours=1), facility="JX1-SEP-01",
                      counterparty={"name": "Longnan", "country": "CN", "id": seller},
                      counterparty_report_id="S-2")
    uow = FakeAlerting()
    await run(uow, [sale(1), sale(2)])
    await run(uow, [purchase])
    assert await service.sweep_transfers(uow, T0 + timedelta(hours=47), RULES) == []
    [alert] = await service.sweep_transfers(uow, T0 + timedelta(hours=49), RULES)
    assert alert.type == "UNCONFIRMED_TRANSFER" and alert.report_ids == ["S-1"]


def flow(i: int, type_: str, kg: int, hours: int):
    return record(f"M-{i}", producer="91360727MA00000022", type_=type_,
                  material="REO-concentrate", form="ore", kg=str(kg), usd="1000",
                  when=T0 + timedelta(hours=hours), facility="JX2-MIN-01",
                  counterparty={"name": "Ganzhou", "country": "CN", "id": "91360700MA0000001T"})


async def test_mass_balance_is_judged_in_event_time_on_running_totals():
    uow = FakeAlerting()
    await run(uow, [flow(1, "mining_output", 20_000, 0), flow(2, "domestic_sale", 15_000, 2)])
    assert await service.sweep_balances(uow, NOW, RULES) == []
    await run(uow, [flow(3, "domestic_sale", 30_000, 26), flow(4, "mining_output", 40_000, 48)])
    [alert] = await service.sweep_balances(uow, NOW, RULES)
    assert alert.type == "MASS_BALANCE" and alert.report_ids == ["M-3"]
    assert Decimal(alert.details["deficit_kg"]) == 25_000
    # each fact folded into the totals once: 60 t in, 45 t out
    assert uow.s.totals[("JX2-MIN-01", "REO-concentrate")][:2] == [60_000, 45_000]
    await run(uow, [flow(5, "domestic_sale", 10_000, 50)])
    assert await service.sweep_balances(uow, NOW, RULES) == []
    assert await service.sweep_balances(uow, NOW, RULES) == []   # nothing settled since
    assert uow.history_reads == 3   # one look per outflow, never the whole history again


async def test_an_alert_record_carries_bounded_evidence_and_counts_the_rest():
    ids = [f"R-{i}" for i in range(MAX_EVIDENCE * 3)]
    alert = Alert(alert_id="volume_spike-1", type="VOLUME_SPIKE", severity="medium",
                  province_code="360000", producer_id="P", report_ids=ids, summary="s",
                  raised_at=NOW)
    emits = service.alert_emits([alert], {})
    assert [e.topic for e in emits] == ["alerts.jiangxi", "alerts.national"]
    for e in emits:
        assert e.value.report_ids == ids[:MAX_EVIDENCE]
        assert e.value.evidence_total == len(ids)
    small = alert.model_copy(update={"report_ids": ids[:3]})
    assert service.alert_emits([small], {})[0].value.evidence_total is None


async def test_an_input_seen_but_not_settled_still_explains_an_earlier_sale():
    uow = FakeAlerting()
    uow.still_settling = {("91360727MA00000022", "M-1")}   # the output arrived just now
    await run(uow, [flow(0, "mining_output", 5_000, -1), flow(1, "mining_output", 20_000, 0),
                    flow(2, "domestic_sale", 15_000, 2)])
    assert await service.sweep_balances(uow, NOW, RULES) == []
    assert uow.s.pending == {("91360727MA00000022", "M-1")}   # folded once it settles
    uow.still_settling = set()
    assert await service.sweep_balances(uow, NOW, RULES) == []
    assert uow.s.totals[("JX2-MIN-01", "REO-concentrate")][:2] == [25_000, 15_000]


async def test_a_volume_spike_cites_the_reports_of_its_day():
    uow = FakeAlerting()

    def output(i: int, day: int, kg: int):
        return record(f"V-{i}", type_="mining_output", material="W", form="ore", usd=None,
                      kg=str(kg), when=T0 + timedelta(days=day))

    assert await run(uow, [output(d, d, 1000) for d in range(6)]) == []
    [alert] = await run(uow, [output(10, 7, 2500), output(11, 7, 2500)])
    assert alert.type == "VOLUME_SPIKE" and alert.report_ids == ["V-10", "V-11"]
