"""Where a report goes: the province of its facility, per the registry at routing time."""

from datetime import datetime

from mintrace_common import topics
from mintrace_common.kafka import Emit
from mintrace_common.models import LicensedReport, SupervisionRecord
from mintrace_common.provinces import BY_CODE


class UnknownFacility(ValueError):
    """The facility has no registered province; the report cannot be routed."""


def route(report: LicensedReport, province_code: str | None, now: datetime,
          redelivery: bool = False) -> list[Emit]:
    """The two records of one routed report: its province's topic and the national one."""
    province = BY_CODE.get(province_code or "")
    if province is None:
        raise UnknownFacility(f"facility {report.report.facility_id} has no known province "
                              f"({province_code!r})")
    record = SupervisionRecord(**report.model_dump(), province_code=province.code,
                               province_slug=province.slug, routed_at=now, redelivery=redelivery)
    return [Emit(topics.supervision_topic(province.slug), report.report_id, record),
            Emit(topics.SUPERVISION_NATIONAL.name, report.report_id, record)]
