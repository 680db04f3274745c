"""cases.events, declared on the supervision service's Kafka router. The one place that
publishes it: the returned function waits for the broker's acknowledgement."""

from faststream.kafka import KafkaRouter

from mintrace_common import topics
from mintrace_common.kafka import Emit, publish_all
from mintrace_common.models import CaseEvent

from .casework import Publish


def case_events_publisher(router: KafkaRouter) -> Publish:
    topic = topics.CASES_EVENTS
    publishers = {topic.name: router.publisher(topic.name, schema=CaseEvent,
                                               description="every action on an alert's case")}

    async def publish(events: list[CaseEvent]) -> None:
        await publish_all(publishers, [Emit(topic.name, e.alert_id, e) for e in events])

    return publish
