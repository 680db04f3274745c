"""The spine's cheap paths give exactly what the full ones give: internal records decoded
without the checks that only refuse, envelopes extended without model_construct, a record
encoded once for every place it goes, and the heap frozen once the stage is warm."""

import asyncio
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from aiokafka.structs import ConsumerRecord
from kafka_records import consumed
from mintrace_common import topics
from mintrace_common.delivery import decode
from mintrace_common.examples import BY_MODEL
from mintrace_common.models import (LicenceDecision, LicensedReport, Problem, ReceivedReport,
                                    ValidatedReport, trusted)
from mintrace_common.publisher import Emit, Publisher


INTERNAL = [t for t in topics.TOPICS if t.internal]




def record(body: bytes, offset: int = 0) -> ConsumerRecord:
    return consumed(topics.RECEIVED.name, 0, offset, b"k", body)


@pytest.mark.parametrize("topic", INTERNAL, ids=[t.name for t in INTERNAL])
def test_an_internal_record_decodes_to_the_same_model_as_full_validation(topic):
    body = topic.model.model_validate(BY_MODEL[topic.model.__name__]).model_dump_json()
    fast = trusted(topic.model).validate_json(body)
    assert type(fast) is topic.model
    assert fast == topic.model.model_validate_json(body)
    assert fast.model_dump_json() == body


def test_only_outside_systems_topics_are_validated_in_full():
    assert [t.name for t in topics.TOPICS if not t.internal] == [topics.LICENCE_EVENTS.name]


def test_a_record_not_of_the_topics_shape_is_still_poison_when_decoded_as_internal():
    good = ReceivedReport.model_validate(BY_MODEL["ReceivedReport"]).model_dump_json().encode()
    missing = json.loads(good)
    del missing["report"]["quantity"]
    wrong_type = json.loads(good)
    wrong_type["received_at"] = "yesterday"
    extra = {**json.loads(good), "surprise": 1}
    records = [record(good, 0), record(b"{garbage", 1), record(json.dumps(missing).encode(), 2),
               record(json.dumps(wrong_type).encode(), 3), record(json.dumps(extra).encode(), 4)]
    items, poison = decode(ReceivedReport, records, internal=True)
    assert [r.offset for r, _ in items] == [0]
    assert [f.record.offset for f in poison] == [1, 2, 3, 4]


def test_only_the_checks_that_refuse_are_left_out_of_internal_decoding():
    body = json.loads(ReceivedReport.model_validate(BY_MODEL["ReceivedReport"]).model_dump_json())
    body["report"]["quantity"]["value"] = "-1"  # intake refuses this (422): never on the topic
    raw = [record(json.dumps(body).encode())]
    assert len(decode(ReceivedReport, raw, internal=False)[1]) == 1
    (_, fast), = decode(ReceivedReport, raw, internal=True)[0]
    assert fast.report.quantity.value == Decimal("-1")


def test_extending_an_envelope_builds_what_model_construct_builds():
    received = ReceivedReport.model_validate(BY_MODEL["ReceivedReport"])
    now = datetime(2026, 1, 2, tzinfo=UTC)
    fields = dict(quantity_kg=Decimal("12.5"), warnings=[Problem(code="C", path="p", message="m")],
                  validated_at=now)
    fast = ValidatedReport.extending(received, **fields)
    slow = ValidatedReport.model_construct(**{**dict(received), **fields})
    assert type(fast) is ValidatedReport
    assert fast == slow and fast.model_fields_set == slow.model_fields_set
    assert fast.model_dump_json() == slow.model_dump_json()
    assert ValidatedReport.model_validate_json(fast.model_dump_json()) == fast
    # a field left out takes its default, as with model_construct
    partial = ValidatedReport.extending(received, quantity_kg=Decimal(1), validated_at=now)
    assert partial.warnings == [] and "warnings" not in partial.model_fields_set
    licensed = LicensedReport.extending(fast, licence=LicenceDecision(status="not_required",
                                                                     decided_at=now))
    assert LicensedReport.model_validate_json(licensed.model_dump_json()) == licensed


async def test_a_record_given_encoded_is_sent_as_given_not_encoded_again():
    sent = []

    class Producer:
        async def send(self, topic, value, key, headers):
            sent.append((topic, value))
            future = asyncio.get_running_loop().create_future()
            future.set_result(None)
            return future

    received = ReceivedReport.model_validate(BY_MODEL["ReceivedReport"])
    body = b'{"already": "encoded"}'
    await Publisher(producer=Producer()).send_all([
        Emit("a", "k", received, body=body), Emit("b", "k", received, body=body),
        Emit("c", "k", received)])
    assert sent == [("a", body), ("b", body), ("c", received.model_dump_json().encode())]
