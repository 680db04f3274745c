"""Alerting's flows on a real PostgreSQL: once per condition across batches, redeliveries
and concurrent instances; the sweeps driven by an injected clock."""

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from mintrace_common.examples import supervision_record as record

from mintrace import devstack
from mintrace_alerting import service
from mintrace_alerting.store import AlertingUnitOfWork, load_reference
from mintrace_alerting.config import Rules
from mintrace_common.names import Watchlist
from mintrace_common import db


@pytest.fixture(scope="module")
def alerting_db_url(tmp_path_factory):
    server = devstack.postgres_server(tmp_path_factory.mktemp("pgdata"))
    url = asyncio.run(devstack.scratch_database(server, "mintrace_alerting"))
    yield url
    asyncio.run(devstack.drop_database(url))


@pytest.fixture
async def pool(alerting_db_url):
    p = await db.create_pool(alerting_db_url, 1, 4)
    async with p.acquire() as conn:
        await conn.execute("TRUNCATE alert_facts, alert_daily_totals, pending_transfers, "
                           "split_episodes, "
                           "mass_balance_state, mass_pending, alerts, opening_stocks")
    yield p
    await p.close()


RULES = Rules(mass_settle_seconds=0, transfer_grace_seconds=0)
NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)
T0 = datetime(2026, 11, 10, 8, tzinfo=UTC)
EMPTY = Watchlist([], 90)
SELLER, BUYER = "91360727MA00000022", "91360700MA0000001T"


async def run(pool, batch, now=NOW):
    return await service.raise_alerts(batch, AlertingUnitOfWork(pool), EMPTY, {}, now, RULES)


def piece(i: int, kg: int = 400, hours: int = 12):
    return record(f"E-{i}", kg=str(kg), usd=None, when=T0 + timedelta(hours=i * hours))


async def test_split_pattern_across_batches_alerts_once_even_when_redelivered(pool):
    assert await run(pool, [piece(0)]) == []
    assert await run(pool, [piece(1)]) == []
    [alert] = await run(pool, [piece(2)])
    assert alert.type == "SPLIT_SHIPMENTS" and alert.report_ids == ["E-0", "E-1", "E-2"]
    assert await run(pool, [piece(1), piece(2)]) == []          # redelivery
    assert await run(pool, [piece(3)]) == []                    # the same episode, extended
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM alerts") == 1


async def test_two_instances_racing_on_one_pattern_store_one_alert(pool):
    await run(pool, [piece(0), piece(1)])
    results = await asyncio.gather(run(pool, [piece(2)]), run(pool, [piece(2), piece(3)]))
    assert sum(len(r) for r in results) == 1


async def test_split_near_miss_two_small_exports_raise_nothing(pool):
    assert await run(pool, [piece(0, 600), piece(1, 600)]) == []


def sale(i: int, when=T0):
    return record(f"S-{i}", producer=SELLER, type_="domestic_sale", material="REO-concentrate",
                  form="ore", kg="10000", usd="10000", when=when, facility="JX2-MIN-01",
                  counterparty={"name": "Ganzhou", "country": "CN", "id": BUYER})


def purchase(i: int, when=T0 + timedelta(hours=1)):
    return record(f"P-{i}", producer=BUYER, type_="domestic_purchase", material="REO-concentrate",
                  form="ore", kg="10000", usd="10000", when=when, facility="JX1-SEP-01",
                  counterparty={"name": "Longnan", "country": "CN", "id": SELLER},
                  counterparty_report_id=f"S-{i}")


async def test_sale_without_purchase_alerts_once_after_the_window_by_the_injected_clock(pool):
    await run(pool, [sale(1), sale(2), sale(3)])
    await run(pool, [purchase(2)])
    await run(pool, [purchase(3, when=T0 - timedelta(hours=1))])  # filed before the sale
    before = T0 + timedelta(hours=47)
    assert await service.sweep_transfers(AlertingUnitOfWork(pool), before, RULES) == []
    [alert] = await service.sweep_transfers(AlertingUnitOfWork(pool), T0 + timedelta(hours=49), RULES)
    assert alert.type == "UNCONFIRMED_TRANSFER" and alert.report_ids == ["S-1"]
    assert await service.sweep_transfers(AlertingUnitOfWork(pool), T0 + timedelta(hours=50), RULES) == []


async def test_purchase_arriving_before_its_sale_confirms_it(pool):
    await run(pool, [purchase(7)])
    await run(pool, [sale(7)])
    assert await service.sweep_transfers(AlertingUnitOfWork(pool), T0 + timedelta(days=5), RULES) == []


def flow(i: int, type_: str, kg: int, hours: int):
    return record(f"M-{i}", producer=SELLER, type_=type_, material="REO-concentrate", form="ore",
                  kg=str(kg), usd="1000", when=T0 + timedelta(hours=hours),
                  facility="JX2-MIN-01", counterparty={"name": "Ganzhou", "country": "CN",
                                                       "id": BUYER})


async def test_sale_before_the_material_existed_is_a_mass_balance_alert_in_event_time(pool):
    await run(pool, [flow(1, "mining_output", 20_000, 0), flow(2, "domestic_sale", 15_000, 2)])
    assert await service.sweep_balances(AlertingUnitOfWork(pool), NOW, RULES) == []
    # sells 30 t on day 1 with 5 t in stock; the 40 t mined on day 2 does not explain it
    await run(pool, [flow(3, "domestic_sale", 30_000, 26), flow(4, "mining_output", 40_000, 48)])
    await asyncio.sleep(0.01)
    [alert] = await service.sweep_balances(AlertingUnitOfWork(pool), NOW, RULES)
    assert alert.type == "MASS_BALANCE" and alert.report_ids == ["M-3"]
    assert Decimal(alert.details["deficit_kg"]) == 25_000
    # a normal sale afterwards, from the newly mined stock, raises nothing
    await run(pool, [flow(5, "domestic_sale", 10_000, 50)])
    await asyncio.sleep(0.01)
    assert await service.sweep_balances(AlertingUnitOfWork(pool), NOW, RULES) == []


def shipped(i: int, facility: str, kg: int, hours: int):
    return record(f"X-{i}", producer=SELLER, kg=str(kg), usd=None, facility=facility,
                  when=T0 + timedelta(hours=hours))


async def test_exports_beyond_declared_opening_stock_alert_and_from_nowhere_too(pool):
    async with pool.acquire() as conn:
        await conn.execute("INSERT INTO opening_stocks (facility_id, material, quantity_kg) "
                           "VALUES ('OS-TRD-01', 'Dy', 2000), ('OS-TRD-02', 'Dy', 2000)")
    await run(pool, [shipped(1, "OS-TRD-01", 1_500, 0),     # within the declared stock
                     shipped(2, "OS-TRD-01", 700, 30),      # 200 over: within 5 % + 200 kg
                     shipped(3, "OS-TRD-02", 1_500, 0),
                     shipped(4, "OS-TRD-02", 1_400, 30),    # 900 over: under-declared
                     shipped(5, "NO-INPUT-01", 1_500, 10)])  # declared none, reported none
    await asyncio.sleep(0.01)
    alerts = await service.sweep_balances(AlertingUnitOfWork(pool), NOW, RULES)
    assert sorted((a.report_ids[0], a.details["opening_kg"], a.details["deficit_kg"])
                  for a in alerts) == [("X-4", "2000", "900"), ("X-5", "0", "1500")]


async def test_alerts_left_unpublished_by_a_crash_are_claimed_once(pool):
    await run(pool, [piece(0), piece(1), piece(2)])
    claimed = await service.unpublished(AlertingUnitOfWork(pool), timedelta(0))
    assert [a.type for a in claimed] == ["SPLIT_SHIPMENTS"]
    assert await service.unpublished(AlertingUnitOfWork(pool), timedelta(0)) == []   # leased to the first
    await service.mark_published([a.alert_id for a in claimed], AlertingUnitOfWork(pool))
    assert await service.unpublished(AlertingUnitOfWork(pool), timedelta(0), lease=timedelta(0)) == []


def output(day: int, kg: int):
    return record(f"V-{day}", producer="91430100MA0000005J", type_="mining_output", material="W",
                  form="ore", kg=str(kg), usd=None, when=T0 + timedelta(days=day),
                  facility="HN1-MIN-01")


async def test_spike_is_judged_again_when_its_baseline_arrives_late(pool):
    # the spike day arrives while only two days of its baseline are known: too short to judge
    assert await run(pool, [output(0, 1000), output(1, 1000), output(7, 6000)]) == []
    # the rest of the baseline comes later (reports of other days travel on other partitions)
    [alert] = await run(pool, [output(d, 1000) for d in range(2, 6)])
    assert alert.type == "VOLUME_SPIKE" and alert.report_ids == ["V-7"]
    assert await run(pool, [output(6, 1000)]) == []  # judged again, still one alert for the day


async def test_batches_and_sweeps_about_other_conditions_do_not_wait_for_a_held_one(pool):
    holder = AlertingUnitOfWork(pool)
    async with holder:   # an instance mid-batch on Hanse's shipments
        await holder.locks.take(service.conditions([piece(0)], RULES))
        other = record("O-1", kg="400", usd=None, when=T0,
                       consignee=("Nippon Motor Materials KK", "JP"))
        assert await asyncio.wait_for(run(pool, [other]), 60) == []
        assert await asyncio.wait_for(service.sweep_transfers(
            AlertingUnitOfWork(pool), NOW, RULES), 60) == []
        # O-1 ships from a facility that declared no opening stock: material from nowhere
        assert [(a.type, a.report_ids) for a in await asyncio.wait_for(service.sweep_balances(
            AlertingUnitOfWork(pool), NOW, RULES), 60)] == [("MASS_BALANCE", ["O-1"])]
        same = asyncio.create_task(run(pool, [piece(5)]))
        await asyncio.sleep(0.5)
        assert not same.done(), "a batch on the held condition must wait for it"
    assert await asyncio.wait_for(same, 60) == []


async def test_mass_balance_folds_each_fact_into_running_totals_once(pool):
    await run(pool, [flow(1, "mining_output", 20_000, 0), flow(2, "domestic_sale", 5_000, 2)])
    await service.sweep_balances(AlertingUnitOfWork(pool), NOW, RULES)
    await run(pool, [flow(3, "mining_output", 1_000, 3), flow(2, "domestic_sale", 5_000, 2)])
    await service.sweep_balances(AlertingUnitOfWork(pool), NOW, RULES)
    await service.sweep_balances(AlertingUnitOfWork(pool), NOW, RULES)
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT inflow_kg, outflow_kg FROM mass_balance_state "
                                  "WHERE facility_id = 'JX2-MIN-01'")
        assert await conn.fetchval("SELECT count(*) FROM mass_pending") == 0
    assert (row["inflow_kg"], row["outflow_kg"]) == (21_000, 5_000)


# One producer with facilities in two provinces (SPEC §5: a supervisor sees only their own
# province): each province's reports are judged apart, and every alert cites its own only.
PROVINCE_OF = {"360000": ("jiangxi", "JX-W-01"), "430000": ("hunan", "HN1-MIN-01")}


def made_in(province: str, report_id: str, **kw):
    slug, facility = PROVINCE_OF[province]
    rec = record(report_id, producer="91430100MA0000005J", usd=None, facility=facility, **kw)
    return rec.model_copy(update={"province_code": province, "province_slug": slug})


def export_in(province: str, i: int):
    return made_in(province, f"{province[:2]}-E-{i}", material="W", form="metal", kg="400",
                   when=T0 + timedelta(hours=12 * i))


def output_in(province: str, day: int, kg: int):
    return made_in(province, f"{province[:2]}-V-{day}", type_="mining_output", material="W",
                   form="ore", kg=str(kg), when=T0 + timedelta(days=day))


def evidence(alerts):
    return sorted((a.type, a.province_code, a.report_ids) for a in alerts)


async def test_split_shipments_of_a_producer_are_judged_per_province(pool):
    # two small exports to one consignee from each province: neither province sees three
    assert await run(pool, [export_in("360000", 0), export_in("360000", 1),
                            export_in("430000", 2), export_in("430000", 3)]) == []
    assert evidence(await run(pool, [export_in("360000", 4)])) == [
        ("SPLIT_SHIPMENTS", "360000", ["36-E-0", "36-E-1", "36-E-4"])]
    # Jiangxi's episode does not hide Hunan's own
    assert evidence(await run(pool, [export_in("430000", 5)])) == [
        ("SPLIT_SHIPMENTS", "430000", ["43-E-2", "43-E-3", "43-E-5"])]


async def test_volume_spikes_of_a_producer_are_judged_per_province(pool):
    baseline = [output_in(p, d, 1000) for p in PROVINCE_OF for d in range(6)]
    assert await run(pool, baseline) == []
    # day 7: 4 t in Jiangxi is 4x its own mean (the producer's 5 t is only 2.5x its 2 t);
    # day 9: 5 t in Hunan, while Jiangxi's 1 t is ordinary
    alerts = await run(pool, [output_in("360000", 7, 4000), output_in("430000", 7, 1000),
                              output_in("360000", 9, 1000), output_in("430000", 9, 5000)])
    assert evidence(alerts) == [("VOLUME_SPIKE", "360000", ["36-V-7"]),
                                ("VOLUME_SPIKE", "430000", ["43-V-9"])]


async def test_the_watchlist_is_rebuilt_only_when_the_registry_changed(pool):
    async with pool.acquire() as conn:
        await conn.execute("DELETE FROM watchlist WHERE name LIKE 'Rebuild Test%'")
    first, _ = await load_reference(pool, 90)
    again, _ = await load_reference(pool, 90, first)
    assert again is first  # nothing changed: no folding every name again
    async with pool.acquire() as conn:
        await conn.execute("INSERT INTO watchlist (name, aliases, reason) "
                           "VALUES ('Rebuild Test Trading FZE', '{}', 'test')")
    try:
        changed, _ = await load_reference(pool, 90, again)
        assert changed is not again
        assert changed.match("Rebuild Test Trading") is not None
        assert first.match("Rebuild Test Trading") is None
    finally:
        async with pool.acquire() as conn:
            await conn.execute("DELETE FROM watchlist WHERE name LIKE 'Rebuild Test%'")


async def test_daily_totals_count_each_fact_once_however_often_it_is_delivered(pool):
    batch = [output_in("360000", d, 1000 + d) for d in range(3)] + [output_in("430000", 0, 7)]
    await run(pool, batch)
    await run(pool, batch[1:])  # a redelivery adds nothing
    async with pool.acquire() as conn:
        totals = await conn.fetch("SELECT province_code, day, total_kg FROM alert_daily_totals "
                                  "ORDER BY province_code, day")
        facts = await conn.fetch("SELECT province_code, day, sum(quantity_kg) AS total_kg "
                                 "FROM alert_facts GROUP BY 1, 2 ORDER BY 1, 2")
    assert [tuple(r) for r in totals] == [tuple(r) for r in facts]
    assert [r["total_kg"] for r in totals] == [1000, 1001, 1002, 7]
