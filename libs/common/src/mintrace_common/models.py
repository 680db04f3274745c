"""Messages on the wire: Report v1 (SPEC §2, contract) and the envelope each topic carries."""

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

ReportType = Literal[
    "mining_output", "processing_output", "domestic_sale", "domestic_purchase", "export", "import"
]
Stage = Literal["mining", "separation", "smelting", "magnet_manufacturing", "trading"]
Form = Literal["ore", "concentrate", "oxide", "metal", "alloy", "compound", "magnet"]
Unit = Literal["kg", "t"]
ReportId = str  # [A-Za-z0-9._-]{1,64}, enforced on Report.report_id
REPORT_ID_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"


class Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Quantity(Wire):
    value: Decimal
    unit: Unit

    @field_validator("value")
    @classmethod
    def _positive(cls, v: Decimal) -> Decimal:
        if not v.is_finite() or v <= 0:
            raise ValueError("quantity must be a finite number greater than 0")
        return v

    @property
    def kg(self) -> Decimal:
        return self.value * 1000 if self.unit == "t" else self.value


class Money(Wire):
    amount: Decimal
    currency: str = Field(min_length=3, max_length=3)

    @field_validator("amount")
    @classmethod
    def _non_negative(cls, v: Decimal) -> Decimal:
        if not v.is_finite() or v < 0:
            raise ValueError("amount must be a finite number, 0 or more")
        return v


class Party(Wire):
    name: str = Field(min_length=1, max_length=300)
    country: str = Field(min_length=2, max_length=2)
    id: str | None = Field(default=None, max_length=64)


class EndUser(Party):
    end_use: str | None = Field(default=None, max_length=500)


class InputLot(Wire):
    lot_id: str = Field(min_length=1, max_length=64)
    quantity: Quantity


class ExportBlock(Wire):
    licence_number: str | None = Field(default=None, max_length=64)
    destination_country: str = Field(min_length=2, max_length=2)
    consignee: Party
    end_user: EndUser
    port_of_exit: str | None = Field(default=None, max_length=16)
    transport_mode: Literal["sea", "air", "rail", "road", "post", "pipeline", "other"] | None = None


class Report(Wire):
    """Report v1 as a producer submits it. Structural rules only; the validation service checks
    the rest (per-type requirements, check digits, registry)."""

    report_id: str = Field(pattern=REPORT_ID_PATTERN)
    schema_version: Literal[1]
    producer_id: str = Field(min_length=1, max_length=32)
    facility_id: str = Field(min_length=1, max_length=64)
    type: ReportType
    stage: Stage
    occurred_at: AwareDatetime
    lot_id: str = Field(min_length=1, max_length=64)
    material: str = Field(min_length=1, max_length=32)
    form: Form
    hs_code: str = Field(min_length=2, max_length=16)
    quantity: Quantity
    purity_pct: Decimal | None = None
    value: Money | None = None
    counterparty: Party | None = None
    inputs: list[InputLot] | None = Field(default=None, max_length=1000)
    counterparty_report_id: str | None = Field(default=None, pattern=REPORT_ID_PATTERN)
    export: ExportBlock | None = None


class Problem(Wire):
    code: str
    path: str
    message: str


class ReceivedReport(Wire):
    """reports.received: what intake accepted, exactly once per (producer_id, report_id)."""

    producer_id: str
    report_id: str
    received_at: datetime
    content_hash: str
    report: Report


class ValidatedReport(ReceivedReport):
    """reports.validated: a report that passed every rule, quantity normalised to kg."""

    quantity_kg: Decimal
    warnings: list[Problem] = []
    validated_at: datetime


class RejectedReport(Wire):
    """reports.rejected: a report that failed validation, with every problem found."""

    producer_id: str
    report_id: str
    received_at: datetime
    rejected_at: datetime
    problems: list[Problem]


DecisionStatus = Literal["matched", "refused", "not_required"]


class LicenceDecision(Wire):
    status: DecisionStatus
    licence_number: str | None = None
    reasons: list[str] = []
    quantity_kg: Decimal | None = None
    remaining_kg: Decimal | None = None
    decided_at: datetime
    cancelled_at: datetime | None = None  # set once the report was cancelled (its draw restored)


class LicensedReport(ValidatedReport):
    """reports.licensed: a validated report with its licence decision attached."""

    licence: LicenceDecision


class SupervisionRecord(LicensedReport):
    """supervision.<slug> and supervision.national (contract): one per accepted report."""

    province_code: str
    province_slug: str
    routed_at: datetime
    redelivery: bool = False


AlertType = Literal[
    "UNLICENSED_EXPORT", "LICENCE_INVALID", "LICENCE_QUANTITY_EXCEEDED", "WATCHLIST_COUNTERPARTY",
    "SPLIT_SHIPMENTS", "VOLUME_SPIKE", "PRICE_ANOMALY", "MASS_BALANCE", "UNCONFIRMED_TRANSFER",
    "TRANSSHIPMENT_RISK",
]
Severity = Literal["low", "medium", "high", "critical"]


class Alert(Wire):
    """alerts.<slug> and alerts.national (contract)."""

    alert_id: str
    type: AlertType
    severity: Severity
    province_code: str
    producer_id: str
    report_ids: list[str]
    summary: str
    raised_at: datetime
    rule_version: str = "1"
    details: dict = {}


# --- registry (SPEC §3) -------------------------------------------------------------------------

class RegistryItem(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Producer(RegistryItem):
    producer_id: str
    name: str


class Facility(RegistryItem):
    facility_id: str
    producer_id: str
    province_code: str
    stages: list[Stage]


class LicenceParty(RegistryItem):
    name: str
    country: str


class Licence(RegistryItem):
    licence_number: str
    exporter_id: str
    materials: list[str]
    max_quantity_kg: Decimal
    destination_country: str
    consignee: LicenceParty
    end_user: LicenceParty
    valid_from: date
    valid_to: date
    status: Literal["active", "suspended", "revoked"] = "active"


class WatchlistEntry(RegistryItem):
    name: str
    country: str | None = None
    aliases: list[str] = []
    reason: str = ""


class ReferencePrice(RegistryItem):
    material: str
    form: Form
    usd_per_kg: Decimal


class RegistryDocument(RegistryItem):
    producers: list[Producer] = []
    facilities: list[Facility] = []
    licences: list[Licence] = []
    watchlist: list[WatchlistEntry] = []
    reference_prices: list[ReferencePrice] = []


LicenceEventType = Literal["issued", "amended", "suspended", "revoked", "reinstated", "quantity_changed"]


class LicenceEvent(Wire):
    """licence.events: what the licensing authority publishes; applied in order per licence."""

    event_id: str
    type: LicenceEventType
    licence_number: str
    occurred_at: datetime
    licence: Licence | None = None            # issued / amended: the full licence
    max_quantity_kg: Decimal | None = None    # quantity_changed


class ReportCancelled(Wire):
    """reports.cancelled: a producer withdrew one of its reports (an export's draw is restored)."""

    producer_id: str
    report_id: str
    cancelled_at: datetime


class RollupRow(Wire):
    day: date
    province_code: str
    material: str
    type: ReportType
    destination_country: str
    quantity_kg: Decimal
    value_usd: Decimal
    report_count: int


class RollupSummary(Wire):
    """rollup.national: the national aggregates, published periodically."""

    generated_at: datetime
    since: date
    rows: list[RollupRow]


class DeadLetter(Wire):
    """<topic>.dlq: a message that could never be processed, with why."""

    source_topic: str
    partition: int
    offset: int
    key: str | None
    error: str
    consumer_group: str
    value: str  # the original bytes, decoded as UTF-8 with replacement
