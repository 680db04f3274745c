from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mintrace_common import examples
from mintrace_common.models import ValidatedReport
from mintrace_common.refusals import Refusal
from mintrace_license_matching.matching import LicenceState, decide, restore

REASONS = [r.value for r in Refusal if r is not Refusal.CANCELLED]

P = examples.REPORT["producer_id"]
HANSE = ("Hanse Magnetics GmbH", "DE")


def export(export_changes: dict | None = None, **changes) -> ValidatedReport:
    report = {**examples.REPORT, **changes}
    report["export"] = {**examples.REPORT["export"], **(export_changes or {})}
    q = report["quantity"]
    kg = Decimal(str(q["value"])) * (1000 if q["unit"] == "t" else 1)
    return ValidatedReport(producer_id=report["producer_id"], report_id=report["report_id"],
                           received_at=datetime.now(UTC), content_hash="0", report=report,
                           quantity_kg=kg, validated_at=datetime.now(UTC))


def licence(**changes) -> LicenceState:
    base = dict(licence_number="EL-2026-DY-00042", exporter_id=P, materials=("Dy",),
                remaining_kg=Decimal("1000"), destination_country="DE",
                valid_from=date(2026, 1, 1), valid_to=date(2026, 12, 31), status="active",
                consignee=HANSE, end_user=HANSE)
    return LicenceState(**{**base, **changes})


def test_export_within_balance_is_matched_and_draws_the_balance_down():
    lic = licence()
    outcome = decide(export(), lic)
    assert outcome.status == "matched" and outcome.reasons == ()
    assert outcome.remaining_kg == 750 and lic.remaining_kg == 750


def test_export_of_exactly_the_remaining_balance_is_matched_to_zero():
    lic = licence(remaining_kg=Decimal("250"))
    assert decide(export(), lic).status == "matched" and lic.remaining_kg == 0


def test_export_in_tonnes_draws_its_weight_in_kg():
    lic = licence(remaining_kg=Decimal("2000"))
    decide(export(quantity={"value": "1.5", "unit": "t"}), lic)
    assert lic.remaining_kg == 500


def test_export_without_licence_number_is_unlicensed():
    outcome = decide(export({"licence_number": None}), None)
    assert outcome.status == "refused" and outcome.reasons == ("UNLICENSED",)


# one case per reason code: the change to an otherwise valid licence or export that causes it
CASES = {
    "UNLICENSED": (None, {}, {}),
    "EXPIRED": ({"valid_to": date(2026, 1, 31)}, {}, {}),
    "NOT_YET_VALID": ({"valid_from": date(2026, 12, 1)}, {}, {}),
    "SUSPENDED": ({"status": "suspended"}, {}, {}),
    "REVOKED": ({"status": "revoked"}, {}, {}),
    "WRONG_EXPORTER": ({"exporter_id": "91110000MA0000001X"}, {}, {}),
    "MATERIAL_NOT_COVERED": ({"materials": ("Tb",)}, {}, {}),
    "DESTINATION_MISMATCH": ({}, {"destination_country": "US"}, {}),
    "CONSIGNEE_MISMATCH": ({}, {"consignee": {"name": "Oriental Transit Metals FZE",
                                              "country": "DE"}}, {}),
    "END_USER_MISMATCH": ({}, {"end_user": {"name": "Hanse Magnetics GmbH", "country": "AE"}},
                          {}),
    "QUANTITY_EXCEEDED": ({"remaining_kg": Decimal("249.999")}, {}, {}),
}


def test_every_reason_code_has_a_case():
    assert set(CASES) == set(REASONS)


@pytest.mark.parametrize("reason", REASONS)
def test_each_refusal_reason_refuses_alone_and_draws_nothing(reason):
    lic_changes, export_changes, report_changes = CASES[reason]
    lic = None if lic_changes is None else licence(**lic_changes)
    before = None if lic is None else lic.remaining_kg
    outcome = decide(export(export_changes, **report_changes), lic)
    assert outcome.status == "refused" and outcome.reasons == (reason,)
    assert lic is None or lic.remaining_kg == before


def test_all_reasons_of_an_invalid_licence_are_listed_and_quantity_is_not_judged():
    lic = licence(status="revoked", exporter_id="91110000MA0000001X", materials=("Tb",),
                  remaining_kg=Decimal("1"))
    outcome = decide(export({"destination_country": "US"}), lic)
    assert set(outcome.reasons) == {"REVOKED", "WRONG_EXPORTER", "MATERIAL_NOT_COVERED",
                                    "DESTINATION_MISMATCH"}


@pytest.mark.parametrize("consignee", [
    "HANSE MAGNETICS GMBH", "Hanse Magnetics", "hanse   magnetics, g.m.b.h.",
    "Hanse-Magnetics GmbH",
])
def test_consignee_spelled_differently_still_matches(consignee):
    outcome = decide(export({"consignee": {"name": consignee, "country": "DE"},
                             "end_user": {"name": consignee, "country": "DE"}}), licence())
    assert outcome.status == "matched", outcome


def test_consignee_with_another_name_or_country_does_not_match():
    other_country = export({"consignee": {"name": "Hanse Magnetics GmbH", "country": "AT"}})
    assert decide(other_country, licence()).reasons == ("CONSIGNEE_MISMATCH",)
    other_name = export({"consignee": {"name": "Hanse Magnet GmbH", "country": "DE"}})
    assert decide(other_name, licence()).reasons == ("CONSIGNEE_MISMATCH",)


def test_uncontrolled_material_or_non_export_needs_no_licence():
    assert decide(export(material="Nd"), None).status == "not_required"
    assert decide(export(type="domestic_sale"), None).status == "not_required"


@given(st.lists(st.decimals(min_value="0.001", max_value="900", places=3), max_size=60),
       st.decimals(min_value="0", max_value="5000", places=3))
def test_any_sequence_of_exports_never_overdraws_and_the_balance_is_licensed_minus_matched(
        quantities, licensed):
    lic = licence(remaining_kg=licensed)
    outcomes = [decide(export(quantity={"value": str(q), "unit": "kg"}), lic) for q in quantities]
    matched = sum((o.quantity_kg for o in outcomes if o.status == "matched"), Decimal(0))
    assert lic.remaining_kg >= 0 and lic.remaining_kg == licensed - matched
    for o in outcomes:
        assert o.status == "matched" or (o.reasons == ("QUANTITY_EXCEEDED",)
                                          and o.quantity_kg > o.remaining_kg)


@given(st.lists(st.tuples(st.decimals(min_value="0.001", max_value="400", places=3),
                          st.booleans()), max_size=40),
       st.decimals(min_value="0", max_value="2000", places=3))
def test_an_export_reuses_restored_quota_only_beyond_what_the_licence_holds_without_it(
        steps, licensed):
    """Exports in turn, each matched one cancelled again or not: an export names restored
    quota exactly when it would have exceeded the licence without the cancellations, never
    more than was restored, and the balance never goes below zero."""
    lic = licence(remaining_kg=licensed)
    restored: dict[str, Decimal] = {}
    reused: dict[str, Decimal] = {}
    for n, (q, cancel) in enumerate(steps):
        without = lic.remaining_kg - sum((r.unused_kg for r in lic.restored), Decimal(0))
        o = decide(export(report_id=f"R-{n}", quantity={"value": str(q), "unit": "kg"}), lic)
        assert lic.remaining_kg >= 0
        taken = sum((kg for _, kg in o.restored_used), Decimal(0))
        if o.status == "matched":
            assert taken == max(q - max(without, Decimal(0)), Decimal(0))
        else:
            assert taken == 0
        for (_, rid), kg in o.restored_used:
            reused[rid] = reused.get(rid, Decimal(0)) + kg
        if cancel and o.status == "matched":
            restore(lic, (P, f"R-{n}"), q)
            restored[f"R-{n}"] = q
    assert all(kg <= restored[rid] for rid, kg in reused.items())


def test_licence_validity_is_judged_on_the_china_day_of_the_export():
    # 20:00 UTC on the licence's last day is already the next day in China
    late = export(occurred_at="2026-12-31T20:00:00+00:00")
    assert decide(late, licence()).reasons == ("EXPIRED",)
    assert decide(export(occurred_at="2026-12-31T15:00:00+00:00"), licence()).status == "matched"
