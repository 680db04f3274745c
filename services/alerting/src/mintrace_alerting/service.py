"""Alerting, top-down: each flow runs in one transaction of the unit of work (store.py in
production, a fake in the unit tests) around the pure rules of rules.py.

A batch locks only the conditions its reports can change (one exporter's shipments to one
consignee, one producer's daily volumes, one sale's confirmation), so instances and sweeps
working on other conditions run in parallel. A report's facts are recorded once; rules run only
on facts this transaction recorded, and the alerts they raise are stored in the same
transaction (an outbox: published after the commit, marked once the broker acknowledged)."""

from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Protocol

from mintrace_common import telemetry, topics
from mintrace_common.chinatime import china_day
from mintrace_common.kafka import Emit
from mintrace_common.materials import is_controlled
from mintrace_common.models import Alert, SupervisionRecord
from mintrace_common.names import Watchlist, fold
from mintrace_common.provinces import BY_CODE

from . import rules as R
from .config import Rules

log = telemetry.get_logger(__name__)
Reference = dict[tuple[str, str], Decimal]


class AlertingUnitOfWork(Protocol):
    locks: object
    facts: object
    splits: object
    transfers: object
    balances: object
    alerts: object

    async def __aenter__(self) -> "AlertingUnitOfWork": ...
    async def __aexit__(self, *exc) -> None: ...


def fact(rec: SupervisionRecord) -> tuple:
    r = rec.report
    return (rec.producer_id, rec.report_id, r.facility_id, rec.province_code, r.type, r.material,
            r.occurred_at, china_day(r.occurred_at), rec.quantity_kg,
            r.counterparty.id if r.counterparty else None, r.counterparty_report_id,
            fold(r.export.consignee.name).key if r.export else None)


def _split_key(r: SupervisionRecord) -> tuple[str, str, str, str] | None:
    """(producer, province, material, consignee): a producer's exports from its facilities in
    one province are judged apart from those in another (each province sees only its own)."""
    if r.report.type == "export" and r.report.export and is_controlled(r.report.material):
        return (r.producer_id, r.province_code, r.report.material,
                fold(r.report.export.consignee.name).key)
    return None


def _is_sale(r: SupervisionRecord) -> bool:
    c = r.report.counterparty
    return r.report.type == "domestic_sale" and bool(c and c.id and c.country.upper() == "CN")


def _is_purchase(r: SupervisionRecord) -> bool:
    return r.report.type == "domestic_purchase" and bool(r.report.counterparty_report_id)


def conditions(reports: list[SupervisionRecord], rules: Rules) -> list[tuple[str, ...]]:
    """The stateful conditions these reports can change: what a batch locks."""
    keys: list[tuple[str, ...]] = []
    for r in reports:
        if (split := _split_key(r)) is not None:
            keys.append(("split", *split))
        if r.report.type in rules.spike_types:
            keys.append(("spike", r.producer_id, r.province_code, r.report.material,
                         r.report.type))
        if _is_sale(r):
            keys.append(("transfer", r.report_id))
        elif _is_purchase(r):
            keys.append(("transfer", r.report.counterparty_report_id))
    return keys


async def raise_alerts(batch: list[SupervisionRecord], uow: AlertingUnitOfWork,
                       watchlist: Watchlist, reference: Reference, now: datetime,
                       rules: Rules) -> list[Alert]:
    """Apply every rule to the reports of `batch` not seen before; return the alerts this call
    stored (an alert already stored by an earlier delivery is not returned again)."""
    unique = list({(r.producer_id, r.report_id): r for r in batch}.values())
    if not unique:
        return []
    async with uow:
        await uow.locks.take(conditions(unique, rules))
        inserted = await uow.facts.add([fact(r) for r in unique])
        new = [r for r in unique if (r.producer_id, r.report_id) in inserted]
        if not new:
            return []
        alerts = [a for r in new for a in R.stateless_alerts(r, watchlist, reference, now, rules)]
        alerts += await _splits(uow, new, now, rules)
        alerts += await _spikes(uow, new, now, rules)
        await _transfers(uow, new)
        stored = await _store(uow, alerts)
        await uow.balances.enqueue(sorted(inserted))
    return stored


async def _store(uow: AlertingUnitOfWork, alerts: list[Alert]) -> list[Alert]:
    alerts = list({a.alert_id: a for a in alerts}.values())
    stored = await uow.alerts.add(alerts) if alerts else set()
    return [a for a in alerts if a.alert_id in stored]


async def _splits(uow: AlertingUnitOfWork, new: list[SupervisionRecord], now: datetime,
                  rules: Rules) -> list[Alert]:
    window = timedelta(hours=rules.split_window_hours)
    groups: dict[tuple[str, str, str, str], list[SupervisionRecord]] = {}
    for r in new:
        if (key := _split_key(r)) is not None:
            groups.setdefault(key, []).append(r)
    if not groups:
        return []
    ranges = [(*k, min(r.report.occurred_at for r in g) - window,
               max(r.report.occurred_at for r in g) + window) for k, g in groups.items()]
    shipments = await uow.facts.exports_near(ranges)
    episodes = await uow.splits.episodes(ranges, window)
    alerts, new_episodes, extended = [], [], []
    for (key, group), near, known in zip(groups.items(), shipments, episodes):
        g = R.SplitGroup(producer_id=key[0], province_code=key[1], material=key[2],
                         consignee=key[3], shipments=near,
                         new=frozenset(r.report_id for r in group), episodes=known)
        alert, episode, extends = R.split_decision(g, now, rules)
        if alert and episode:
            alerts.append(alert)
            new_episodes.append((*key, *episode, alert.alert_id))
        elif extends is not None:
            extended.append((*key, extends, max(r.report.occurred_at for r in group)))
    await uow.splits.add(new_episodes)
    await uow.splits.extend(extended)
    return alerts


async def _spikes(uow: AlertingUnitOfWork, new: list[SupervisionRecord], now: datetime,
                  rules: Rules) -> list[Alert]:
    # A day is judged when one of its facts arrives, and again when a fact of one of its baseline
    # days arrives late (reports of different days travel on different partitions): a baseline
    # that was too short to judge may be long enough now. Alert ids are per day, so a day that
    # alerted already does not alert twice. A producer's facilities in different provinces are
    # judged apart (each province sees only its own reports).
    keys = sorted({(r.producer_id, r.report.material, r.report.type,
                    china_day(r.report.occurred_at) + timedelta(days=later), r.province_code)
                   for r in new if r.report.type in rules.spike_types
                   for later in range(rules.spike_baseline_days + 1)})
    if not keys:
        return []
    volumes = await uow.facts.daily_volumes(keys, rules.spike_baseline_days)
    spiking = [v for v in volumes if R.spike_alert(v, now, rules)]
    if not spiking:
        return []
    ids = await uow.facts.day_report_ids([(v.producer_id, v.material, v.type,
                                           date.fromisoformat(v.day), v.province_code)
                                          for v in spiking])
    return [a for v, day_ids in zip(spiking, ids)
            if (a := R.spike_alert(replace(v, report_ids=day_ids), now, rules))]


async def _transfers(uow: AlertingUnitOfWork, new: list[SupervisionRecord]) -> None:
    """Sales wait until the buyer's purchase names them (either may arrive first)."""
    await uow.transfers.add_sales([
        R.PendingSale(r.producer_id, r.report_id, r.report.counterparty.id, r.province_code,
                      r.report.occurred_at) for r in new if _is_sale(r)])
    await uow.transfers.confirm([
        (r.producer_id, r.report.counterparty_report_id,
         r.report.counterparty.id if r.report.counterparty else None)
        for r in new if _is_purchase(r)])


async def sweep_transfers(uow: AlertingUnitOfWork, now: datetime, rules: Rules) -> list[Alert]:
    """UNCONFIRMED_TRANSFER for sales past their window (by the injected clock `now`) that have
    been pending for at least the grace period (by the database clock)."""
    async with uow:
        due = await uow.transfers.take_due(now - timedelta(hours=rules.transfer_window_hours),
                                           timedelta(seconds=rules.transfer_grace_seconds))
        return await _store(uow, [R.unconfirmed_alert(s, now, rules) for s in due
                                  if R.transfer_due(s, now, rules)])


async def sweep_balances(uow: AlertingUnitOfWork, now: datetime, rules: Rules,
                         limit: int = 20_000) -> list[Alert]:
    """MASS_BALANCE for every sale or export settled since the last sweep: the facility's
    balance of that material as of the outflow's occurred_at (event time). Outflows are judged
    once settled for `mass_settle_seconds`, against every input seen by then, so that an input
    still in flight on another partition does not make its own sale look unexplained. Settled
    facts are folded into running totals once (cost per sweep: the facts settled since the last
    one, not the history). One sweeper at a time; another instance skips while one runs."""
    async with uow:
        if not await uow.locks.try_sweep():
            return []
        settled = await uow.balances.take_settled(
            timedelta(seconds=rules.mass_settle_seconds), limit)
        if not settled:
            return []
        totals = await uow.balances.fold(_flows(settled))
        outflows = sorted((f for f in settled if f["type"] in R.OUTFLOWS),
                          key=lambda f: (f["facility_id"], f["material"], f["occurred_at"],
                                         f["report_id"]))
        around = await uow.balances.around(outflows) if outflows else []
        opening = await uow.balances.opening(sorted(totals))
        alerts, state = [], {}
        for o, (later_in, later_out, unsettled_in) in zip(outflows, around):
            key = (o["facility_id"], o["material"])
            inflow, outflow, alerted = totals[key]
            b = R.Balance(o["facility_id"], o["producer_id"], o["province_code"], o["material"],
                          inflow - later_in + unsettled_in, outflow - later_out,
                          state.get(key, alerted), [o["report_id"]],
                          opening.get(key, Decimal(0)))
            alert, state[key] = R.balance_decision(b, now, rules)
            if alert:
                alerts.append(alert)
        await uow.balances.set_alerted(state)
        return await _store(uow, alerts)


def _flows(facts) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
    out: dict[tuple[str, str], tuple[Decimal, Decimal]] = {}
    for f in facts:
        i, o = out.get((f["facility_id"], f["material"]), (Decimal(0), Decimal(0)))
        if f["type"] in R.INFLOWS:
            i += f["quantity_kg"]
        elif f["type"] in R.OUTFLOWS:
            o += f["quantity_kg"]
        out[(f["facility_id"], f["material"])] = (i, o)
    return out


async def unpublished(uow: AlertingUnitOfWork, older_than: timedelta = timedelta(seconds=10),
                      lease: timedelta = timedelta(seconds=30)) -> list[Alert]:
    """Alerts a crash left unpublished, claimed for `lease` (two instances never both send)."""
    async with uow:
        return await uow.alerts.claim_unpublished(older_than, lease)


async def mark_published(alert_ids: list[str], uow: AlertingUnitOfWork) -> None:
    async with uow:
        await uow.alerts.mark_published(alert_ids)


def alert_emits(alerts: list[Alert], trace_keys: dict[str, str]) -> list[Emit]:
    """Each alert to its province's topic and the national one; `trace_keys` names the input
    whose trace an alert continues."""
    out = []
    for a in (alert.bounded() for alert in alerts):
        slug = BY_CODE[a.province_code].slug
        tk = trace_keys.get(a.alert_id)
        out += [Emit(topics.alerts_topic(slug), a.alert_id, a, tk),
                Emit(topics.ALERTS_NATIONAL.name, a.alert_id, a, tk)]
    return out
