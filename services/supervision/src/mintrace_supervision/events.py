"""cases.events, declared on the supervision service's Kafka router (for the AsyncAPI document).
The one place that publishes it, through the process's Publisher: the returned function waits
for the broker's acknowledgement."""

from faststream.kafka import KafkaRouter

from mintrace_common import topics
from mintrace_common.models import CaseEvent
from mintrace_common.publisher import Emit, Publisher, declare

from .casework import Publish


def case_events_publisher(router: KafkaRouter, publisher: Publisher) -> Publish:
    topic = topics.CASES_EVENTS
    declare(router, [topic.name], "every action on an alert's case")

    async def publish(events: list[CaseEvent]) -> None:
        await publisher.publish([Emit(topic.name, e.alert_id, e) for e in events])

    return publish
