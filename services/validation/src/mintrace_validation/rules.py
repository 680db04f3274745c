"""Validation rules of Report v1 beyond its structure (SPEC §1, §2): pure functions of a report,
what the registry says about its producer and facility, and the time. Intake has already
refused what is not well-formed (types, enums, formats, ranges); every rule here yields
problems with a stable code and the JSON path of the field at fault, and all rules run, so a
producer sees every problem at once."""

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pycountry
from stdnum import lei
from stdnum.cn import uscc

from mintrace_common import materials
from mintrace_common.models import Party, Problem, Report


FUTURE_SKEW = timedelta(minutes=10)
LATE_AFTER = timedelta(days=7)
COUNTRIES = frozenset(c.alpha_2 for c in pycountry.countries)
# XXX and XTS are ISO 4217 codes for "no currency" and testing: no price is declared in them.
CURRENCIES = frozenset(c.alpha_3 for c in pycountry.currencies) - {"XXX", "XTS"}
LEI_SHAPE = re.compile(r"[0-9A-Z]{18}[0-9]{2}")
NEEDS_VALUE = ("domestic_sale", "export")
NEEDS_COUNTERPARTY = ("domestic_sale", "domestic_purchase", "export", "import")
DOMESTIC = ("domestic_sale", "domestic_purchase")
PROCESSING_STAGES = ("separation", "smelting", "magnet_manufacturing")


@dataclass(frozen=True)
class RegistryView:
    """What the registry holds for the producers and facilities of one batch."""

    producers: frozenset[str]
    facilities: dict[str, tuple[str, tuple[str, ...]]]  # facility_id -> (producer_id, stages)


Key = tuple[str, str]  # (producer_id, report_id): what a verdict is kept under


def key_of(received) -> Key:
    return received.producer_id, received.report_id


@dataclass(frozen=True)
class Verdict:
    """The judgement on one report: rejected when it has problems; warnings only matter to a
    valid one."""

    problems: list[Problem]
    warnings: list[Problem]
    at: datetime


@dataclass(frozen=True)
class Context:
    registry: RegistryView
    now: datetime
    late_after: timedelta = LATE_AFTER


Rule = Callable[[Report, Context], Iterator[Problem]]


def _p(code: str, path: str, message: str) -> Problem:
    return Problem(code=code, path=path, message=message)


def producer_identity(r: Report, ctx: Context) -> Iterator[Problem]:
    if not uscc.is_valid(r.producer_id):
        yield _p("PRODUCER_ID_INVALID", "producer_id",
                 f"{r.producer_id} is not a USCC (18 characters with a valid check digit)")
    if r.producer_id not in ctx.registry.producers:
        yield _p("PRODUCER_UNKNOWN", "producer_id", f"producer {r.producer_id} is not registered")


def facility(r: Report, ctx: Context) -> Iterator[Problem]:
    registered = ctx.registry.facilities.get(r.facility_id)
    if registered is None or registered[0] != r.producer_id:
        yield _p("FACILITY_UNKNOWN", "facility_id",
                 f"facility {r.facility_id} is not registered to producer {r.producer_id}")
    elif r.stage not in registered[1]:
        yield _p("STAGE_NOT_ALLOWED", "stage",
                 f"stage {r.stage} is not registered at facility {r.facility_id}")


def occurred_at(r: Report, ctx: Context) -> Iterator[Problem]:
    if r.occurred_at > ctx.now + FUTURE_SKEW:
        yield _p("OCCURRED_IN_FUTURE", "occurred_at",
                 f"occurred_at is more than {FUTURE_SKEW} in the future")


def required_by_type(r: Report, ctx: Context) -> Iterator[Problem]:
    if r.type == "export" and r.export is None:
        yield _p("EXPORT_BLOCK_REQUIRED", "export", "an export report needs the export block")
    if r.type != "export" and r.export is not None:
        yield _p("EXPORT_BLOCK_UNEXPECTED", "export", f"a {r.type} report has no export block")
    if r.type in NEEDS_VALUE and r.value is None:
        yield _p("VALUE_REQUIRED", "value", f"a {r.type} report needs its declared value")
    if r.type in NEEDS_COUNTERPARTY and r.counterparty is None:
        yield _p("COUNTERPARTY_REQUIRED", "counterparty",
                 f"a {r.type} report needs its counterparty")
    if r.type == "processing_output" and not r.inputs:
        yield _p("INPUTS_REQUIRED", "inputs", "a processing output needs its input lots")
    if r.type == "domestic_purchase" and not r.counterparty_report_id:
        yield _p("COUNTERPARTY_REPORT_REQUIRED", "counterparty_report_id",
                 "a domestic purchase needs the seller's report_id")


def stage_of_type(r: Report, ctx: Context) -> Iterator[Problem]:
    if r.type == "mining_output" and r.stage != "mining":
        yield _p("TYPE_STAGE_MISMATCH", "stage", "a mining output is reported at stage mining")
    if r.type == "processing_output" and r.stage not in PROCESSING_STAGES:
        yield _p("TYPE_STAGE_MISMATCH", "stage",
                 f"a processing output is reported at one of {', '.join(PROCESSING_STAGES)}")


def material_codes(r: Report, ctx: Context) -> Iterator[Problem]:
    if materials.headings(r.material, r.form) is None:
        yield _p("MATERIAL_FORM_INVALID", "form", f"{r.material} is not traded as {r.form}")
    elif not materials.consistent(r.material, r.form, r.hs_code):
        yield _p("HS_CODE_MISMATCH", "hs_code",
                 f"HS {r.hs_code} does not fit {r.material} {r.form}; expected a code under "
                 f"{' / '.join(materials.headings(r.material, r.form))}")


def currency(r: Report, ctx: Context) -> Iterator[Problem]:
    if r.value is not None and r.value.currency not in CURRENCIES:
        yield _p("CURRENCY_UNKNOWN", "value.currency",
                 f"{r.value.currency} is not an ISO 4217 currency")


def _parties(r: Report) -> Iterator[tuple[str, Party]]:
    if r.counterparty is not None:
        yield "counterparty", r.counterparty
    if r.export is not None:
        yield "export.consignee", r.export.consignee
        yield "export.end_user", r.export.end_user


def parties(r: Report, ctx: Context) -> Iterator[Problem]:
    for path, party in _parties(r):
        if party.country not in COUNTRIES:
            yield _p("COUNTRY_UNKNOWN", f"{path}.country",
                     f"{party.country} is not an ISO 3166-1 alpha-2 country")
        if party.id is None:
            continue
        if party.country == "CN" and not uscc.is_valid(party.id):
            yield _p("PARTY_USCC_INVALID", f"{path}.id",
                     f"{party.id} is not a USCC (a Chinese party is identified by its USCC)")
        elif party.country != "CN" and LEI_SHAPE.fullmatch(party.id) and not lei.is_valid(party.id):
            yield _p("PARTY_LEI_INVALID", f"{path}.id",
                     f"{party.id} has the shape of an LEI but its check digits are wrong")


def destinations(r: Report, ctx: Context) -> Iterator[Problem]:
    if r.export is not None:
        if r.export.destination_country not in COUNTRIES:
            yield _p("COUNTRY_UNKNOWN", "export.destination_country",
                     f"{r.export.destination_country} is not an ISO 3166-1 alpha-2 country")
        elif r.export.destination_country == "CN":
            yield _p("EXPORT_DESTINATION_DOMESTIC", "export.destination_country",
                     "an export leaves China")
    if r.type in DOMESTIC and r.counterparty is not None and r.counterparty.country != "CN":
        yield _p("COUNTERPARTY_NOT_DOMESTIC", "counterparty.country",
                 f"the counterparty of a {r.type} is in China")


RULES: tuple[Rule, ...] = (producer_identity, facility, occurred_at, required_by_type,
                           stage_of_type, material_codes, currency, parties, destinations)


def check(report: Report, registry: RegistryView, now: datetime,
          late_after: timedelta = LATE_AFTER) -> list[Problem]:
    """Every problem of one report, in a stable order; empty when it is valid."""
    ctx = Context(registry, now, late_after)
    return [p for rule in RULES for p in rule(report, ctx)]


def warnings(report: Report, now: datetime, late_after: timedelta = LATE_AFTER) -> list[Problem]:
    """What a supervisor should know about a valid report; never a reason to reject it."""
    out = []
    if report.occurred_at < now - late_after:
        out.append(_p("REPORTED_LATE", "occurred_at",
                      f"reported more than {late_after} after it occurred"))
    if (report.type in DOMESTIC and report.counterparty is not None
            and report.counterparty.country == "CN" and report.counterparty.id is None):
        out.append(_p("COUNTERPARTY_ID_MISSING", "counterparty.id",
                      "a Chinese counterparty is identified by its USCC"))
    return out


def judge(report: Report, registry: RegistryView, now: datetime,
          late_after: timedelta = LATE_AFTER) -> Verdict:
    problems = check(report, registry, now, late_after)
    return Verdict(problems, [] if problems else warnings(report, now, late_after), now)
