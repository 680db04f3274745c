# syntax=docker/dockerfile:1.7
# The operator CLI (`mintrace db migrate`, `mintrace topics create`, `mintrace registry load`,
# `mintrace keys issue`) for one-shot jobs. Build from the repository root:
#   docker build -f deploy/docker/cli.Dockerfile -t mintrace/cli .

FROM ghcr.io/astral-sh/uv:0.9.7 AS uv

FROM python:3.11.14-slim-bookworm AS build
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package mintrace

FROM python:3.11.14-slim-bookworm AS runtime
RUN groupadd --gid 10001 mintrace && useradd --uid 10001 --gid 10001 --no-create-home mintrace
COPY --from=build /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH PYTHONUNBUFFERED=1 LOG_FORMAT=json
USER 10001:10001
ENTRYPOINT ["mintrace"]
CMD ["--help"]
