"""Building routed reports for the rule tests, from the contract example."""

import copy
from datetime import datetime
from decimal import Decimal

from mintrace_common import examples
from mintrace_common.models import SupervisionRecord


def record(report_id: str = "R-1", *, producer: str = "91360700MA35XXXXXX",
           type_: str = "export", material: str = "Dy", form: str = "oxide",
           kg: str | Decimal = "250", usd: str | None = "65000", when: datetime | str | None = None,
           facility: str = "JX-GZ-SEP-01",
           consignee: tuple[str, str] = ("Hanse Magnetics GmbH", "DE"),
           end_user: tuple[str, str] | None = None, destination: str | None = None,
           counterparty: dict | None = None, counterparty_report_id: str | None = None,
           licence: dict | None = None) -> SupervisionRecord:
    data = copy.deepcopy(examples.BY_MODEL["SupervisionRecord"])
    r = data["report"]
    r.update(report_id=report_id, producer_id=producer, type=type_, material=material, form=form,
             facility_id=facility, quantity={"value": str(kg), "unit": "kg"},
             counterparty_report_id=counterparty_report_id)
    if when is not None:
        r["occurred_at"] = when if isinstance(when, str) else when.isoformat()
    r["value"] = {"amount": usd, "currency": "USD"} if usd is not None else None
    end_user = end_user or consignee
    r["counterparty"] = counterparty or {"name": consignee[0], "country": consignee[1]}
    if type_ == "export":
        r["export"] = {**r["export"], "destination_country": destination or consignee[1],
                       "consignee": {"name": consignee[0], "country": consignee[1]},
                       "end_user": {"name": end_user[0], "country": end_user[1]}}
    else:
        r["export"] = None
    data.update(report_id=report_id, producer_id=producer, quantity_kg=str(kg))
    data["licence"] = licence or {**data["licence"], "status": "matched" if type_ == "export"
                                  and material not in ("Nd", "La") else "not_required"}
    return SupervisionRecord.model_validate(data)
