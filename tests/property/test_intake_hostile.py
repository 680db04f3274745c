"""Hypothesis throws malformed, oversized, wrongly typed and hostile bodies at the real HTTP
intake (broker, database and every service running): never a 5xx, never an accepted report
that is not a well-formed Report v1 of the key's producer, every accepted one reaches a
terminal state, and the service keeps serving."""

import itertools
import json
import re
import secrets
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from mintrace import demo

pytestmark = pytest.mark.e2e
IDS = demo.producer_ids()
RUN = secrets.token_hex(3)
COUNTER = itertools.count()
SETTINGS = settings(max_examples=100, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow, HealthCheck.data_too_large])

HOSTILE = ["", " ", "\x00", "a\x00b", "\u202e", "\ud800", "'; DROP TABLE reports; --",
           "${jndi:ldap://x/a}", "<script>alert(1)</script>", "../../etc/passwd", "A" * 5000,
           "1e999999999", "-1", "0", "NaN", "Infinity", "1_000", "２", "9" * 400, "0x10",
           "CN", "ZZ", "XXX", "usd", "2846.90", "8505.11", "9999-12-31T23:59:59+14:00",
           "0001-01-01T00:00:00-14:00", "2026-02-30T00:00:00Z", "2026-11-20T08:30:00",
           "91360700MA0000001X", "5299000J2N45DDNE4Y29", "export", "t", "kg", "Dy"]
SCALARS = (st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats()
           | st.text(max_size=20) | st.sampled_from(HOSTILE))
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=10)
PATHS = ["report_id", "schema_version", "producer_id", "facility_id", "type", "stage",
         "occurred_at", "lot_id", "material", "form", "hs_code", "quantity", "quantity.value",
         "quantity.unit", "purity_pct", "value", "value.amount", "value.currency",
         "counterparty", "counterparty.name", "counterparty.country", "counterparty.id",
         "inputs", "inputs.0.quantity.value", "inputs.0.lot_id", "counterparty_report_id",
         "export", "export.destination_country", "export.licence_number",
         "export.consignee.country", "export.end_user.end_use", "export.port_of_exit",
         "export.transport_mode", "extra_field"]
BIG = [b"[" * 300_000, b'{"lot_id": "' + b"x" * 300_000 + b'"}', b" " * 270_000]


def valid_report() -> dict:
    return {"report_id": f"H-{RUN}-{next(COUNTER)}", "schema_version": 1,
            "producer_id": IDS["JX1"], "facility_id": "JX1-SEP-01", "type": "export",
            "stage": "trading",
            "occurred_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
            "lot_id": "LOT-1", "material": "Dy", "form": "oxide", "hs_code": "2846.90",
            "quantity": {"value": "250", "unit": "kg"}, "purity_pct": "99.5",
            "value": {"amount": "65000", "currency": "USD"},
            "counterparty": {"name": "Hanse Magnetics GmbH", "country": "DE",
                             "id": demo.lei("5299", 1)},
            "inputs": [{"lot_id": "LOT-0", "quantity": {"value": "260", "unit": "kg"}}],
            "export": {"licence_number": demo.licence_number(0, "Dy"),
                       "destination_country": "DE",
                       "consignee": {"name": "Hanse Magnetics GmbH", "country": "DE"},
                       "end_user": {"name": "Hanse Magnetics GmbH", "country": "DE",
                                    "end_use": "motors"},
                       "port_of_exit": "CNSHA", "transport_mode": "sea"}}


def _set(doc: dict, path: str, value, delete: bool) -> None:
    *parents, last = path.split(".")
    node = doc
    for p in parents:
        # an earlier mutation may have replaced a parent with another shape: nothing to set then
        if isinstance(node, list):
            node = node[int(p)] if p.isdigit() and int(p) < len(node) else None
        else:
            node = node.get(p)
        if not isinstance(node, dict | list):
            return
    if isinstance(node, list) and not last.isdigit():
        return
    key = int(last) if isinstance(node, list) else last
    if delete and isinstance(node, dict):
        node.pop(key, None)
    elif isinstance(node, dict) or (isinstance(node, list) and key < len(node)):
        node[key] = value


TEXT_PATHS = ["facility_id", "lot_id", "counterparty.name", "counterparty.id",
              "inputs.0.lot_id", "export.licence_number", "export.consignee.name",
              "export.end_user.end_use", "report_id", "counterparty_report_id"]
NUMBER_PATHS = ["quantity.value", "value.amount", "purity_pct", "inputs.0.quantity.value"]
CODE_PATHS = ["value.currency", "counterparty.country", "export.destination_country",
              "hs_code", "export.port_of_exit", "material", "form", "type", "stage"]
NEAR_TEXT = st.text(st.characters(max_codepoint=0x7f) | st.sampled_from("\u202e\u2028\ufeff"),
                    max_size=12)
NEAR_NUMBER = (st.decimals(allow_nan=True, allow_infinity=True).map(str)
               | st.floats().map(repr) | st.floats(allow_nan=False, allow_infinity=False)
               | st.integers(-10, 10**13) | st.from_regex(r"\A[-+ ]?[0-9_.eE]{1,12}\Z"))
NEAR_CODE = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7a), max_size=9)
NEAR_TIME = (st.datetimes(timezones=st.none() | st.timezones()).map(lambda d: d.isoformat())
             | st.integers(0, 2**33))


@st.composite
def mutated_reports(draw) -> dict:
    """A valid report with up to three fields deleted or replaced: mostly by near misses of the
    right kind (so that some are accepted and the oracle has work), else by any JSON."""
    doc = valid_report()
    for _ in range(draw(st.integers(0, 3))):
        path, value = draw(st.one_of(
            st.tuples(st.sampled_from(TEXT_PATHS), NEAR_TEXT),
            st.tuples(st.sampled_from(NUMBER_PATHS), NEAR_NUMBER),
            st.tuples(st.sampled_from(CODE_PATHS), NEAR_CODE),
            st.tuples(st.just("occurred_at"), NEAR_TIME),
            st.tuples(st.sampled_from(PATHS), st.sampled_from(HOSTILE) | JSON)))
        _set(doc, path, value, draw(st.integers(0, 9)) == 0)
    return doc


ITEMS = mutated_reports() | JSON


@st.composite
def single_bodies(draw) -> tuple[bytes, str]:
    kind = draw(st.sampled_from(["report", "report", "report", "json", "bytes", "big"]))
    ctype = draw(st.sampled_from(["application/json", "text/plain", "application/x-ndjson", ""]))
    if kind == "bytes":
        return draw(st.binary(max_size=200)), ctype
    if kind == "big":
        return draw(st.sampled_from(BIG)), ctype
    return json.dumps(draw(mutated_reports() if kind == "report" else JSON)).encode(), ctype


@st.composite
def batch_bodies(draw) -> tuple[bytes, str, list | None]:
    items = draw(st.lists(ITEMS, max_size=6))
    if draw(st.booleans()):
        return json.dumps(items).encode(), "application/json", items
    lines = [json.dumps(i) for i in items]
    if draw(st.booleans()):
        lines.insert(draw(st.integers(0, len(lines))), draw(st.text(max_size=10)))
        return "\n".join(lines).encode("utf-8", "surrogatepass"), "application/x-ndjson", None
    return "\n".join(lines).encode(), "application/x-ndjson", items


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


class Oracle:
    """Independent of the intake's own model: the published JSON schema plus the rules the
    schema cannot express."""

    def __init__(self, doc: dict) -> None:
        self.schema = Draft202012Validator({"$ref": "#/components/schemas/Report",
                                            "components": doc["components"]})

    def well_formed(self, item) -> bool:
        if not isinstance(item, dict) or list(self.schema.iter_errors(item)):
            return False
        quantities = [item["quantity"]] + [i["quantity"] for i in item.get("inputs") or []]
        return (item["producer_id"] == IDS["JX1"]
                and all(Decimal(str(q["value"])) > 0 for q in quantities)
                and re.search(r"([+-]\d\d:?\d\d|Z)$", item["occurred_at"]) is not None
                and not any(re.search(r"[\x00-\x1f\x7f\ud800-\udfff]", s) for s in _strings(item)))


@pytest.fixture
def client(stack):
    with httpx.Client(base_url=stack.intake_url, timeout=60) as c:
        yield c


def _auth(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def _all_reach_a_terminal_state(client: httpx.Client, key: str, ids: set[str]) -> None:
    pending, deadline = set(ids), time.monotonic() + 120
    while pending and time.monotonic() < deadline:
        for rid in list(pending):
            state = client.get(f"/v1/reports/{rid}", headers=_auth(key)).json()["state"]
            if state in ("routed", "rejected"):
                pending.discard(rid)
        time.sleep(0.5)
    assert not pending, f"accepted but never routed or rejected: {sorted(pending)[:5]}"


def _still_serving(client: httpx.Client, key: str) -> None:
    resp = client.post("/v1/reports", json=valid_report(), headers=_auth(key))
    assert resp.status_code == 202, resp.text


def test_hostile_single_reports_never_cause_5xx_or_acceptance_of_invalid_reports(
        client, producer_keys):
    oracle = Oracle(client.get("/openapi.json").json())
    key, accepted = producer_keys["JX1"], set()
    auths = st.sampled_from([_auth(key)] * 6 + [{}, _auth("nope"), {"Authorization": key},
                                                _auth(producer_keys["NM1"])])

    @SETTINGS
    @given(body=single_bodies(), auth=auths)
    def run(body, auth):
        data, ctype = body
        resp = client.post("/v1/reports", content=data,
                           headers={**auth, **({"content-type": ctype} if ctype else {})})
        assert resp.status_code < 500, resp.text
        if resp.status_code == 202:
            assert auth == _auth(key) and ctype == "application/json"
            item = json.loads(data)
            assert oracle.well_formed(item), item
            accepted.add(item["report_id"])
        else:
            assert resp.status_code in (401, 403, 409, 413, 415, 422), resp.status_code
            assert "detail" in resp.json()
            if auth == _auth(key) and ctype != "application/json":
                assert resp.status_code == 415

    run()
    assert accepted, "no example was accepted: the strategies no longer reach the pipeline"
    _still_serving(client, key)
    _all_reach_a_terminal_state(client, key, accepted)


def test_hostile_batches_get_one_result_per_item_and_never_accept_invalid_reports(
        client, producer_keys):
    oracle = Oracle(client.get("/openapi.json").json())
    key, accepted = producer_keys["JX1"], set()

    @SETTINGS
    @given(body=batch_bodies())
    def run(body):
        data, ctype, items = body
        resp = client.post("/v1/reports/batch", content=data,
                           headers={**_auth(key), "content-type": ctype})
        assert resp.status_code < 500, resp.text
        if resp.status_code != 200:
            assert resp.status_code in (413, 422), resp.status_code
            return
        results = resp.json()["results"]
        assert [r["index"] for r in results] == list(range(len(results)))
        if items is not None:
            assert len(results) == len(items)
            for item, result in zip(items, results):
                assert result["status"] in (202, 403, 409, 413, 422)
                if result["status"] == 202:
                    assert oracle.well_formed(item), item
                    accepted.add(item["report_id"])

    run()
    assert accepted, "no example was accepted: the strategies no longer reach the pipeline"
    _still_serving(client, key)
    _all_reach_a_terminal_state(client, key, accepted)
