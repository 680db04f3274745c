from datetime import UTC, datetime

import pytest
from pydantic import AwareDatetime, TypeAdapter

from mintrace_supervision import pages
from mintrace_supervision.access import UnknownScope, check_scope, may_read


def test_provincial_key_reads_only_its_own_province():
    assert may_read("supervisor", "jiangxi", "jiangxi")
    assert not may_read("supervisor", "jiangxi", "hunan")
    assert not may_read("supervisor", "jiangxi", "national")


def test_national_key_reads_every_province_and_the_nation():
    assert may_read("supervisor", "national", "hunan")
    assert may_read("supervisor", "national", "national")


def test_producer_key_reads_no_supervision_data():
    assert not may_read("producer", "jiangxi", "jiangxi")


def test_scope_filters_on_the_province_code_or_nothing_for_national():
    assert check_scope("inner-mongolia") == "150000"
    assert check_scope("national") is None
    with pytest.raises(UnknownScope):
        check_scope("atlantis")


ALERT_KEY = TypeAdapter(tuple[AwareDatetime, str])
SEQ_KEY = TypeAdapter(tuple[int])


def test_cursor_round_trips_and_refuses_another_listing_or_garbage():
    c = pages.encode("alerts", [datetime(2026, 11, 20, tzinfo=UTC), "a-1"])
    assert pages.decode("alerts", c, ALERT_KEY) == (datetime(2026, 11, 20, tzinfo=UTC), "a-1")
    with pytest.raises(pages.BadCursor):
        pages.decode("reports", c, SEQ_KEY)
    with pytest.raises(pages.BadCursor):
        pages.decode("alerts", "%%%not-base64", ALERT_KEY)


@pytest.mark.parametrize("key", [["abc"], [1.5], [None], [[1]], [2**70], [1, 2]])
def test_cursor_whose_key_has_the_wrong_type_is_refused(key):
    with pytest.raises(pages.BadCursor):
        pages.decode("reports", pages.encode("reports", key), SEQ_KEY)


@pytest.mark.parametrize("key", [["9999-12-31T23:59:59-14:00", "a"], ["2026-11-20T00:00:00Z", "a\x00"],
                                 [[1], "a"], ["2026-11-20T00:00:00", "a"]])
def test_alert_cursor_with_an_unstorable_or_mistyped_key_is_refused(key):
    with pytest.raises(pages.BadCursor):
        pages.decode("alerts", pages.encode("alerts", key), ALERT_KEY)
