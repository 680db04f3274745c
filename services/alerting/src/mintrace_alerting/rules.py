"""Alert rules as pure functions: of the routed report itself (licence, watchlist, price,
transshipment), or of the facts the store hands them (split shipments, volume spikes, mass
balance, unconfirmed transfers). No broker, no database."""

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from mintrace_common.materials import is_controlled
from mintrace_common.models import Alert, SupervisionRecord
from mintrace_common.refusals import INVALID, alert_type
from mintrace_common.names import Watchlist

from .config import Rules

SALES = ("domestic_sale", "export")
INFLOWS = ("mining_output", "processing_output", "domestic_purchase", "import")
OUTFLOWS = ("domestic_sale", "export")


def alert_id(type_: str, *parts: str) -> str:
    """Deterministic: the same condition always yields the same id (de-duplication key)."""
    digest = hashlib.sha256("\x1f".join((type_, *parts)).encode()).hexdigest()[:24]
    return f"{type_.lower()}-{digest}"


def _alert(type_: str, severity: str, province: str, producer: str, report_ids: list[str],
           summary: str, now: datetime, rules: Rules, details: dict, *id_parts: str) -> Alert:
    return Alert(alert_id=alert_id(type_, producer, *id_parts), type=type_, severity=severity,
                 province_code=province, producer_id=producer, report_ids=report_ids,
                 summary=summary, raised_at=now, rule_version=rules.version, details=details)


def licence_alerts(rec: SupervisionRecord, now: datetime, rules: Rules = Rules()) -> list[Alert]:
    d = rec.licence
    if d.status != "refused":
        return []
    r = rec.report
    reasons = set(d.reasons)
    dest = r.export.destination_country if r.export else "?"
    what = f"{rec.quantity_kg} kg {r.material} ({r.form}) to {dest}"
    type_ = alert_type(reasons)
    if type_ == "UNLICENSED_EXPORT":
        severity, summary = "critical", f"export of {what} without a valid export licence"
    elif type_ == "LICENCE_INVALID":
        severity = "high"
        summary = (f"export of {what} under licence {d.licence_number} refused: "
                   f"{', '.join(sorted(reasons & INVALID))}")
    elif type_ == "LICENCE_QUANTITY_EXCEEDED":
        severity = "high"
        summary = (f"export of {what} exceeds the remaining {d.remaining_kg} kg of licence "
                   f"{d.licence_number}")
    else:
        return []
    return [_alert(type_, severity, rec.province_code, rec.producer_id, [rec.report_id], summary,
                   now, rules, {"licence_number": d.licence_number, "reasons": sorted(reasons)},
                   rec.report_id)]


RESTORED_QUOTA_REUSED = "restored_quota_reused"


def restored_quota_alerts(rec: SupervisionRecord, now: datetime,
                          rules: Rules = Rules()) -> list[Alert]:
    """A matched export that ships only because an earlier export of the same licence was
    cancelled (license-matching names the cancelled reports whose restored quota it draws):
    one alert per (cancelled, reusing) pair, to review whether the cancelled export shipped."""
    d = rec.licence
    if d.status != "matched":
        return []
    r = rec.report
    dest = r.export.destination_country if r.export else "?"
    return [_alert("LICENCE_QUANTITY_EXCEEDED", "high", rec.province_code, rec.producer_id,
                   [use.report_id, rec.report_id],
                   f"{use.quantity_kg} kg of licence {d.licence_number} restored by cancelling "
                   f"report {use.report_id} was reused by report {rec.report_id} "
                   f"({rec.quantity_kg} kg {r.material} to {dest}): without the cancellation it "
                   f"would exceed the licence", now, rules,
                   {"reason": RESTORED_QUOTA_REUSED, "licence_number": d.licence_number,
                    "cancelled_report_id": use.report_id, "reused_kg": str(use.quantity_kg)},
                   RESTORED_QUOTA_REUSED, use.report_id, rec.report_id)
            for use in d.restored_quota_used]


def parties(rec: SupervisionRecord) -> list[tuple[str, str]]:
    """(role, name) of every party of a report a watchlist applies to."""
    r = rec.report
    out = [("counterparty", r.counterparty.name)] if r.counterparty else []
    if r.export:
        out += [("consignee", r.export.consignee.name), ("end_user", r.export.end_user.name)]
    return out


def watchlist_alerts(rec: SupervisionRecord, watchlist: Watchlist, now: datetime,
                     rules: Rules) -> list[Alert]:
    hits = {}
    for role, name in parties(rec):
        hit = watchlist.match(name)
        if hit and (hit.listed not in hits or hit.score > hits[hit.listed][1].score):
            hits[hit.listed] = (role, hit)
    if not hits:
        return []
    listed, (role, hit) = max(hits.items(), key=lambda kv: kv[1][1].score)
    r = rec.report
    return [_alert("WATCHLIST_COUNTERPARTY", "critical" if r.type == "export" else "high",
                   rec.province_code, rec.producer_id, [rec.report_id],
                   f"{r.type} of {rec.quantity_kg} kg {r.material}: {role} {hit.name!r} matches "
                   f"watchlist entry {listed!r} (score {hit.score})", now, rules,
                   {"role": role, "name": hit.name, "listed": listed, "matched": hit.matched,
                    "score": hit.score, "reason": hit.reason,
                    "all": sorted(hits)}, rec.report_id)]


def declared_usd(rec: SupervisionRecord) -> Decimal | None:
    """The value routing converted at the registry's rate (None: no rate, the record carries
    FX_RATE_MISSING); a record routed before conversions existed counts only if in USD."""
    if rec.value_usd is not None:
        return rec.value_usd
    v = rec.report.value
    return v.amount if v is not None and v.currency.upper() == "USD" else None


def price_alerts(rec: SupervisionRecord, reference: dict[tuple[str, str], Decimal],
                 now: datetime, rules: Rules) -> list[Alert]:
    """Only the seller's declaration counts: a buyer's purchase mirrors the same invoice."""
    r = rec.report
    if r.type not in SALES or r.value is None or rec.quantity_kg <= 0:
        return []
    ref = reference.get((r.material, r.form))
    usd = declared_usd(rec)
    if not ref or usd is None:
        return []
    unit = usd / rec.quantity_kg
    ratio = unit / ref
    if rules.price_low_ratio <= ratio <= rules.price_high_ratio:
        return []
    low = ratio < rules.price_low_ratio
    return [_alert("PRICE_ANOMALY", "high" if low else "medium", rec.province_code,
                   rec.producer_id, [rec.report_id],
                   f"{r.type} of {rec.quantity_kg} kg {r.material} ({r.form}) declared at "
                   f"{unit:.2f} USD/kg, {ratio:.0%} of the reference {ref} USD/kg"
                   f"{' (possible under-invoicing)' if low else ''}", now, rules,
                   {"unit_usd_per_kg": str(round(unit, 4)), "reference_usd_per_kg": str(ref),
                    "ratio": str(round(ratio, 4)), "declared": f"{r.value.amount} "
                    f"{r.value.currency}"}, rec.report_id)]


def transshipment_alerts(rec: SupervisionRecord, now: datetime, rules: Rules) -> list[Alert]:
    r = rec.report
    if r.type != "export" or r.export is None or not is_controlled(r.material):
        return []
    dest, end = r.export.destination_country.upper(), r.export.end_user.country.upper()
    why = []
    if end != dest:
        why.append(f"end user in {end} but shipped to {dest}")
    if dest in rules.hubs(r.material):
        why.append(f"{dest} is a transshipment hub for {r.material}")
    if not why:
        return []
    return [_alert("TRANSSHIPMENT_RISK", "high", rec.province_code, rec.producer_id,
                   [rec.report_id], f"export of {rec.quantity_kg} kg {r.material}: "
                   + "; ".join(why), now, rules,
                   {"destination_country": dest, "end_user_country": end, "reasons": why},
                   rec.report_id)]


def stateless_alerts(rec: SupervisionRecord, watchlist: Watchlist,
                     reference: dict[tuple[str, str], Decimal], now: datetime,
                     rules: Rules) -> list[Alert]:
    return (licence_alerts(rec, now, rules) + restored_quota_alerts(rec, now, rules)
            + watchlist_alerts(rec, watchlist, now, rules)
            + price_alerts(rec, reference, now, rules) + transshipment_alerts(rec, now, rules))


# --- stateful rules: decisions over facts the store loaded -----------------------------------

@dataclass(frozen=True)
class Shipment:
    report_id: str
    occurred_at: datetime
    quantity_kg: Decimal


@dataclass(frozen=True)
class SplitGroup:
    producer_id: str
    province_code: str
    material: str
    consignee: str
    shipments: list[Shipment]       # every export of the group near the new ones
    new: frozenset[str]             # report_ids that arrived in this batch
    episodes: list[tuple[datetime, datetime]]  # (first_at, last_at) already alerted


def split_cluster(g: SplitGroup, rules: Rules) -> list[Shipment] | None:
    """The earliest window of small exports that together cross the review threshold and
    contains a new shipment, or None."""
    limit = rules.review_threshold_kg(g.material)
    window = timedelta(hours=rules.split_window_hours)
    small = sorted((s for s in g.shipments if s.quantity_kg < limit),
                   key=lambda s: (s.occurred_at, s.report_id))
    for i, first in enumerate(small):
        members = [s for s in small[i:] if s.occurred_at - first.occurred_at <= window]
        if (len(members) >= rules.split_min_shipments
                and sum(s.quantity_kg for s in members) > limit
                and any(s.report_id in g.new for s in members)):
            return members
    return None


def split_decision(g: SplitGroup, now: datetime, rules: Rules
                   ) -> tuple[Alert | None, tuple[datetime, datetime] | None, datetime | None]:
    """(alert, new episode, or the first_at of an existing episode the cluster extends)."""
    members = split_cluster(g, rules)
    if members is None:
        return None, None, None
    first, last = members[0].occurred_at, members[-1].occurred_at
    window = timedelta(hours=rules.split_window_hours)
    for ep_first, ep_last in g.episodes:
        if first <= ep_last + window and last >= ep_first - window:
            return None, None, ep_first
    total = sum(s.quantity_kg for s in members)
    ids = [s.report_id for s in members]
    alert = _alert("SPLIT_SHIPMENTS", "high", g.province_code, g.producer_id, ids,
                   f"{len(ids)} exports of {g.material} to {g.consignee!r} within "
                   f"{rules.split_window_hours:g} h, each under the "
                   f"{rules.review_threshold_kg(g.material)} kg review threshold, "
                   f"{total} kg together", now, rules,
                   {"material": g.material, "consignee": g.consignee, "total_kg": str(total),
                    "threshold_kg": str(rules.review_threshold_kg(g.material))},
                   g.material, g.consignee, ids[0])
    return alert, (first, last), None


@dataclass(frozen=True)
class DailyVolume:
    producer_id: str
    province_code: str
    material: str
    type: str
    day: str
    total_kg: Decimal
    report_ids: list[str]
    baseline_kg: Decimal        # sum over the baseline days
    baseline_days: int          # days with any volume among them


def spike_alert(v: DailyVolume, now: datetime, rules: Rules) -> Alert | None:
    if v.baseline_days < rules.spike_min_baseline_days:
        return None
    mean = v.baseline_kg / v.baseline_days
    if v.total_kg <= mean * rules.spike_factor or v.total_kg - mean < rules.spike_min_excess_kg:
        return None
    return _alert("VOLUME_SPIKE", "medium", v.province_code, v.producer_id, sorted(v.report_ids),
                  f"{v.type} of {v.material} on {v.day}: {v.total_kg} kg, "
                  f"{v.total_kg / mean:.1f}x the trailing {v.baseline_days}-day mean of "
                  f"{mean:.0f} kg", now, rules,
                  {"day": v.day, "total_kg": str(v.total_kg),
                   "baseline_mean_kg": str(round(mean, 3)),
                   "factor": str(rules.spike_factor)},
                  v.province_code, v.material, v.type, v.day)


@dataclass(frozen=True)
class Balance:
    facility_id: str
    producer_id: str
    province_code: str
    material: str
    inflow_kg: Decimal
    outflow_kg: Decimal
    alerted_deficit_kg: Decimal
    new_outflows: list[str]      # the outflow(s) the balance is taken at
    opening_kg: Decimal = Decimal(0)  # declared in the registry (opening_stocks); none: 0

    @property
    def held_kg(self) -> Decimal:
        return self.opening_kg + self.inflow_kg


def balance_decision(b: Balance, now: datetime, rules: Rules) -> tuple[Alert | None, Decimal]:
    """(alert, the alerted deficit to keep). A facility holds its declared opening stock plus
    what it reported mining, producing, buying or importing — a facility that declared none and
    reported none holds nothing, so whatever it ships came from nowhere (illegal mining,
    smuggling). A facility alerts again only once its deficit grows beyond what was already
    alerted, or after it was back in balance."""
    deficit = b.outflow_kg - b.held_kg
    if deficit <= 0:
        return None, Decimal(0)
    allowed = b.held_kg * rules.mass_tolerance_ratio + rules.mass_tolerance_kg
    if (deficit <= allowed or deficit <= b.alerted_deficit_kg + rules.mass_tolerance_kg
            or not b.new_outflows):
        return None, b.alerted_deficit_kg
    ids = sorted(b.new_outflows)
    source = (f"{b.opening_kg} kg declared opening stock and {b.inflow_kg} kg mined, produced "
              f"or bought" if b.opening_kg else f"{b.inflow_kg} kg mined, produced or bought")
    return _alert("MASS_BALANCE", "high", b.province_code, b.producer_id, ids,
                  f"facility {b.facility_id} reported {b.outflow_kg} kg of {b.material} sold or "
                  f"exported against {source} ({deficit} kg unexplained)", now, rules,
                  {"facility_id": b.facility_id, "material": b.material,
                   "opening_kg": str(b.opening_kg), "inflow_kg": str(b.inflow_kg),
                   "outflow_kg": str(b.outflow_kg), "deficit_kg": str(deficit),
                   "allowed_kg": str(allowed)},
                  b.facility_id, b.material, *ids), deficit


@dataclass(frozen=True)
class PendingSale:
    producer_id: str
    report_id: str
    buyer_id: str
    province_code: str
    occurred_at: datetime


def transfer_due(sale: PendingSale, now: datetime, rules: Rules) -> bool:
    return now > sale.occurred_at + timedelta(hours=rules.transfer_window_hours)


def unconfirmed_alert(sale: PendingSale, now: datetime, rules: Rules) -> Alert:
    return _alert("UNCONFIRMED_TRANSFER", "medium", sale.province_code, sale.producer_id,
                  [sale.report_id],
                  f"domestic sale {sale.report_id} to {sale.buyer_id} has no matching "
                  f"domestic_purchase by the buyer within {rules.transfer_window_hours:g} h",
                  now, rules, {"buyer_id": sale.buyer_id,
                               "occurred_at": sale.occurred_at.isoformat()}, sale.report_id)
