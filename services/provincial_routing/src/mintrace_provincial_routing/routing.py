"""Where a report goes (the province of its facility, per the registry at routing time) and what
it adds to the national rollup."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from mintrace_common import topics
from mintrace_common.chinatime import china_day
from mintrace_common.kafka import Emit
from mintrace_common.fx import Rates, to_usd
from mintrace_common.models import (LicensedReport, Problem, RollupRow, RollupSummary,
                                    SupervisionRecord)
from mintrace_common.provinces import BY_CODE

DOMESTIC = "CN"
Key = tuple[str, str]  # (producer_id, report_id)


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
                       rates: Rates | None = None,
                       cancelled_at: datetime | None = None) -> SupervisionRecord:
    """The routed record, all decisions attached, its value converted at `rates`; cancelled
    when its producer's cancellation is known already (`cancelled_at`, or license-matching's).
    Raises UnknownFacility."""
    province = BY_CODE.get(province_code or "")
    if province is None:
        raise UnknownFacility(f"facility {report.report.facility_id} has no known province "
                              f"({province_code!r})")
    value_usd, warnings = valued(report, rates or {})
    return SupervisionRecord.extending(report, province_code=province.code,
                                       province_slug=province.slug, routed_at=now,
                                       value_usd=value_usd, warnings=warnings,
                                       cancelled_at=cancelled_at or report.licence.cancelled_at)


def cancelled(record: SupervisionRecord, at: datetime) -> SupervisionRecord:
    """The routed record as its producer cancelled it: every field as routed, `cancelled_at` set."""
    return record.model_copy(update={"cancelled_at": at, "redelivery": False})


def unconverted(records: Iterable[SupervisionRecord]) -> list[str]:
    """The currencies of values left unconverted, one entry per record (for the counter)."""
    return [r.report.value.currency for r in records
            if r.report.value is not None and r.value_usd is None]


def emits(record: SupervisionRecord, redelivery: bool = False,
          body: str | None = None) -> list[Emit]:
    """The two records of one routed report: its province's topic and the national one, encoded
    once (`body`: the record's JSON when the caller has it already)."""
    if redelivery:
        record, body = record.model_copy(update={"redelivery": True}), None
    data = (body or record.model_dump_json()).encode()
    return [Emit(topics.supervision_topic(record.province_slug), record.report_id, record,
                 body=data),
            Emit(topics.SUPERVISION_NATIONAL.name, record.report_id, record, body=data)]


def day_of(record: SupervisionRecord) -> date:
    return china_day(record.report.occurred_at)


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


def counted(records: Iterable[SupervisionRecord]) -> list[SupervisionRecord]:
    """What the rollup counts: a cancelled report is not."""
    return [r for r in records if r.cancelled_at is None]


def withdrawal(records: Iterable[SupervisionRecord]) -> dict[RollupKey, RollupDelta]:
    """What cancelling these counted reports takes back out of the rollup."""
    return {k: RollupDelta(-d.quantity_kg, -d.value_usd, -d.report_count, -d.non_usd_count)
            for k, d in rollup(records).items()}


def sorted_deltas(deltas: dict[RollupKey, RollupDelta]) -> list[tuple[RollupKey, RollupDelta]]:
    return sorted(deltas.items(), key=lambda kv: (kv[0].day, kv[0].province_code, kv[0].material,
                                                  kv[0].type, kv[0].destination_country))


def rollup_window(now: datetime, days: int) -> tuple[date, date]:
    """(first day, today) of a rollup of the last `days` China days."""
    today = china_day(now)
    return today - timedelta(days=days - 1), today


def summaries(rows: list[RollupRow], now: datetime, since: date,
              page_rows: int) -> list[RollupSummary]:
    """The rollup as pages of at most `page_rows` rows each (a record must stay well under
    the broker's message size limit however many provinces report); at least one page."""
    chunks = [rows[i:i + page_rows] for i in range(0, len(rows), page_rows)] or [[]]
    return [RollupSummary(generated_at=now, since=since, rows=chunk, page=n,
                          pages=len(chunks)) for n, chunk in enumerate(chunks, start=1)]
