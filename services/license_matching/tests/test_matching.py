from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from mintrace_common import examples
from mintrace_common.models import ValidatedReport
from mintrace_license_matching.matching import LicenceState, decide

P = examples.REPORT["producer_id"]


def export(**changes) -> ValidatedReport:
    report = {**examples.REPORT, **changes}
    q = report["quantity"]
    kg = Decimal(str(q["value"])) * (1000 if q["unit"] == "t" else 1)
    return ValidatedReport(producer_id=report["producer_id"], report_id=report["report_id"],
                           received_at=datetime.now(UTC), content_hash="0", report=report,
                           quantity_kg=kg, validated_at=datetime.now(UTC))


def licence(**changes) -> LicenceState:
    base = dict(licence_number="EL-2026-DY-00042", exporter_id=P, materials=("Dy",),
                remaining_kg=Decimal("1000"), destination_country="DE",
                valid_from=date(2026, 1, 1), valid_to=date(2026, 12, 31), status="active")
    return LicenceState(**{**base, **changes})


def test_export_within_balance_is_matched_and_draws_the_balance_down():
    lic = licence()
    outcome = decide(export(), lic)
    assert outcome.status == "matched" and outcome.remaining_kg == 750 and lic.remaining_kg == 750


def test_export_over_remaining_balance_is_refused_and_draws_nothing():
    lic = licence(remaining_kg=Decimal("100"))
    outcome = decide(export(), lic)
    assert outcome.reasons == ("QUANTITY_EXCEEDED",) and lic.remaining_kg == 100


def test_export_without_licence_is_unlicensed():
    assert decide(export(), None).reasons == ("UNLICENSED",)


@pytest.mark.parametrize("changes, reason", [
    ({"status": "revoked"}, "REVOKED"), ({"status": "suspended"}, "SUSPENDED"),
    ({"valid_to": date(2026, 1, 31)}, "EXPIRED"), ({"valid_from": date(2026, 12, 1)}, "NOT_YET_VALID"),
    ({"exporter_id": "91110000MA0000001X"}, "WRONG_EXPORTER"),
    ({"materials": ("Tb",)}, "MATERIAL_NOT_COVERED"), ({"destination_country": "US"}, "DESTINATION_MISMATCH"),
])
def test_invalid_licence_is_refused_with_its_reason(changes, reason):
    lic = licence(**changes)
    outcome = decide(export(), lic)
    assert outcome.status == "refused" and reason in outcome.reasons and lic.remaining_kg == 1000


def test_uncontrolled_material_or_non_export_needs_no_licence():
    assert decide(export(material="Nd"), None).status == "not_required"
    assert decide(export(type="domestic_sale"), None).status == "not_required"
