"""Where a report goes (the province of its facility, per the registry at routing time) and what
it adds to the national rollup."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from mintrace_common import topics
from mintrace_common.fx import Rates, to_usd
from mintrace_common.kafka import Emit
from mintrace_common.models import LicensedReport, Problem, SupervisionRecord
from mintrace_common.provinces import BY_CODE

CHINA = timezone(timedelta(hours=8), "CST")  # China Standard Time has no DST
DOMESTIC = "CN"


class UnknownFacility(ValueError):
    """The facility has no registered province; the report cannot be routed."""


FX_RATE_MISSING = "FX_RATE_MISSING"


def valued(report: LicensedReport, rates: Rates) -> tuple[Decimal | None, list[Problem]]:
    """(value in USD, warnings): a value in a currency the registry has no rate for stays
    unconverted and the record says so with an FX_RATE_MISSING warning."""
    value = report.report.value
    if value is None:
        return None, list(report.warnings)
    usd = to_usd(value, rates)
    if usd is not None:
        return usd, list(report.warnings)
    return None, [*report.warnings, Problem(
        code=FX_RATE_MISSING, path="report.value.currency",
        message=f"no registry rate for {value.currency}: the value is not converted to USD")]


def supervision_record(report: LicensedReport, province_code: str | None, now: datetime,
                       rates: Rates | None = None) -> SupervisionRecord:
    """The routed record, all decisions attached, its value converted at `rates`.
    Raises UnknownFacility."""
    province = BY_CODE.get(province_code or "")
    if province is None:
        raise UnknownFacility(f"facility {report.report.facility_id} has no known province "
                              f"({province_code!r})")
    value_usd, warnings = valued(report, rates or {})
    return SupervisionRecord.extending(report, province_code=province.code,
                                       province_slug=province.slug, routed_at=now,
                                       value_usd=value_usd, warnings=warnings)


def unconverted(records: Iterable[SupervisionRecord]) -> list[str]:
    """The currencies of values left unconverted, one entry per record (for the counter)."""
    return [r.report.value.currency for r in records
            if r.report.value is not None and r.value_usd is None]


def emits(record: SupervisionRecord, redelivery: bool = False) -> list[Emit]:
    """The two records of one routed report: its province's topic and the national one."""
    if redelivery:
        record = record.model_copy(update={"redelivery": True})
    return [Emit(topics.supervision_topic(record.province_slug), record.report_id, record),
            Emit(topics.SUPERVISION_NATIONAL.name, record.report_id, record)]


def route(report: LicensedReport, province_code: str | None, now: datetime,
          redelivery: bool = False, rates: Rates | None = None) -> list[Emit]:
    return emits(supervision_record(report, province_code, now, rates), redelivery)


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
    """What these reports add to the rollup. value_usd sums the records' converted values; a
    value the registry had no rate for is left out of it and counted in non_usd_count, so the
    gap stays visible."""
    out: dict[RollupKey, RollupDelta] = {}
    for r in records:
        d = out.setdefault(rollup_key(r), RollupDelta())
        d.quantity_kg += r.quantity_kg
        d.report_count += 1
        if r.value_usd is not None:
            d.value_usd += r.value_usd
        elif r.report.value is not None:
            d.non_usd_count += 1
    return out
