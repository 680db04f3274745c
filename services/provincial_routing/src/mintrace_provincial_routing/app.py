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
    rollup_page_rows: int = Field(default=2000, ge=1, le=5000,
                                  description="rows per rollup.national record (~200 B each)")
    sweep_interval_s: float = Field(default=10.0, gt=0,
                                    description="how often records left unpublished are re-sent")


def create_app(settings: RoutingSettings | None = None) -> FastStream:
    settings = settings or RoutingSettings(service_name="provincial-routing")

    def register_all(router: KafkaRouter, res: Resources) -> None:
        res.every("routing.sweep", settings.sweep_interval_s, register(router, res))
        res.every("rollup.publish", settings.rollup_interval_s,
                  register_rollup(router, res, settings.rollup_days, settings.rollup_page_rows))
        health.watch_outbox(res, "routed_reports", "routed_at")

    app, _ = create_service(settings, register_all)
    return app


def main() -> None:
    run(create_app())


if __name__ == "__main__":
    main()
