"""Export-licence matching: a pure decision per report against the licence it names.
No broker, no database: the service (service.py) feeds it locked licence rows and persists the
result."""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal

from mintrace_common.chinatime import china_day
from mintrace_common.materials import is_controlled
from mintrace_common.models import LicenceEvent, ValidatedReport
from mintrace_common.names import same_party
from mintrace_common.refusals import Refusal


Key = tuple[str, str]  # (producer_id, report_id)
Use = tuple[Key, Decimal]  # (the cancelled report whose restored quota is drawn, kg drawn)


@dataclass
class Restoration:
    """Quota a cancellation gave back to a licence that no export has drawn again yet."""

    key: Key
    unused_kg: Decimal


@dataclass
class LicenceState:
    licence_number: str
    exporter_id: str
    materials: tuple[str, ...]
    remaining_kg: Decimal
    destination_country: str
    valid_from: date
    valid_to: date
    status: str
    consignee: tuple[str, str] = ("", "")  # (name, country)
    end_user: tuple[str, str] = ("", "")
    restored: list[Restoration] = field(default_factory=list)  # oldest first


@dataclass(frozen=True)
class Outcome:
    status: str  # matched | refused | not_required
    licence_number: str | None
    reasons: tuple[str, ...]
    quantity_kg: Decimal | None
    remaining_kg: Decimal | None
    cancelled_at: datetime | None = None
    restored_used: tuple[Use, ...] = ()  # restored quota this export depends on

    @property
    def awaiting(self) -> bool:
        """A cancellation that arrived before its report: the report is still to be decided."""
        return self.status == "refused" and self.reasons == (Refusal.CANCELLED,)


def requires_licence(report: ValidatedReport) -> bool:
    return report.report.type == "export" and is_controlled(report.report.material)


def licence_number_of(report: ValidatedReport) -> str | None:
    export = report.report.export
    return export.licence_number if export and export.licence_number else None


def problems(report: ValidatedReport, licence: LicenceState) -> list[str]:
    """Every reason the licence does not cover this export, quantity aside."""
    r = report.report
    reasons: list[Refusal] = []
    if licence.status == "revoked":
        reasons.append(Refusal.REVOKED)
    elif licence.status == "suspended":
        reasons.append(Refusal.SUSPENDED)
    day = china_day(r.occurred_at)
    if day > licence.valid_to:
        reasons.append(Refusal.EXPIRED)
    elif day < licence.valid_from:
        reasons.append(Refusal.NOT_YET_VALID)
    if licence.exporter_id != r.producer_id:
        reasons.append(Refusal.WRONG_EXPORTER)
    if r.material not in licence.materials:
        reasons.append(Refusal.MATERIAL_NOT_COVERED)
    export = r.export
    if export is None or export.destination_country.upper() != licence.destination_country.upper():
        reasons.append(Refusal.DESTINATION_MISMATCH)
    if export is None or not same_party(export.consignee.name, export.consignee.country,
                                        *licence.consignee):
        reasons.append(Refusal.CONSIGNEE_MISMATCH)
    if export is None or not same_party(export.end_user.name, export.end_user.country,
                                        *licence.end_user):
        reasons.append(Refusal.END_USER_MISMATCH)
    return reasons


def decide(report: ValidatedReport, licence: LicenceState | None) -> Outcome:
    """Decide one export; on `matched` the caller's `licence.remaining_kg` is drawn down.
    A refusal never touches the licence."""
    if not requires_licence(report):
        return Outcome("not_required", None, (), None, None)
    qty = report.quantity_kg
    if licence is None:
        return Outcome("refused", licence_number_of(report), (Refusal.UNLICENSED,), qty, None)
    reasons = problems(report, licence)
    if not reasons and qty > licence.remaining_kg:
        reasons.append(Refusal.QUANTITY_EXCEEDED)
    if reasons:
        return Outcome("refused", licence.licence_number, tuple(reasons), qty,
                       licence.remaining_kg)
    used = draw_restored(licence, qty)
    licence.remaining_kg -= qty
    return Outcome("matched", licence.licence_number, (), qty, licence.remaining_kg,
                   restored_used=used)


def draw_restored(licence: LicenceState, qty: Decimal) -> tuple[Use, ...]:
    """The restored quota a draw of `qty` depends on: what it takes beyond the balance the
    licence would have had without any cancellation's restoration, oldest restoration first.
    What is taken is no longer unused."""
    own = licence.remaining_kg - sum((r.unused_kg for r in licence.restored), Decimal(0))
    need = qty - max(own, Decimal(0))
    used: list[Use] = []
    left: list[Restoration] = []
    for r in licence.restored:
        take = min(r.unused_kg, max(need, Decimal(0)))
        if take > 0:
            used.append((r.key, take))
            need -= take
        if r.unused_kg > take:
            left.append(Restoration(r.key, r.unused_kg - take))
    licence.restored = left
    return tuple(used)


def restore(licence: LicenceState | None, key: Key, kg: Decimal) -> None:
    """A cancellation gives `kg` back to the licence (none for a refused export)."""
    if licence is not None and kg > 0:
        licence.remaining_kg += kg
        licence.restored.append(Restoration(key, kg))


def decide_cancelled(report: ValidatedReport, licence: LicenceState | None,
                     at: datetime) -> Outcome:
    """A report whose cancellation arrived first, decided as submitted (a refusal stands and
    raises its alert downstream). It ships nothing: what it drew is given back at once, and it
    reuses no restored quota."""
    pool = list(licence.restored) if licence is not None else []
    outcome = replace(decide(report, licence), cancelled_at=at, restored_used=())
    if licence is not None:
        licence.restored = pool
    if outcome.status == "matched":
        restore(licence, key_of(report), outcome.quantity_kg)
        outcome = replace(outcome, remaining_kg=licence.remaining_kg)
    return outcome


def key_of(report: ValidatedReport) -> Key:
    return report.producer_id, report.report_id


def licence_numbers(reports: Iterable[ValidatedReport]) -> list[str]:
    """The licences a batch needs, sorted: the order every transaction locks them in."""
    return sorted({n for r in reports if requires_licence(r)
                   and (n := licence_number_of(r)) is not None})


@dataclass
class Decisions:
    by_key: dict[Key, tuple[Outcome, datetime]]
    new: list[tuple[ValidatedReport, Outcome]] = field(default_factory=list)
    late: list[tuple[ValidatedReport, Outcome]] = field(default_factory=list)  # cancelled first
    drawn: dict[str, Decimal] = field(default_factory=dict)
    restored: list[tuple[str, Key, Decimal, datetime]] = field(default_factory=list)
    used: list[Use] = field(default_factory=list)


def decide_all(reports: list[ValidatedReport], licences: dict[str, LicenceState],
               known: dict[Key, tuple[Outcome, datetime]], now: datetime) -> Decisions:
    """Decide, in offset order, every report not decided before (`known`); a report seen twice
    in the batch is decided once, and one whose cancellation came first (`known` awaiting) is
    decided now and its draw given back (`late`). `new` and `late` are sorted by key (the order
    rows are written in, so that concurrent writers wait for each other instead of
    deadlocking); `drawn` is what each licence gives up, `restored` the quota given back
    (licence, report, kg, cancelled_at) and `used` the restored quota drawn again."""
    before = {n: s.remaining_kg for n, s in licences.items()}
    out = Decisions({k: v for k, v in known.items() if not v[0].awaiting})
    for report in reports:
        key = key_of(report)
        if key in out.by_key:
            continue
        number = licence_number_of(report)
        licence = licences.get(number) if number else None
        early = known.get(key)
        if early is None:
            outcome = decide(report, licence)
            out.new.append((report, outcome))
            out.used.extend(outcome.restored_used)
        else:
            at = early[0].cancelled_at
            outcome = decide_cancelled(report, licence, at)
            out.late.append((report, outcome))
            if outcome.status == "matched":
                out.restored.append((outcome.licence_number, key, outcome.quantity_kg, at))
        out.by_key[key] = (outcome, now)
    out.new.sort(key=lambda x: key_of(x[0]))
    out.late.sort(key=lambda x: key_of(x[0]))
    out.drawn = {n: before[n] - s.remaining_kg for n, s in licences.items()
                 if s.remaining_kg != before[n]}
    return out


def restored_per_licence(restored: Iterable[tuple[str | None, Decimal]]) -> dict[str, Decimal]:
    """What cancelled decisions (licence_number, restored_kg) give back to each licence."""
    back: dict[str, Decimal] = defaultdict(Decimal)
    for number, kg in restored:
        if number is not None and kg > 0:
            back[number] += kg
    return dict(back)


@dataclass(frozen=True)
class Change:
    """What a licence event does to its licence: `status` and/or `max_quantity_kg`, or the full
    licence (`upsert`)."""

    upsert: bool = False
    status: str | None = None
    max_quantity_kg: Decimal | None = None


_STATUS_AFTER = {"suspended": "suspended", "revoked": "revoked", "reinstated": "active"}


def judge_event(e: LicenceEvent, status: str | None,
                last_event_at: datetime | None) -> tuple[str, Change | None]:
    """(outcome, change to apply) of one licensing-authority event against its licence as it
    stands (`status` None: unknown licence). An event older than the last one applied is stale;
    revoked is final."""
    if last_event_at is not None and e.occurred_at < last_event_at:
        return "stale", None
    if e.type in ("issued", "amended"):
        if e.licence is None or e.licence.licence_number != e.licence_number:
            return "invalid: needs the full licence under the same licence_number", None
        if status == "revoked" and e.licence.status != "revoked":
            return "ignored: revoked is final", None
        return "applied", Change(upsert=True)
    if status is None:
        return "ignored: unknown licence", None
    if e.type == "quantity_changed":
        if e.max_quantity_kg is None or e.max_quantity_kg < 0:
            return "invalid: needs max_quantity_kg >= 0", None
        return "applied", Change(max_quantity_kg=e.max_quantity_kg)
    after = _STATUS_AFTER[e.type]
    if status == "revoked" and after != "revoked":
        return "ignored: revoked is final", None
    return "applied", Change(status=after)
