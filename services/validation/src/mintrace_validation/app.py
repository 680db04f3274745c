from faststream import FastStream

from mintrace_common.service import create_service, run
from mintrace_common.settings import Settings

from .handlers import register
from .settings import ValidationSettings


def create_app(settings: Settings | None = None) -> FastStream:
    settings = ValidationSettings(**(settings.model_dump() if settings
                                     else {"service_name": "validation"}))
    app, _ = create_service(settings, register)
    return app


def main() -> None:
    run(create_app())


if __name__ == "__main__":
    main()
