"""Where a report goes (the province of its facility, per the registry at routing time) and what
it adds to the national rollup."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from mintrace_common import topics
from mintrace_common.kafka import Emit
from mintrace_common.models import LicensedReport, SupervisionRecord
from mintrace_common.provinces import BY_CODE

CHINA = timezone(timedelta(hours=8), "CST")  # China Standard Time has no DST
DOMESTIC = "CN"


class UnknownFacility(ValueError):
    """The facility has no registered province; the report cannot be routed."""


def supervision_record(report: LicensedReport, province_code: str | None,
                       now: datetime) -> SupervisionRecord:
    """The routed record, all decisions attached. Raises UnknownFacility."""
    province = BY_CODE.get(province_code or "")
    if province is None:
        raise UnknownFacility(f"facility {report.report.facility_id} has no known province "
                              f"({province_code!r})")
    return SupervisionRecord.extending(report, province_code=province.code,
                                       province_slug=province.slug, routed_at=now)


def emits(record: SupervisionRecord, redelivery: bool = False) -> list[Emit]:
    """The two records of one routed report: its province's topic and the national one."""
    if redelivery:
        record = record.model_copy(update={"redelivery": True})
    return [Emit(topics.supervision_topic(record.province_slug), record.report_id, record),
            Emit(topics.SUPERVISION_NATIONAL.name, record.report_id, record)]


def route(report: LicensedReport, province_code: str | None, now: datetime,
          redelivery: bool = False) -> list[Emit]:
    return emits(supervision_record(report, province_code, now), redelivery)


def day_of(record: SupervisionRecord) -> date:
    return record.report.occurred_at.astimezone(CHINA).date()


def destination(record: SupervisionRecord) -> str:
    """Exports go to their declared destination; every other movement stays in (or, for an
    import, arrives in) China."""
    export = record.report.export
    return export.destination_country if record.report.type == "export" and export else DOMESTIC


@dataclass(frozen=True)
class RollupKey:
    day: date
    province_code: str
    material: str
    type: str
    destination_country: str


@dataclass
class RollupDelta:
    quantity_kg: Decimal = Decimal(0)
    value_usd: Decimal = Decimal(0)
    report_count: int = 0
    non_usd_count: int = 0


def rollup_key(record: SupervisionRecord) -> RollupKey:
    return RollupKey(day_of(record), record.province_code, record.report.material,
                     record.report.type, destination(record))


def rollup(records: Iterable[SupervisionRecord]) -> dict[RollupKey, RollupDelta]:
    """What these reports add to the rollup. Values in currencies other than USD are not
    converted (the registry holds no exchange rates): they are left out of value_usd and counted
    in non_usd_count so the gap stays visible."""
    out: dict[RollupKey, RollupDelta] = {}
    for r in records:
        d = out.setdefault(rollup_key(r), RollupDelta())
        d.quantity_kg += r.quantity_kg
        d.report_count += 1
        if r.report.value is not None:
            if r.report.value.currency.upper() == "USD":
                d.value_usd += r.report.value.amount
            else:
                d.non_usd_count += 1
    return out
