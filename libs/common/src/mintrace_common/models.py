"""Messages on the wire: Report v1 (SPEC §2, contract) and the envelope each topic carries."""

import re
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import (AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema,
                      field_validator)
from pydantic_core import PydanticCustomError, SchemaValidator

from .materials import MATERIALS

ReportType = Literal[
    "mining_output", "processing_output", "domestic_sale", "domestic_purchase", "export", "import"
]
Stage = Literal["mining", "separation", "smelting", "magnet_manufacturing", "trading"]
Form = Literal["ore", "concentrate", "oxide", "metal", "alloy", "compound", "magnet"]
Unit = Literal["kg", "t"]
# SPEC §1 material codes, as an enum of the JSON schema (groups in mintrace_common.materials).
Material = Literal[tuple(sorted(MATERIALS, key=str.lower))]  # type: ignore[valid-type]
REPORT_ID_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
# Free text reaches every consumer's database: no control characters (PostgreSQL refuses NUL).
TEXT_PATTERN = r"^[^\x00-\x1f\x7f]*$"
HS_CODE_PATTERN = r"^[0-9]{4}(\.?[0-9]{2}){0,3}$"
# Bounds that keep every decimal storable and comparable downstream (PostgreSQL numeric).
MAX_QUANTITY = Decimal("1e12")
MAX_AMOUNT = Decimal("1e15")
MAX_DECIMAL_PLACES = 6


DECIMAL_PATTERN = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_DECIMAL = re.compile(DECIMAL_PATTERN)


def _decimal_text(v: object) -> object:
    # Python's Decimal also reads "1_000", " 1 " and non-ASCII digits; the contract is JSON's.
    if isinstance(v, str) and not _DECIMAL.fullmatch(v):
        raise PydanticCustomError("decimal_format", "a decimal number such as \"250.5\"")
    return v


def _iso_text(v: object) -> object:
    if not isinstance(v, str | datetime):
        raise PydanticCustomError("datetime_format", "an ISO 8601 date-time with its offset")
    return v


def _json_int(v: object) -> object:
    # bool is an int to Python and 1.0 equals 1; in JSON neither is the integer 1.
    if isinstance(v, bool) or not isinstance(v, int):
        raise PydanticCustomError("int_type", "an integer")
    return v


Number = Annotated[Decimal, BeforeValidator(_decimal_text), WithJsonSchema(
    {"anyOf": [{"type": "number"}, {"type": "string", "pattern": DECIMAL_PATTERN}]})]


def Text(max_length: int, min_length: int = 1):  # noqa: N802 - reads as a type
    return Annotated[str, Field(min_length=min_length, max_length=max_length, pattern=TEXT_PATTERN)]


CountryCode = Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")]


def _bounded(v: Decimal, low: Decimal, high: Decimal, what: str, low_inclusive: bool) -> Decimal:
    if not v.is_finite():
        raise PydanticCustomError("finite_number", "{what} must be a finite number",
                                  {"what": what})
    if v < low or (v == low and not low_inclusive):
        raise PydanticCustomError(f"{what}_too_small", "{what} must be {op} {low}",
                                  {"what": what, "op": ">=" if low_inclusive else ">",
                                   "low": str(low)})
    if v > high:
        raise PydanticCustomError(f"{what}_too_large", "{what} must be at most {high}",
                                  {"what": what, "high": str(high)})
    if v.as_tuple().exponent < -MAX_DECIMAL_PLACES:
        raise PydanticCustomError("too_many_decimal_places",
                                  "at most {n} decimal places", {"n": MAX_DECIMAL_PLACES})
    return v


_set = object.__setattr__


class Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def extending(cls, base: "Wire", **fields):
        """This envelope built from the previous stage's (already validated) one plus `fields`
        (a field given replaces the base's), without dumping and validating the whole report
        again: every stage of the pipeline adds a few fields, and this runs once per report on
        the hot path. The caller supplies fields of the right types."""
        values = {**base.__dict__, **fields}
        if values.keys() != cls.__pydantic_fields__.keys() or cls.__pydantic_post_init__:
            return cls.model_construct(**values)
        # every field given (the usual case): what model_construct does, without its per-field
        # alias and default handling
        m = cls.__new__(cls)
        _set(m, "__dict__", values)
        _set(m, "__pydantic_fields_set__", set(values))
        _set(m, "__pydantic_extra__", None)
        _set(m, "__pydantic_private__", None)
        return m


class Quantity(Wire):
    value: Number = Field(description="decimal string or number, > 0")
    unit: Unit

    @field_validator("value")
    @classmethod
    def _positive(cls, v: Decimal) -> Decimal:
        return _bounded(v, Decimal(0), MAX_QUANTITY, "quantity", low_inclusive=False)

    @property
    def kg(self) -> Decimal:
        return self.value * 1000 if self.unit == "t" else self.value


class Money(Wire):
    amount: Number
    currency: str = Field(min_length=3, max_length=3, pattern=r"^[A-Z]{3}$",
                          description="ISO 4217")

    @field_validator("amount")
    @classmethod
    def _non_negative(cls, v: Decimal) -> Decimal:
        return _bounded(v, Decimal(0), MAX_AMOUNT, "amount", low_inclusive=True)


class Party(Wire):
    name: Text(300)
    country: CountryCode = Field(min_length=2, max_length=2)
    id: Text(64) | None = Field(default=None, description="USCC for CN parties, LEI or a "
                                                          "registration number abroad")


class EndUser(Party):
    end_use: Text(500, min_length=0) | None = None


class InputLot(Wire):
    lot_id: Text(64)
    quantity: Quantity


class ExportBlock(Wire):
    licence_number: Text(64) | None = None
    destination_country: CountryCode = Field(min_length=2, max_length=2)
    consignee: Party
    end_user: EndUser
    port_of_exit: str | None = Field(default=None, max_length=16, pattern=r"^[A-Z]{2}[A-Z2-9]{3}$",
                                     description="UN/LOCODE")
    transport_mode: Literal["sea", "air", "rail", "road", "post", "pipeline", "other"] | None = None


class Report(Wire):
    """Report v1 as a producer submits it. Structural rules only (types, enums, formats, ranges:
    what intake refuses with 422); the validation service checks the rest (per-type
    requirements, code lists, check digits, HS consistency, registry, clock)."""

    report_id: str = Field(pattern=REPORT_ID_PATTERN)
    schema_version: Annotated[Literal[1], BeforeValidator(_json_int)]
    producer_id: str = Field(min_length=1, max_length=32, pattern=TEXT_PATTERN)
    facility_id: Text(64)
    type: ReportType
    stage: Stage
    occurred_at: Annotated[AwareDatetime, BeforeValidator(_iso_text)]
    lot_id: Text(64)
    material: Material
    form: Form
    hs_code: str = Field(min_length=4, max_length=16, pattern=HS_CODE_PATTERN)
    quantity: Quantity
    purity_pct: Number | None = Field(default=None, ge=0, le=100, allow_inf_nan=False)
    value: Money | None = None
    counterparty: Party | None = None
    inputs: list[InputLot] | None = Field(default=None, max_length=1000)
    counterparty_report_id: str | None = Field(default=None, pattern=REPORT_ID_PATTERN)
    export: ExportBlock | None = None

    @field_validator("occurred_at")
    @classmethod
    def _plausible_year(cls, v: datetime) -> datetime:
        # Keeps UTC conversion and comparisons safe; the clock rules are the validation's.
        if not 1970 <= v.year <= 9000:
            raise PydanticCustomError("occurred_at_implausible",
                                      "occurred_at must fall between 1970 and 9000")
        return v


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


class RestoredQuotaUse(Wire):
    """Quota given back to the licence by cancelling `report_id`, drawn again by this export."""

    report_id: str
    quantity_kg: Decimal


class LicenceDecision(Wire):
    status: DecisionStatus
    licence_number: str | None = None
    reasons: list[str] = []
    quantity_kg: Decimal | None = None
    remaining_kg: Decimal | None = None
    decided_at: datetime
    cancelled_at: datetime | None = None  # set once the report was cancelled (its draw restored)
    # a matched export that would have exceeded the licence but for quota restored by
    # cancelling earlier reports: which, and how much of each it draws (reviewable)
    restored_quota_used: list[RestoredQuotaUse] = []


class LicensedReport(ValidatedReport):
    """reports.licensed: a validated report with its licence decision attached."""

    licence: LicenceDecision


class SupervisionRecord(LicensedReport):
    """supervision.<slug> and supervision.national (contract): one per accepted report."""

    province_code: str
    province_slug: str
    routed_at: datetime
    redelivery: bool = False
    # the declared value in USD at the registry's rate when routed; null without a value or
    # when the registry has no rate for its currency (then `warnings` has FX_RATE_MISSING)
    value_usd: Decimal | None = None
    # set when its producer cancelled the report: the record is published again with it (or
    # routed with it, when the cancellation came first) and the rollup no longer counts it
    cancelled_at: datetime | None = None


AlertType = Literal[
    "UNLICENSED_EXPORT", "LICENCE_INVALID", "LICENCE_QUANTITY_EXCEEDED", "WATCHLIST_COUNTERPARTY",
    "SPLIT_SHIPMENTS", "VOLUME_SPIKE", "PRICE_ANOMALY", "MASS_BALANCE", "UNCONFIRMED_TRANSFER",
    "TRANSSHIPMENT_RISK",
]
Severity = Literal["low", "medium", "high", "critical"]


MAX_EVIDENCE = 100  # report ids an alert record carries at most


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
    # report_ids is capped at MAX_EVIDENCE (a record stays small); when the evidence is longer,
    # evidence_total counts all of it and the supervision API pages through it
    # (GET /v1/supervision/{province}/alerts/{alert_id}/evidence)
    evidence_total: int | None = None

    def bounded(self) -> "Alert":
        """This alert as published: at most MAX_EVIDENCE report ids, `evidence_total` counting
        all of them when there are more."""
        if len(self.report_ids) <= MAX_EVIDENCE:
            return self
        return self.model_copy(update={"report_ids": self.report_ids[:MAX_EVIDENCE],
                                       "evidence_total": len(self.report_ids)})


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


class FxRate(RegistryItem):
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217")
    usd_per_unit: Decimal = Field(gt=0)
    as_of: date | None = None


class OpeningStock(RegistryItem):
    """What a facility held of a material when reporting began: an input to its mass balance."""

    facility_id: str
    material: Material
    quantity_kg: Decimal = Field(ge=0)
    as_of: date | None = None


class RegistryDocument(RegistryItem):
    """SPEC §3 and §6. Unknown top-level keys are refused (a typo'd list would be lost)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    producers: list[Producer] = []
    facilities: list[Facility] = []
    licences: list[Licence] = []
    watchlist: list[WatchlistEntry] = []
    reference_prices: list[ReferencePrice] = []
    fx_rates: list[FxRate] = []
    opening_stocks: list[OpeningStock] = []


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
    non_usd_count: int = 0  # reports whose value has no registry rate: not in value_usd


class RollupSummary(Wire):
    """rollup.national: the national aggregates, published periodically."""

    generated_at: datetime
    since: date
    rows: list[RollupRow]
    # a rollup is published in pages (records stay small): page n of pages, same generated_at
    page: int = 1
    pages: int = 1


CaseStatus = Literal["open", "assigned", "closed"]
CaseOutcome = Literal["confirmed_violation", "no_violation", "referred"]
CaseAction = Literal["assign", "note", "close", "reopen"]


class CaseEvent(Wire):
    """cases.events: one action a supervisor took on an alert's case (SPEC §7), key alert_id."""

    event_id: str                   # "<alert_id>#<history id>": consumers de-duplicate on it
    alert_id: str
    province_code: str
    at: datetime
    by: str                         # the person the acting key names
    action: CaseAction
    assignee: str | None = None
    note: str | None = None
    outcome: CaseOutcome | None = None
    status: CaseStatus              # the case's status after the action


class DeadLetter(Wire):
    """<topic>.dlq: a message that could never be processed, with why."""

    source_topic: str
    partition: int
    offset: int
    key: str | None
    error: str
    consumer_group: str
    value: str  # the original bytes, decoded as UTF-8 with replacement


# --- decoding what our own services wrote --------------------------------------------------------

def _without_checks(schema: Any) -> Any:
    """A pydantic-core schema without its checks that only refuse: our function validators
    (decimal and date-time text formats, integer strictness, ranges, plausible years) and string
    patterns. Types, enums, required fields, extra="forbid" and conversions stay."""
    if isinstance(schema, dict):
        if schema.get("type") in ("function-before", "function-after") and "schema" in schema:
            return _without_checks(schema["schema"])
        return {k: _without_checks(v) for k, v in schema.items()
                if not (k == "pattern" and schema.get("type") == "str")}
    if isinstance(schema, list):
        return [_without_checks(x) for x in schema]
    return schema


@cache
def trusted(model: type[BaseModel]) -> SchemaValidator:
    """A decoder of `model` for records our own services wrote (the contract was checked once,
    at intake, and every stage builds its output from validated values): the same model
    instances as `model.model_validate_json` for every record that passes it, without the
    checks that can only refuse. The models stay the one source of truth for the shapes.
    `trusted(M).validate_json(body)` raises ValidationError on a malformed record."""
    schema = _without_checks(model.__pydantic_core_schema__)
    # pydantic-core reuses a complete model class's own (checking) validator wherever the class
    # appears in a schema: mark the classes incomplete while this one is built
    classes = {c for c in _models_in(schema) if c.__dict__.get("__pydantic_complete__")}
    try:
        for c in classes:
            type.__setattr__(c, "__pydantic_complete__", False)
        return SchemaValidator(schema)
    finally:
        for c in classes:
            type.__setattr__(c, "__pydantic_complete__", True)


def _models_in(schema: Any) -> Iterator[type]:
    if isinstance(schema, dict):
        if schema.get("type") == "model":
            yield schema["cls"]
        for v in schema.values():
            yield from _models_in(v)
    elif isinstance(schema, list):
        for v in schema:
            yield from _models_in(v)
