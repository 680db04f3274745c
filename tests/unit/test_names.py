"""One folding of party names for licences and the watchlist: Latin legal forms, Chinese script
(traditional/simplified, full-width, legal forms, region markers) and pinyin."""

import pytest

from mintrace_common.names import Watchlist, fold, same_party

LISTED = "香港华信贸易有限公司"
WATCHLIST = Watchlist([(LISTED, [], "front company"),
                       ("深圳市龙腾稀土进出口有限公司", ["Longteng Rare Earth"], "diversion"),
                       ("Oriental Transit Metals FZE", ["OTM FZE"], "diversion")], 88.0)


@pytest.mark.parametrize("a, b", [
    ("Hanse Magnetics GmbH", "HANSE MAGNETICS"),
    ("Korea Precision Alloys Co Ltd", "Korea Precision Alloys Co., Ltd."),
    ("Nippon Motor Materials KK", "Nippon Motor Materials K.K."),
    ("Milano Elettronica SpA", "Milano Elettronica S.p.A."),
    ("Great Lakes Magnet Corp", "Great Lakes Magnet, Inc."),
    ("Lyon Aero Components SA", "LYON  AERO\tCOMPONENTS S.A."),
    ("Société Générale Métaux SAS", "Societe Generale Metaux"),
    ("Rotterdam Metals BV", "Rotterdam Metals B.V."),
    ("Zürich Alloys AG", "ZURICH ALLOYS"),
    ("Delaware Magnets LLC", "Delaware Magnets L.L.C."),
    ("Lion City Metals Pte. Ltd.", "LION CITY METALS PTE LTD"),
    ("Mumbai Magnetics Pvt Ltd", "Mumbai Magnetics Private Limited"),
    ("Sunrise Alloy Holdings (HK) Limited", "Sunrise Alloy Holdings Ltd"),
    ("Ｈａｎｓｅ　Ｍａｇｎｅｔｉｃｓ　ＧｍｂＨ", "Hanse Magnetics"),
])
def test_latin_names_equal_after_case_punctuation_space_width_and_legal_form(a, b):
    assert fold(a).key == fold(b).key


@pytest.mark.parametrize("variant", [
    "香港華信貿易有限公司",            # traditional
    "香港华信贸易公司",                # suffix changed
    "华信贸易(香港)有限公司",          # region marker in parentheses
    "華信貿易（集團）有限公司",        # full-width parentheses, (集团)有限公司
    "香港华信贸易股份有限公司",
    "香港 华信 贸易 有限公司",
    "华信贸易集团",
])
def test_chinese_script_variants_fold_to_the_same_core(variant):
    assert fold(variant).han == fold(LISTED).han == "华信贸易"
    assert same_party(variant, "HK", LISTED, "hk")


@pytest.mark.parametrize("spelling", [
    "Xianggang Huaxin Maoyi Youxian Gongsi",
    "HuaXin MaoYi Co., Ltd.",
    "Hua Xin Mao Yi Limited",
    "huaxinmaoyi",
    "Huáxìn Màoyì Yǒuxiàn Gōngsī",
    "Hua2xin4 Mao4yi4 Youxian Gongsi",
    "Huaxin Maoyi (Hong Kong) Ltd",
    "ＨＵＡＸＩＮ　ＭＡＯＹＩ",
])
def test_pinyin_spellings_fold_to_the_syllables_of_the_chinese_name(spelling):
    assert fold(spelling).syllables == fold(LISTED).syllables == ("hua", "xin", "mao", "yi")
    assert same_party(spelling, "HK", "華信貿易（香港）有限公司", "HK")


@pytest.mark.parametrize("party", [
    "香港華信貿易有限公司", "华信贸易(香港)有限公司", "華信貿易（集團）有限公司",
    "Xianggang Huaxin Maoyi Youxian Gongsi", "HUAXIN MAOYI CO LTD", "Huáxìn Màoyì",
])
def test_every_written_form_of_a_listed_chinese_name_is_screened(party):
    hit = WATCHLIST.match(party)
    assert hit is not None and hit.listed == LISTED


def test_a_listed_name_with_a_city_prefix_matches_in_pinyin_and_traditional_script():
    assert WATCHLIST.match("深圳市龍騰稀土進出口有限公司").listed == "深圳市龙腾稀土进出口有限公司"
    assert WATCHLIST.match("Shenzhenshi Longteng Xitu Jinchukou Youxian Gongsi").listed \
        == "深圳市龙腾稀土进出口有限公司"


@pytest.mark.parametrize("near_miss", [
    "香港华信物流有限公司",             # shares the trade name, other business
    "Xianggang Huaxin Wuliu Youxian Gongsi",
    "深圳华信贸易有限公司",             # same trade name, another city
    "华兴贸易有限公司",                 # one character apart
    "Huaxing Maoyi Co Ltd",            # one syllable apart
    "中华信达贸易有限公司",
    "香港龙腾物流有限公司",
    "Longteng Logistics Ltd",
    "Hua Xin",
])
def test_names_sharing_a_word_with_a_listed_name_do_not_match(near_miss):
    assert WATCHLIST.match(near_miss) is None


def test_distinct_names_stay_distinct():
    assert fold("Hanse Magnetics GmbH").key != fold("Hanse Magnet GmbH").key
    assert fold("Co Ltd Holdings").key != fold("Holdings").key
    assert not same_party("香港华信贸易有限公司", "HK", "香港华信物流有限公司", "HK")
    assert not same_party("华信贸易有限公司", "HK", "华新贸易有限公司", "HK")  # homophones in script


def test_a_name_of_legal_forms_only_is_kept_rather_than_emptied():
    assert fold("Co. Ltd.").latin == "co ltd"
    assert fold("有限公司").han == "有限公司"


def test_same_party_needs_the_same_country():
    assert same_party("Hanse Magnetics GmbH", "DE", "hanse magnetics", "de")
    assert not same_party("Hanse Magnetics GmbH", "DE", "Hanse Magnetics GmbH", "AT")
    assert not same_party("香港華信貿易有限公司", "HK", LISTED, "CN")


def test_a_watchlist_scores_each_party_name_once():
    wl = Watchlist([("Rosoboron Trading FZE", ["Rosoboron Trade"], "sanctions")], 85)
    calls: list[str] = []
    score_once = wl._match
    wl._match = lambda name: calls.append(name) or score_once(name)
    first = wl.match("ROSOBORON TRADING F.Z.E.")
    assert first is not None and first.listed == "Rosoboron Trading FZE"
    assert wl.match("ROSOBORON TRADING F.Z.E.") is first
    assert wl.match("Acme Metals GmbH") is None and wl.match("Acme Metals GmbH") is None
    assert calls == ["ROSOBORON TRADING F.Z.E.", "Acme Metals GmbH"]
