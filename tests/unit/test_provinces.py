from mintrace_common.provinces import BY_CODE, BY_SLUG, NAMES_ZH, PROVINCES


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


def _stdnum_provinces() -> dict[str, str]:
    """GB/T 2260 provincial-level divisions from python-stdnum's cn/loc data (code → name)."""
    from stdnum import numdb

    db = numdb.get("cn/loc")
    out = {}
    for prefix in range(10, 100):
        for part, props in db.info(f"{prefix}0000"):
            if part == f"{prefix}" and "province" in props:
                out[f"{prefix}0000"] = props["province"]
    return out


# Taiwan, Hong Kong and Macao have GB/T 2260 codes but are not among the 31 mainland divisions.
NOT_MAINLAND = {"710000", "810000", "820000"}


def test_codes_are_exactly_the_31_mainland_divisions_of_gb_t_2260():
    reference = _stdnum_provinces()
    assert set(reference) - NOT_MAINLAND == set(BY_CODE)


def test_chinese_names_match_gb_t_2260():
    reference = _stdnum_provinces()
    assert {code: reference[code] for code in BY_CODE} == NAMES_ZH


def test_slugs_are_the_lower_case_hyphenated_english_names():
    for p in PROVINCES:
        assert p.slug == p.name.lower().replace(" ", "-")
        assert p.slug.replace("-", "").isalpha()
