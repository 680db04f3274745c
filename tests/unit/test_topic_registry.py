import importlib

import pytest

from mintrace_common import examples, topics
from mintrace_common.models import Report
from mintrace_common.provinces import PROVINCES


@pytest.mark.parametrize("topic", topics.TOPICS, ids=lambda t: t.name)
def test_every_topic_has_a_valid_example_message(topic):
    example = examples.BY_MODEL[topic.model.__name__]
    assert topic.model.model_validate(example)


def test_every_topic_has_one_writer_and_a_reader():
    for t in topics.TOPICS:
        assert t.writer and t.readers, t.name
    assert len({t.name for t in topics.TOPICS}) == len(topics.TOPICS)


def test_every_consumed_pipeline_topic_has_a_dead_letter_companion():
    consumed_by_services = {t for t in topics.TOPICS
                            if any(not r.startswith("supervisors:") for r in t.readers)}
    assert all(t.has_dlq for t in consumed_by_services)
    names = {n for n, _, _ in topics.all_topic_names()}
    assert {t.dlq for t in consumed_by_services} <= names


def test_each_province_has_its_supervision_and_alert_topic():
    names = {t.name for t in topics.TOPICS}
    for p in PROVINCES:
        assert f"supervision.{p.slug}" in names and f"alerts.{p.slug}" in names
    assert "supervision.national" in names and "alerts.national" in names


def test_spec_example_report_parses_and_normalises_to_kg():
    r = Report.model_validate(examples.REPORT)
    assert r.quantity.kg == 250
    t = Report.model_validate({**examples.REPORT, "quantity": {"value": 1.5, "unit": "t"}})
    assert t.quantity.kg == 1500


def test_every_service_reader_has_its_consumer_group_and_only_readers_have_one():
    service_readers = {(r, t.name) for t in topics.TOPICS for r in t.readers
                       if not r.startswith("supervisors:")}
    assert set(topics.CONSUMER_GROUPS) == service_readers
    # one group per topic a service reads: a member of one never stalls the others' rebalances
    assert len(set(topics.CONSUMER_GROUPS.values())) == len(topics.CONSUMER_GROUPS)


def subscriptions(stages) -> dict[str, str]:
    return {s.source.name: s.group for s in stages}


@pytest.mark.parametrize("service", ["validation", "license-matching", "provincial-routing",
                                     "alerting"])
def test_each_consuming_service_subscribes_in_the_registry_groups(service):
    app = importlib.import_module(f"mintrace_{service.replace('-', '_')}.app").create_app()
    assert subscriptions(app.stages) == topics.groups_of(service)


def test_intake_status_projection_runs_as_its_own_service_in_the_registry_groups():
    from mintrace_intake import status

    app = status.create_app()
    assert subscriptions(app.stages) == topics.groups_of("intake-status")
    assert set(topics.groups_of("intake-status")) == {
        "reports.rejected", "reports.validated", "reports.licensed", "supervision.national",
        "alerts.national"}


def test_intake_http_process_consumes_no_topic():
    from mintrace_intake.app import create_app

    assert create_app().state.stages == []
    assert topics.groups_of("intake") == {}
