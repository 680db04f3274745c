"""What intake refuses with 422 (SPEC §2 structure: types, enums, formats, ranges), table-driven:
one valid and at least one invalid case per rule, with the code and path the producer sees."""

import pytest
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from mintrace_common import examples
from mintrace_common.models import Report
from mintrace_intake.app import create_app
from mintrace_intake.bodies import problems_of

R = examples.REPORT


def problems(**changes) -> list[tuple[str, str]]:
    try:
        Report.model_validate({**R, **changes})
    except ValidationError as exc:
        return [(p.code, p.path) for p in problems_of(exc)]
    return []


def _with(block: str, **changes) -> dict:
    return {block: {**R[block], **changes}}


RULES = [
    # (rule, valid changes, invalid changes, (code, path))
    ("report_id pattern", {"report_id": "A.b_c-1"}, {"report_id": "has space"},
     ("SCHEMA_STRING_PATTERN_MISMATCH", "report_id")),
    ("report_id length", {"report_id": "x" * 64}, {"report_id": "x" * 65},
     ("SCHEMA_STRING_PATTERN_MISMATCH", "report_id")),
    ("schema_version", {"schema_version": 1}, {"schema_version": 2},
     ("SCHEMA_LITERAL_ERROR", "schema_version")),
    ("type enum", {"type": "import"}, {"type": "gift"}, ("SCHEMA_LITERAL_ERROR", "type")),
    ("stage enum", {"stage": "smelting"}, {"stage": "refining"}, ("SCHEMA_LITERAL_ERROR", "stage")),
    ("form enum", {"form": "metal"}, {"form": "powder"}, ("SCHEMA_LITERAL_ERROR", "form")),
    ("material enum", {"material": "NdFeB-magnet"}, {"material": "Unobtainium"},
     ("SCHEMA_LITERAL_ERROR", "material")),
    ("required field", {}, {"lot_id": None}, ("SCHEMA_STRING_TYPE", "lot_id")),
    ("no unknown fields", {}, {"colour": "red"}, ("SCHEMA_EXTRA_FORBIDDEN", "colour")),
    ("occurred_at has a zone", {"occurred_at": "2026-11-20T08:30:00Z"},
     {"occurred_at": "2026-11-20T08:30:00"}, ("SCHEMA_TIMEZONE_AWARE", "occurred_at")),
    ("occurred_at plausible", {"occurred_at": "1999-01-01T00:00:00Z"},
     {"occurred_at": "0001-01-01T00:00:00+14:00"},
     ("SCHEMA_OCCURRED_AT_IMPLAUSIBLE", "occurred_at")),
    ("hs_code format", {"hs_code": "284690"}, {"hs_code": "28.4690"},
     ("SCHEMA_STRING_PATTERN_MISMATCH", "hs_code")),
    ("quantity > 0", {"quantity": {"value": "0.001", "unit": "kg"}},
     {"quantity": {"value": "0", "unit": "kg"}}, ("SCHEMA_QUANTITY_TOO_SMALL", "quantity.value")),
    ("quantity finite", {"quantity": {"value": 1.5, "unit": "t"}},
     {"quantity": {"value": float("inf"), "unit": "kg"}},
     ("SCHEMA_FINITE_NUMBER", "quantity.value")),
    ("decimal strings are JSON numbers", {"quantity": {"value": "2.5E+2", "unit": "kg"}},
     {"quantity": {"value": "1_000", "unit": "kg"}}, ("SCHEMA_DECIMAL_FORMAT", "quantity.value")),
    ("no NaN", {}, {"quantity": {"value": "NaN", "unit": "kg"}},
     ("SCHEMA_DECIMAL_FORMAT", "quantity.value")),
    ("schema_version is the integer 1", {"schema_version": 1}, {"schema_version": True},
     ("SCHEMA_INT_TYPE", "schema_version")),
    ("occurred_at is a date-time string", {}, {"occurred_at": 1700000000},
     ("SCHEMA_DATETIME_FORMAT", "occurred_at")),
    ("quantity bounded", {"quantity": {"value": "1e12", "unit": "kg"}},
     {"quantity": {"value": "1e13", "unit": "kg"}},
     ("SCHEMA_QUANTITY_TOO_LARGE", "quantity.value")),
    ("quantity decimal places", {"quantity": {"value": "1.000001", "unit": "kg"}},
     {"quantity": {"value": "1.0000001", "unit": "kg"}},
     ("SCHEMA_TOO_MANY_DECIMAL_PLACES", "quantity.value")),
    ("quantity is a number", {}, {"quantity": {"value": True, "unit": "kg"}},
     ("SCHEMA_DECIMAL_TYPE", "quantity.value")),
    ("unit enum", {"quantity": {"value": "1", "unit": "t"}},
     {"quantity": {"value": "1", "unit": "lb"}},
     ("SCHEMA_LITERAL_ERROR", "quantity.unit")),
    ("input quantity > 0", {},
     {"inputs": [{"lot_id": "L", "quantity": {"value": "-1", "unit": "kg"}}]},
     ("SCHEMA_QUANTITY_TOO_SMALL", "inputs[0].quantity.value")),
    ("purity within 0-100", {"purity_pct": "100"}, {"purity_pct": "100.01"},
     ("SCHEMA_LESS_THAN_EQUAL", "purity_pct")),
    ("purity not negative", {"purity_pct": 0}, {"purity_pct": "-0.1"},
     ("SCHEMA_GREATER_THAN_EQUAL", "purity_pct")),
    ("amount not negative", {"value": {"amount": "0", "currency": "USD"}},
     {"value": {"amount": "-1", "currency": "USD"}}, ("SCHEMA_AMOUNT_TOO_SMALL", "value.amount")),
    ("currency format", {"value": {"amount": "1", "currency": "EUR"}},
     {"value": {"amount": "1", "currency": "usd"}},
     ("SCHEMA_STRING_PATTERN_MISMATCH", "value.currency")),
    ("country format", _with("counterparty", country="JP"), _with("counterparty", country="de"),
     ("SCHEMA_STRING_PATTERN_MISMATCH", "counterparty.country")),
    ("no control characters", _with("counterparty", name="Hanse — Magnetics"),
     _with("counterparty", name="Hanse\x00"),
     ("SCHEMA_STRING_PATTERN_MISMATCH", "counterparty.name")),
    ("port of exit UN/LOCODE", _with("export", port_of_exit="DEHAM"),
     _with("export", port_of_exit="Hamburg"),
     ("SCHEMA_STRING_PATTERN_MISMATCH", "export.port_of_exit")),
    ("transport mode enum", _with("export", transport_mode="air"),
     _with("export", transport_mode="teleport"), ("SCHEMA_LITERAL_ERROR", "export.transport_mode")),
]


@pytest.mark.parametrize("rule, valid, invalid, expected", RULES, ids=[r[0] for r in RULES])
def test_each_structural_rule_accepts_its_valid_case_and_names_the_invalid_one(
        rule, valid, invalid, expected):
    assert problems(**valid) == []
    assert expected in problems(**invalid)


def test_every_structural_problem_is_listed_at_once():
    found = problems(schema_version=2, quantity={"value": "-1", "unit": "lb"}, material="X",
                     colour="red")
    assert {p for _, p in found} >= {"schema_version", "quantity.value", "quantity.unit",
                                      "material", "colour"}


def test_the_served_openapi_document_describes_report_bodies_that_validate_the_example():
    doc = create_app().openapi()
    single = doc["paths"]["/v1/reports"]["post"]["requestBody"]["content"]["application/json"]
    batch = doc["paths"]["/v1/reports/batch"]["post"]["requestBody"]["content"]
    assert single["schema"] == {"$ref": "#/components/schemas/Report"}
    assert batch["application/json"]["schema"]["items"] == single["schema"]
    assert "application/x-ndjson" in batch
    for status in ("401", "409", "413", "422", "429"):
        assert status in doc["paths"]["/v1/reports"]["post"]["responses"]
    validator = Draft202012Validator({**single["schema"], "components": doc["components"]})
    assert not list(validator.iter_errors(R))
    assert list(validator.iter_errors({**R, "type": "gift"}))
