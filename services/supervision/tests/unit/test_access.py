import pytest

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


def test_cursor_round_trips_and_refuses_another_listing_or_garbage():
    c = pages.encode("alerts", ["2026-11-20T00:00:00+00:00", "a-1"])
    assert pages.decode("alerts", c, 2) == ["2026-11-20T00:00:00+00:00", "a-1"]
    with pytest.raises(pages.BadCursor):
        pages.decode("reports", c, 1)
    with pytest.raises(pages.BadCursor):
        pages.decode("alerts", "%%%not-base64", 2)
