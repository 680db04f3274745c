from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from mintrace_common.chinatime import china_day


def test_the_china_day_of_an_evening_in_utc_is_the_next_date():
    assert china_day(datetime(2026, 11, 20, 17, 30, tzinfo=UTC)) == date(2026, 11, 21)
    assert china_day(datetime(2026, 11, 20, 15, 59, tzinfo=UTC)) == date(2026, 11, 20)


def test_the_offset_a_report_was_written_in_does_not_change_its_day():
    at = datetime(2026, 11, 21, 1, 0, tzinfo=timezone(timedelta(hours=8)))
    assert china_day(at) == china_day(at.astimezone(timezone(timedelta(hours=-5)))) \
        == date(2026, 11, 21)


def test_a_naive_datetime_is_refused():
    with pytest.raises(ValueError):
        china_day(datetime(2026, 11, 21))
