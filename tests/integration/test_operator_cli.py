"""The operator's commands against a real database and broker: keys, schema status, dead
letters, and clean failures when something is unreachable."""

import asyncio
import json

import httpx
import pytest
from typer.testing import CliRunner

from mintrace import devstack
from mintrace.cli import app
from mintrace.cli.dlq import REPLAYED_HEADER
from mintrace_common.db import with_database
from mintrace_common.keys import hash_key
from mintrace_common.models import DeadLetter
from topic_reader import TopicReader


def cli(*args: str, **env: str):
    return CliRunner().invoke(app, list(args), env=env)


def test_keys_list_shows_holder_creation_last_use_and_revocation(stack, database_url):
    issued = cli("keys", "issue", "--producer", "91360700MA0000001T", DATABASE_URL=database_url)
    assert issued.exit_code == 0, issued.output
    key = issued.stdout.strip()
    httpx.get(f"{stack.intake_url}/v1/reports/NOPE", headers={"Authorization": f"Bearer {key}"})
    rows = [json.loads(line) for line in cli("keys", "list", "--producer", "91360700MA0000001T",
                                             "--json", DATABASE_URL=database_url).stdout.splitlines()]
    [mine] = [r for r in rows if r["id"] == hash_key(key)[:12]]
    assert mine["last_used"] is not None and mine["revoked"] is None
    assert mine["holder"] == "91360700MA0000001T" and mine["kind"] == "producer"
    assert key not in json.dumps(rows)  # only hashes are kept

    revoked = cli("keys", "revoke", "--id", mine["id"], DATABASE_URL=database_url)
    assert revoked.exit_code == 0 and "revoked 1 key" in revoked.output
    live = cli("keys", "list", "--producer", "91360700MA0000001T", "--live", "--json",
               DATABASE_URL=database_url)
    assert mine["id"] not in live.stdout


def test_db_status_lists_pending_migrations_and_exits_1_until_migrated(pg_server_url):
    url = with_database(pg_server_url, "mintrace_status_empty")
    asyncio.run(devstack.drop_database(url))
    assert cli("db", "migrate", DATABASE_URL=url).exit_code == 0
    done = cli("db", "status", "--json", DATABASE_URL=url)
    assert done.exit_code == 0, done.output
    states = [json.loads(line) for line in done.stdout.splitlines()]
    assert states and all(s["state"] == "applied" for s in states)
    asyncio.run(_sql(url, "DELETE FROM schema_migrations WHERE version = "
                          "(SELECT max(version) FROM schema_migrations)"))
    behind = cli("db", "status", "--json", DATABASE_URL=url)
    assert behind.exit_code == 1
    assert [json.loads(line)["state"] for line in behind.stdout.splitlines()][-1] == "pending"
    asyncio.run(devstack.drop_database(url))


async def _sql(url: str, query: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    await conn.execute(query)
    await conn.close()


@pytest.fixture(scope="module")
def own_broker(tmp_path_factory):
    port = devstack.free_port()
    proc = devstack.start_broker(port, tmp_path_factory.mktemp("dlq") / "broker.log")
    bootstrap = f"127.0.0.1:{port}"
    asyncio.run(devstack.create_topics(bootstrap))
    yield bootstrap
    proc.terminate()
    proc.wait(10)


async def _dead_letters(bootstrap: str, n: int) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    for i in range(n):
        letter = DeadLetter(source_topic="reports.cancelled", partition=0, offset=i,
                            key=f"R-{i}", error="ValueError: boom", consumer_group="lm",
                            value=json.dumps({"report_id": f"R-{i}"}))
        await producer.send_and_wait("reports.cancelled.dlq", letter.model_dump_json().encode(),
                                     key=f"R-{i}".encode())
    await producer.stop()


def test_dead_letters_are_listed_shown_and_replayed_once_to_their_source(own_broker):
    asyncio.run(_dead_letters(own_broker, 3))
    env = {"KAFKA_BOOTSTRAP_SERVERS": own_broker}
    listed = cli("dlq", "list", "reports.cancelled", "--json", **env)
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout) == {"topic": "reports.cancelled.dlq", "letters": 3,
                                         "replayed": 0, "pending": 3}
    shown = cli("dlq", "show", "reports.cancelled.dlq", "--json", **env)
    assert [json.loads(line)["error"] for line in shown.stdout.splitlines()] == \
        ["ValueError: boom"] * 3

    assert "replayed 3" in cli("dlq", "replay", "reports.cancelled", **env).output
    again = cli("dlq", "replay", "reports.cancelled", **env)
    assert again.exit_code == 0 and "replayed 0" in again.output

    async def read():
        async with TopicReader(own_broker, "reports.cancelled") as reader:
            await reader.until(lambda r: len(r["reports.cancelled"]) >= 3)
            return reader.records["reports.cancelled"]

    records = asyncio.run(read())
    assert sorted(k for k, _, _ in records) == ["R-0", "R-1", "R-2"]
    assert all(REPLAYED_HEADER in headers for _, _, headers in records)
    assert json.loads(cli("dlq", "list", "reports.cancelled", "--json", **env).stdout)[
        "pending"] == 0


def test_unreachable_database_and_broker_end_in_one_masked_line_and_exit_3():
    db = cli("keys", "list", DATABASE_URL="postgresql://ops:hunter2@127.0.0.1:1/mintrace")
    assert db.exit_code == 3, db.output
    assert "hunter2" not in db.output and "Traceback" not in db.output
    assert "ops:***@" in db.output
    broker = cli("dlq", "list", KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1")
    assert broker.exit_code == 3 and "Kafka broker is unreachable" in broker.output
    assert cli("keys", "issue").exit_code == 2  # usage: neither --producer nor --supervisor
