"""Every validation rule, table-driven: a valid case and at least one invalid case each, with
the code and field path the producer sees."""

from datetime import UTC, datetime, timedelta

import pytest

from mintrace_common import examples
from mintrace_common.models import Report
from mintrace_validation.rules import RegistryView, check, warnings

NOW = datetime(2026, 11, 21, tzinfo=UTC)
P = "91360700MA0000001T"          # a USCC with a valid check digit
CN_BUYER = "91430100MA0000005J"
LEI = "5299000J2N45DDNE4Y28"      # valid ISO 17442 check digits
REGISTRY = RegistryView(producers=frozenset({P}),
                        facilities={"JX-GZ-SEP-01": (P, ("separation", "trading", "mining")),
                                    "OTHER-01": ("91150200MA0000003M", ("mining",))})
EXPORT = {**examples.REPORT, "producer_id": P}
CN_PARTY = {"name": "Hunan Antimony", "country": "CN", "id": CN_BUYER}
DOMESTIC_SALE = {**EXPORT, "type": "domestic_sale", "export": None, "counterparty": CN_PARTY,
                 "value": {"amount": "1000", "currency": "CNY"}}
PURCHASE = {**DOMESTIC_SALE, "type": "domestic_purchase", "counterparty_report_id": "HN-1"}
MINING = {**EXPORT, "type": "mining_output", "stage": "mining", "export": None, "value": None,
          "counterparty": None, "inputs": None, "material": "REO-concentrate",
          "form": "concentrate", "hs_code": "2530.90"}
PROCESSING = {**MINING, "type": "processing_output", "stage": "separation", "material": "Dy",
              "form": "oxide", "hs_code": "2846.90",
              "inputs": [{"lot_id": "L1", "quantity": {"value": "5", "unit": "t"}}]}


def report(base: dict, **changes) -> Report:
    return Report.model_validate({**base, **changes})


def problems(base: dict = EXPORT, **changes) -> list[tuple[str, str]]:
    return [(p.code, p.path) for p in check(report(base, **changes), REGISTRY, NOW)]


VALID = {"export": EXPORT, "domestic_sale": DOMESTIC_SALE, "domestic_purchase": PURCHASE,
         "mining_output": MINING, "processing_output": PROCESSING,
         "import": {**DOMESTIC_SALE, "type": "import", "counterparty": EXPORT["counterparty"]}}


@pytest.mark.parametrize("kind", VALID)
def test_a_valid_report_of_each_type_has_no_problem(kind):
    assert problems(VALID[kind]) == []


def _export_with(**export_changes) -> dict:
    return {**EXPORT, "export": {**EXPORT["export"], **export_changes}}


INVALID = [
    # (rule, base report, changes, expected (code, path))
    ("producer USCC check digit", EXPORT, {"producer_id": "91360700MA0000001X"},
     ("PRODUCER_ID_INVALID", "producer_id")),
    ("producer registered", EXPORT, {"producer_id": "91150200MA0000003M"},
     ("PRODUCER_UNKNOWN", "producer_id")),
    ("facility registered", EXPORT, {"facility_id": "NOWHERE"},
     ("FACILITY_UNKNOWN", "facility_id")),
    ("facility of this producer", EXPORT, {"facility_id": "OTHER-01"},
     ("FACILITY_UNKNOWN", "facility_id")),
    ("stage allowed at facility", EXPORT, {"stage": "smelting"}, ("STAGE_NOT_ALLOWED", "stage")),
    ("not in the future", EXPORT, {"occurred_at": (NOW + timedelta(hours=2)).isoformat()},
     ("OCCURRED_IN_FUTURE", "occurred_at")),
    ("export needs export block", EXPORT, {"export": None}, ("EXPORT_BLOCK_REQUIRED", "export")),
    ("export block only on exports", DOMESTIC_SALE, {"export": EXPORT["export"]},
     ("EXPORT_BLOCK_UNEXPECTED", "export")),
    ("export needs value", EXPORT, {"value": None}, ("VALUE_REQUIRED", "value")),
    ("domestic sale needs value", DOMESTIC_SALE, {"value": None}, ("VALUE_REQUIRED", "value")),
    ("export needs counterparty", EXPORT, {"counterparty": None},
     ("COUNTERPARTY_REQUIRED", "counterparty")),
    ("purchase needs counterparty", PURCHASE, {"counterparty": None},
     ("COUNTERPARTY_REQUIRED", "counterparty")),
    ("processing needs inputs", PROCESSING, {"inputs": None}, ("INPUTS_REQUIRED", "inputs")),
    ("processing needs non-empty inputs", PROCESSING, {"inputs": []},
     ("INPUTS_REQUIRED", "inputs")),
    ("purchase names the seller's report", PURCHASE, {"counterparty_report_id": None},
     ("COUNTERPARTY_REPORT_REQUIRED", "counterparty_report_id")),
    ("mining output at stage mining", MINING, {"stage": "trading"},
     ("TYPE_STAGE_MISMATCH", "stage")),
    ("processing output at a processing stage", PROCESSING, {"stage": "mining"},
     ("TYPE_STAGE_MISMATCH", "stage")),
    ("material comes in that form", EXPORT, {"material": "graphite", "form": "metal"},
     ("MATERIAL_FORM_INVALID", "form")),
    ("HS code fits material", EXPORT, {"hs_code": "8505.11"}, ("HS_CODE_MISMATCH", "hs_code")),
    ("HS code fits form", EXPORT, {"form": "metal", "hs_code": "2846.90"},
     ("HS_CODE_MISMATCH", "hs_code")),
    ("HS code of another material", MINING, {"material": "W", "form": "ore", "hs_code": "2617.10"},
     ("HS_CODE_MISMATCH", "hs_code")),
    ("currency ISO 4217", EXPORT, {"value": {"amount": "1", "currency": "ABC"}},
     ("CURRENCY_UNKNOWN", "value.currency")),
    ("currency is money", EXPORT, {"value": {"amount": "1", "currency": "XXX"}},
     ("CURRENCY_UNKNOWN", "value.currency")),
    ("counterparty country ISO 3166-1", EXPORT,
     {"counterparty": {"name": "X", "country": "XY"}}, ("COUNTRY_UNKNOWN", "counterparty.country")),
    ("destination ISO 3166-1", _export_with(destination_country="ZZ"), {},
     ("COUNTRY_UNKNOWN", "export.destination_country")),
    ("consignee country ISO 3166-1", _export_with(consignee={"name": "Y", "country": "QQ"}), {},
     ("COUNTRY_UNKNOWN", "export.consignee.country")),
    ("end user country ISO 3166-1",
     _export_with(end_user={"name": "Y", "country": "QQ", "end_use": "x"}), {},
     ("COUNTRY_UNKNOWN", "export.end_user.country")),
    ("export leaves China", _export_with(destination_country="CN"), {},
     ("EXPORT_DESTINATION_DOMESTIC", "export.destination_country")),
    ("domestic counterparty is Chinese", DOMESTIC_SALE, {"counterparty": EXPORT["counterparty"]},
     ("COUNTERPARTY_NOT_DOMESTIC", "counterparty.country")),
    ("CN counterparty USCC check digit", DOMESTIC_SALE,
     {"counterparty": {**CN_PARTY, "id": "91430100MA0000005K"}},
     ("PARTY_USCC_INVALID", "counterparty.id")),
    ("CN counterparty id is a USCC", DOMESTIC_SALE,
     {"counterparty": {**CN_PARTY, "id": LEI}}, ("PARTY_USCC_INVALID", "counterparty.id")),
    ("foreign LEI check digits", EXPORT,
     {"counterparty": {"name": "Hanse", "country": "DE", "id": "5299000J2N45DDNE4Y29"}},
     ("PARTY_LEI_INVALID", "counterparty.id")),
    ("consignee LEI check digits",
     _export_with(consignee={"name": "Hanse", "country": "DE", "id": "5299000J2N45DDNE4Y27"}), {},
     ("PARTY_LEI_INVALID", "export.consignee.id")),
]


@pytest.mark.parametrize("rule, base, changes, expected", INVALID, ids=[c[0] for c in INVALID])
def test_each_rule_rejects_its_case_with_code_and_path(rule, base, changes, expected):
    assert expected in problems(base, **changes)


@pytest.mark.parametrize("changes", [
    {"counterparty": {"name": "Hanse", "country": "DE", "id": "HRB 12345"}},  # not LEI-shaped
    {"counterparty": {"name": "Hanse", "country": "DE"}},
    {"occurred_at": (NOW + timedelta(minutes=5)).isoformat()},  # within the clock skew
    {"hs_code": "284690"}, {"hs_code": "2846.90.10"},
    {"form": "metal", "hs_code": "2805.30"},
])
def test_valid_variants_pass(changes):
    assert problems(EXPORT, **changes) == []


def test_all_problems_are_reported_at_once_in_a_stable_order():
    found = problems(EXPORT, facility_id="X", value=None, export=None, hs_code="8101",
                     counterparty={"name": "X", "country": "XY"})
    assert found == [("FACILITY_UNKNOWN", "facility_id"), ("EXPORT_BLOCK_REQUIRED", "export"),
                     ("VALUE_REQUIRED", "value"), ("HS_CODE_MISMATCH", "hs_code"),
                     ("COUNTRY_UNKNOWN", "counterparty.country")]


def test_a_report_older_than_the_late_limit_is_flagged_not_rejected():
    old = report(EXPORT, occurred_at=(NOW - timedelta(days=8)).isoformat())
    assert check(old, REGISTRY, NOW) == []
    assert [w.code for w in warnings(old, NOW)] == ["REPORTED_LATE"]
    assert warnings(old, NOW, late_after=timedelta(days=30)) == []
    assert warnings(report(EXPORT), NOW) == []


def test_a_chinese_counterparty_without_its_uscc_is_flagged():
    sale = report(DOMESTIC_SALE, counterparty={"name": "Hunan Antimony", "country": "CN"})
    assert check(sale, REGISTRY, NOW) == []
    assert [(w.code, w.path) for w in warnings(sale, NOW)] == [
        ("COUNTERPARTY_ID_MISSING", "counterparty.id")]
