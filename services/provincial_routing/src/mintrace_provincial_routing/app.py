from faststream import FastStream
from faststream.kafka import KafkaRouter
from pydantic import Field

from mintrace_common import health
from mintrace_common.service import Resources, create_service, run
from mintrace_common.settings import Settings

from .handlers import register, register_rollup


class RoutingSettings(Settings):
    rollup_interval_s: float = Field(default=60.0, description="rollup.national publish period")
    rollup_days: int = Field(default=7, ge=1, le=366, description="days in each rollup summary")


def create_app(settings: RoutingSettings | None = None) -> FastStream:
    settings = settings or RoutingSettings(service_name="provincial-routing")
    def register_all(router: KafkaRouter, res: Resources) -> None:
        register(router, res)
        res.every("rollup.publish", settings.rollup_interval_s,
                  register_rollup(router, res, settings.rollup_days))
        health.watch_outbox(res, "routed_reports", "routed_at")

    app, _ = create_service(settings, register_all)
    return app


def main() -> None:
    run(create_app())


if __name__ == "__main__":
    main()
