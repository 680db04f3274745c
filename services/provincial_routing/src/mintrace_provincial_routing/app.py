from faststream import FastStream

from mintrace_common.service import create_service, run
from mintrace_common.settings import Settings

from .handlers import register


def create_app(settings: Settings | None = None) -> FastStream:
    settings = settings or Settings(service_name="provincial-routing")
    app, _ = create_service(settings, register)
    return app


def main() -> None:
    run(create_app())


if __name__ == "__main__":
    main()
