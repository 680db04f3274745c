from collections.abc import Callable
from datetime import UTC, datetime

from faststream.kafka import KafkaRouter

from mintrace_common import topics
from mintrace_common.kafka import Emit, batch_stage
from mintrace_common.models import ReceivedReport
from mintrace_common.service import Resources

from . import service
from .store import ValidationUnitOfWork


def register(router: KafkaRouter, res: Resources,
             uow: Callable[[], service.ValidationUnitOfWork] | None = None) -> None:
    """`uow()` makes the unit of work of one batch (swappable for tests)."""
    late_after = res.settings.late_after  # a ValidationSettings
    uow = uow or (lambda: ValidationUnitOfWork(res.pool))

    @batch_stage(router, topics.RECEIVED, group=topics.RECEIVED.group("validation"),
                 outputs=[topics.VALIDATED.name, topics.REJECTED.name],
                 max_records=res.settings.kafka_max_records)
    async def on_received(batch: list[ReceivedReport]) -> list[Emit]:
        return await service.judge(batch, uow(), datetime.now(UTC), late_after)
