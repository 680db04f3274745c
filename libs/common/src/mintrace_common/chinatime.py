"""China Standard Time (UTC+8 all year, no DST): the business day of every daily figure —
rollup rows, volume-spike days, licence validity."""

from datetime import date, datetime, timedelta, timezone

CHINA = timezone(timedelta(hours=8), "CST")


def china_day(at: datetime) -> date:
    """The date `at` falls on in China. `at` must be timezone-aware."""
    if at.tzinfo is None:
        raise ValueError("china_day needs a timezone-aware datetime")
    return at.astimezone(CHINA).date()
