import os
from datetime import timedelta

from faststream import FastStream

from mintrace_common import health, names
from mintrace_common.service import create_service, run
from mintrace_common.settings import Settings

from . import config, handlers


def create_app(settings: Settings | None = None, rules: config.Rules | None = None,
               clock: handlers.Clock | None = None) -> FastStream:
    """`clock` is injectable (tests); by default the system clock shifted by
    $ALERTING_CLOCK_OFFSET_S seconds, which lets a staging run fast-forward the windows."""
    settings = settings or Settings(service_name="alerting")
    rules = rules or config.load()
    clock = clock or handlers.system_clock(
        timedelta(seconds=float(os.environ.get("ALERTING_CLOCK_OFFSET_S", "0"))))
    def register_all(router, res) -> None:
        res.every("alerting.sweep", rules.sweep_interval_seconds,
                  handlers.register(router, res, rules, clock))
        health.watch_outbox(res, "alerts", "recorded_at")

    app, _ = create_service(settings, register_all)
    return app


def main() -> None:
    names.load()  # before the first batch: ~0.4 s of CPU for pypinyin's and OpenCC's dictionaries
    run(create_app())


if __name__ == "__main__":
    main()
