from faststream import FastStream

from mintrace_common import names
from mintrace_common.service import create_service, run
from mintrace_common.settings import Settings

from .handlers import register


def create_app(settings: Settings | None = None) -> FastStream:
    settings = settings or Settings(service_name="license-matching")
    app, _ = create_service(settings, register)
    return app


def main() -> None:
    names.load()  # before the first batch: ~0.4 s of CPU for pypinyin's and OpenCC's dictionaries
    run(create_app())


if __name__ == "__main__":
    main()
