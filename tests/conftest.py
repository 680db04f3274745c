"""Real parts for the tests: a Tansu broker on a free loopback port, a fresh PostgreSQL database
(on DATABASE_URL's server, else an embedded one), and the five services as processes."""

import asyncio

import pytest

from mintrace import devstack
from topic_reader import TopicReader


@pytest.fixture(scope="session")
def pg_server_url(tmp_path_factory) -> str:
    return devstack.postgres_server(tmp_path_factory.mktemp("pgdata"))


@pytest.fixture(scope="session")
def database_url(pg_server_url) -> str:
    """A database of this test session's own, migrated, with the demo registry loaded."""
    url = asyncio.run(devstack.scratch_database(pg_server_url, "mintrace_test"))
    yield url
    asyncio.run(devstack.drop_database(url))


@pytest.fixture(scope="session")
def kafka(tmp_path_factory) -> str:
    """A Tansu broker of this session's own, every registry topic created."""
    port = devstack.free_port()
    proc = devstack.start_broker(port, tmp_path_factory.mktemp("broker") / "broker.log")
    bootstrap = f"127.0.0.1:{port}"
    asyncio.run(devstack.create_topics(bootstrap))
    yield bootstrap
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="session")
def stack(kafka, database_url, tmp_path_factory):
    """The five services as separate processes against the session's broker and database."""
    s = devstack.Stack(kafka, database_url, devstack.free_port(),
                       tmp_path_factory.mktemp("logs"))
    s.start_services()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def producer_keys(database_url) -> dict[str, str]:
    return asyncio.run(devstack.issue_producer_keys(database_url))


@pytest.fixture
def topic_reader(kafka):
    return lambda *topics: TopicReader(kafka, *topics)


@pytest.fixture
def make_stack(pg_server_url, tmp_path):
    """Build stacks of their own (fresh broker, fresh database, services not yet started) for
    tests that kill or restart services: `stack = await make_stack()`; all are torn down after."""
    made: list[tuple[devstack.Stack, object, str]] = []

    async def build(extra_env: dict[str, str] | None = None) -> devstack.Stack:
        port = devstack.free_port()
        broker = devstack.start_broker(port, tmp_path / f"broker-{port}.log")
        bootstrap = f"127.0.0.1:{port}"
        await devstack.create_topics(bootstrap)
        url = await devstack.scratch_database(pg_server_url, "mintrace_test")
        s = devstack.Stack(bootstrap, url, devstack.free_port(), tmp_path / f"logs-{port}",
                           extra_env=extra_env or {})
        made.append((s, broker, url))
        return s

    yield build
    for s, broker, _ in made:
        s.stop()
        broker.terminate()
        broker.wait(10)

    async def drop():
        for _, _, url in made:
            await devstack.drop_database(url)

    asyncio.run(drop())
