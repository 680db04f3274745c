from mintrace_common.provinces import BY_CODE, BY_SLUG, PROVINCES


def test_thirty_one_divisions_with_unique_codes_and_slugs():
    assert len(PROVINCES) == 31
    assert len(BY_CODE) == 31 and len(BY_SLUG) == 31


def test_contract_slugs():
    assert BY_CODE["150000"].slug == "inner-mongolia"
    assert BY_CODE["360000"].slug == "jiangxi"
    assert BY_CODE["430000"].slug == "hunan"
    assert BY_CODE["450000"].slug == "guangxi"
    assert BY_CODE["540000"].slug == "xizang"
    assert BY_CODE["650000"].slug == "xinjiang"
