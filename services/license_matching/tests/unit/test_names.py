import pytest

from mintrace_license_matching.names import normalise, same_party


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
])
def test_names_equal_after_case_punctuation_space_and_legal_suffix(a, b):
    assert normalise(a) == normalise(b)


def test_distinct_names_stay_distinct():
    assert normalise("Hanse Magnetics GmbH") != normalise("Hanse Magnet GmbH")
    assert normalise("Co Ltd Holdings") != normalise("Holdings")


def test_a_name_of_legal_forms_only_is_kept_rather_than_emptied():
    assert normalise("Co. Ltd.") == "co ltd"


def test_same_party_needs_the_same_country():
    assert same_party("Hanse Magnetics GmbH", "DE", "hanse magnetics", "de")
    assert not same_party("Hanse Magnetics GmbH", "DE", "Hanse Magnetics GmbH", "AT")
