"""`mintrace dev`: the whole system on this machine, until a signal stops it.

It writes where everything is to `.dev/state.json` (read by every other command run from this
directory) and removes it on the way out. SIGINT, SIGTERM and SIGHUP stop every child (each in
its own process group) and the embedded PostgreSQL. A service that dies is reported and started
again after a backoff (1 s doubling to 30 s, jittered; reset once it has run for a minute): the
stack keeps running. After an unclean stop (kill -9, a power cut) the next start kills what the
dead stack left behind, recovers the embedded PostgreSQL (stale postmaster.pid, holders) and keeps
its data."""

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path

import typer

from mintrace import clients

from .context import UNREACHABLE, err, fail, run

STATE_DIR = Path(".dev")
UP_FOR_RESET_S = 60.0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Stop(KeyboardInterrupt):
    """A stop signal arrived (KeyboardInterrupt's kind, so that every `finally` runs)."""


def dev(simulate: bool = typer.Option(True, "--simulate/--no-simulate",
                                      help="Feed the system with the producer simulator"),
        rate: float = typer.Option(20.0, help="Simulator reports per second"),
        port: int = typer.Option(8080, help="Intake HTTP port"),
        supervision_port: int = typer.Option(8081, help="Supervision API HTTP port"),
        broker_port: int = typer.Option(9092, help="Port of the broker started here (unless "
                                                   "KAFKA_BOOTSTRAP_SERVERS is set)")) -> None:
    """Run the whole system locally: broker, database, every service, and a simulator.
    Stops everything on Ctrl-C, SIGTERM or SIGHUP; restarts a service that dies."""
    from mintrace import devstack

    def on_signal(signum, _frame):
        raise Stop(signal.Signals(signum).name)

    for sig in STOP_SIGNALS:
        signal.signal(sig, on_signal)
    logs = STATE_DIR / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    reap_leftovers(STATE_DIR)
    procs = devstack.Processes()
    broker = pg = None
    try:
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        for p, flag in ((port, "--port"), (supervision_port, "--supervision-port")):
            if devstack.port_open("127.0.0.1", p):
                fail(f"port {p} is taken; pass {flag}")
        if not bootstrap:
            if devstack.port_open("127.0.0.1", broker_port):
                fail(f"something already listens on 127.0.0.1:{broker_port}; stop it, pass "
                     "--broker-port or set KAFKA_BOOTSTRAP_SERVERS")
            err.print(f"starting Tansu broker on 127.0.0.1:{broker_port} (memory storage)")
            broker = devstack.start_broker(broker_port, logs / "broker.log")
            bootstrap = f"127.0.0.1:{broker_port}"
        url = os.environ.get("DATABASE_URL")
        if not url:
            err.print(f"starting embedded PostgreSQL in {STATE_DIR / 'pgdata'}")
            from mintrace_common.db import with_database

            pg = devstack.embedded_postgres_server((STATE_DIR / "pgdata").resolve())
            url = with_database(pg.get_uri("postgres"), "mintrace")
        applied = run(devstack.prepare_database(url), "preparing the database")
        err.print(f"database ready ({len(applied)} migration(s) applied), demo registry loaded")
        run(devstack.create_topics(bootstrap), "creating topics")
        stack = devstack.Stack(bootstrap, url, port, logs, procs,
                               supervision_port=supervision_port)
        stack.start_services()
        if simulate:
            start_simulator(procs, stack, rate)
        write_state(stack, broker, pg)
        key = run(devstack.issue_supervisor_key(url, devstack.DEMO_PROVINCE),
                  "issuing the demo supervisor key")
        _banner(stack, simulate, devstack.DEMO_PROVINCE, key)
        asyncio.run(_watch(stack, rate if simulate else None,
                           lambda: write_state(stack, broker, pg)))
    except KeyboardInterrupt as exc:
        err.print(f"{exc or 'SIGINT'}: stopping…")
    finally:
        for sig in STOP_SIGNALS:  # a second signal must not cut the cleanup short
            signal.signal(sig, signal.SIG_IGN)
        (STATE_DIR / "state.json").unlink(missing_ok=True)
        procs.stop()
        if broker is not None:
            procs.procs["broker"] = broker
            procs.stop()
        if pg is not None:
            pg.cleanup()
        _say("stopped; nothing left running")


def _say(text: str) -> None:
    try:
        err.print(text)
    except OSError:  # the terminal is gone (SIGHUP)
        pass


def start_simulator(procs, stack, rate: float) -> None:
    procs.start("simulator", [sys.executable, "-m", "mintrace.cli", "simulate", "--url",
                              stack.intake_url, "--rate", str(rate)],
                stack.env(), stack.log_dir / "simulator.log")


def write_state(stack, broker, pg) -> None:
    """Where everything is, for the other commands (`mintrace.clients`), and which processes are
    ours, for the next start after an unclean stop."""
    state = {"pid": os.getpid(), "database_url": stack.database_url,
             "kafka_bootstrap_servers": stack.bootstrap, "intake_url": stack.intake_url,
             "supervision_url": stack.supervision_url, "http_port": stack.http_port,
             "supervision_port": stack.supervision_port, "log_dir": str(stack.log_dir),
             "children": {n: p.pid for n, p in stack.procs.procs.items()}
             | ({"broker": broker.pid} if broker else {}),
             "postgres_pid": pg.get_pid() if pg else None}
    tmp = STATE_DIR / "state.json.tmp"
    tmp.write_text(json.dumps(state, indent=1))
    tmp.replace(STATE_DIR / "state.json")


def reap_leftovers(state_dir: Path) -> None:
    """After an unclean stop: stop the children a dead `mintrace dev` left running (only
    processes that still run our programs), so that ports and the database are free again."""
    path = state_dir / "state.json"
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    if clients.pid_alive(int(state.get("pid", 0))):
        fail(f"a dev stack is already running here (pid {state['pid']}); stop it first",
             UNREACHABLE)
    for name, pid in state.get("children", {}).items():
        if _ours(pid):
            err.print(f"stopping {name} (pid {pid}) left by a stack that was killed")
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    path.unlink(missing_ok=True)


def _ours(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return "mintrace" in cmdline or "tansu" in cmdline or "calfkit" in cmdline


def _banner(stack, simulate: bool, province: str, supervisor_key: str) -> None:
    err.print(f"""
[bold green]mintrace is running[/bold green]
  intake        {stack.intake_url}   (OpenAPI: {stack.intake_url}/docs)
  supervision   {stack.supervision_url}   (OpenAPI: {stack.supervision_url}/docs)
  console       {stack.supervision_url}/console/   sign in with this {province} key:
                {supervisor_key}
  broker        {stack.bootstrap}
  database      {clients.mask(stack.database_url)}
  logs          {stack.log_dir}/<service>.log
  state         {STATE_DIR / 'state.json'} (other `mintrace` commands run here use it)
  simulator     {'on' if simulate else 'off'}
  tail a province:  .venv/bin/mintrace supervise tail --province jiangxi
Ctrl-C stops everything.
""", highlight=False)


class Restarts:
    """When to start a dead child again: exponential backoff with full jitter (backoff's wait
    generator), reset once the child has stayed up UP_FOR_RESET_S."""

    def __init__(self, jitter=None) -> None:
        import backoff

        self.jitter = jitter or backoff.full_jitter
        self.waits: dict[str, object] = {}
        self.due: dict[str, float] = {}
        self.started: dict[str, float] = {}

    def died(self, name: str, now: float) -> float:
        import backoff

        if now - self.started.get(name, 0.0) > UP_FOR_RESET_S or name not in self.waits:
            gen = backoff.expo(base=2, factor=0.5, max_value=30)
            next(gen)  # the generator's first value is a priming None
            self.waits[name] = gen
        delay = self.jitter(next(self.waits[name])) + 0.5
        self.due[name] = now + delay
        return delay

    def ready(self, now: float) -> list[str]:
        names = [n for n, t in self.due.items() if t <= now]
        for n in names:
            del self.due[n]
            self.started[n] = now
        return names


async def _watch(stack, simulator_rate: float | None, save_state, every: float = 5.0) -> None:
    """Report the flow on supervision.national and alerts.national every few seconds; restart
    any child that died."""
    consumer = clients.consumer("supervision.national", "alerts.national",
                                s=clients.for_bootstrap(stack.bootstrap),
                                auto_offset_reset="earliest")
    await consumer.start()
    counts = {"supervision.national": 0, "alerts.national": 0}
    restarts = Restarts()
    last = time.monotonic()
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=500)
            for tp, records in batch.items():
                counts[tp.topic] += len(records)
            now = time.monotonic()
            for name, proc in list(stack.procs.procs.items()):
                if proc.poll() is not None and name not in restarts.due:
                    delay = restarts.died(name, now)
                    err.print(f"[red]{name} exited with code {proc.returncode}[/red]; starting "
                              f"it again in {delay:.1f}s (log: {stack.log_dir / name}.log)")
            for name in restarts.ready(now):
                if name == "simulator":
                    start_simulator(stack.procs, stack, simulator_rate or 20.0)
                else:
                    stack.restart(name)
                save_state()
                err.print(f"{name} started again")
            if now - last >= every:
                last = now
                err.print(f"supervision.national: {counts['supervision.national']} reports, "
                          f"alerts.national: {counts['alerts.national']} alerts")
    finally:
        await consumer.stop()
