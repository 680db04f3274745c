"""Reports the tests submit, built once."""

from datetime import UTC, datetime, timedelta

from mintrace import demo


def mining_report(report_id: str, producer: str = "JX2") -> dict:
    """A valid Report v1 of the demo producer's mine, an hour ago."""
    return {"report_id": report_id, "schema_version": 1,
            "producer_id": demo.producer_ids()[producer], "facility_id": f"{producer}-MIN-01",
            "type": "mining_output", "stage": "mining",
            "occurred_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
            "lot_id": "L-1", "material": "REO-concentrate", "form": "ore",
            "hs_code": "2530.90", "quantity": {"value": "12", "unit": "t"}}
