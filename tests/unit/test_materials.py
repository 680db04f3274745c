"""The one table of HS headings per material and form, against SPEC §1."""

import pytest

from mintrace_common.materials import (CONTROLLED, FORMS, HEADINGS, MATERIALS, SPEC_TYPICAL,
                                       consistent, headings)


def test_every_material_has_headings_for_some_form_and_they_are_well_formed():
    assert set(HEADINGS) == set(MATERIALS)
    for material, forms in HEADINGS.items():
        assert set(forms) <= set(FORMS), material
        for form, codes in forms.items():
            assert codes and all(h.replace(".", "").isdigit() for h in codes), material


def test_every_controlled_material_has_its_spec_headings():
    assert set(SPEC_TYPICAL) == set(CONTROLLED)


@pytest.mark.parametrize("material", sorted(SPEC_TYPICAL))
def test_each_typical_spec_heading_is_admitted_for_some_form(material):
    for code in SPEC_TYPICAL[material]:
        assert any(consistent(material, form, code) for form in HEADINGS[material]), \
            (material, code)


def test_a_code_under_another_materials_heading_is_not_consistent():
    assert consistent("Dy", "oxide", "2846.90.19")
    assert not consistent("Dy", "oxide", "8112.92")
    assert headings("graphite", "metal") is None
