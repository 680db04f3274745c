"""`mintrace`: run the dev stack and operate the system (migrations, topics, registry, keys)."""

import asyncio
import json
import os
import secrets
import signal
import sys
import time
from pathlib import Path

import typer
from rich.console import Console

from mintrace_common.settings import Settings

app = typer.Typer(help="mintrace — national tracking of critical-mineral transactions.",
                  no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
topics_app = typer.Typer(help="Kafka topics.", no_args_is_help=True)
registry_app = typer.Typer(help="Reference data: producers, facilities, licences, watchlist, prices.",
                           no_args_is_help=True)
keys_app = typer.Typer(help="API keys for producers and supervisors.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(topics_app, name="topics")
app.add_typer(registry_app, name="registry")
app.add_typer(keys_app, name="keys")
from .supervise import app as supervise_app, docs_app  # noqa: E402
from .webhooks import app as webhooks_app  # noqa: E402

app.add_typer(supervise_app, name="supervise")
app.add_typer(docs_app, name="docs")
app.add_typer(webhooks_app, name="webhooks")
console = Console(stderr=True)


def _settings() -> Settings:
    return Settings(service_name="mintrace-cli")


def _fail(message: str) -> None:
    from rich.markup import escape

    console.print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(2)


@db_app.command("migrate")
def db_migrate() -> None:
    """Apply pending migrations to DATABASE_URL (creates the database if missing; idempotent)."""
    from mintrace_common import db

    url = _settings().database_url
    try:
        applied = asyncio.run(db.migrate(url))
    except OSError as exc:
        _fail(f"cannot reach PostgreSQL at {url}: {exc}")
    console.print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none pending'}")


@topics_app.command("create")
def topics_create() -> None:
    """Create every topic of the registry, DLQs included, on KAFKA_BOOTSTRAP_SERVERS."""
    from mintrace_common.topics import all_topic_names

    from .devstack import create_topics

    s = _settings()
    try:
        n = asyncio.run(create_topics(s.kafka_bootstrap_servers))
    except Exception as exc:
        _fail(f"cannot create topics on {s.kafka_bootstrap_servers}: {exc}")
    console.print(f"{n} topic(s) created, {len(all_topic_names())} in the registry")


@topics_app.command("list")
def topics_list() -> None:
    """Print the topic registry: name, partitions, writer, readers."""
    from mintrace_common.topics import TOPICS

    for t in TOPICS:
        print(f"{t.name:32} {t.partitions:3}  {t.model.__name__:18} {t.writer:20} "
              f"{', '.join(t.readers)}")


@registry_app.command("load")
def registry_load(file: Path = typer.Argument(..., help="Registry JSON document (SPEC §3); "
                                                        "'-' for standard input.")) -> None:
    """Upsert a registry document (idempotent): producers, facilities, licences, watchlist,
    reference_prices, fx_rates, opening_stocks. An unknown top-level key or an invalid entry
    loads nothing and exits 1."""
    from mintrace_common import db, registry

    text = sys.stdin.read() if str(file) == "-" else _read(file)
    try:
        doc = registry.parse(text)
    except registry.RegistryError as exc:
        _fail(f"{file} is not a valid registry document, nothing loaded: {exc}")

    async def go():
        conn = await db.connect(_settings().database_url)
        try:
            return await registry.load(conn, doc, source=f"file:{file}")
        finally:
            await conn.close()

    counts = asyncio.run(go())
    console.print(" ".join(f"{k}={v}" for k, v in counts.items()))


@registry_app.command("demo")
def registry_demo(out: Path = typer.Option(None, help="Write here instead of standard output")) -> None:
    """Print the demo registry document (a starting point for a real one)."""
    from . import demo

    text = demo.registry().model_dump_json(indent=2)
    if out:
        out.write_text(text)
    else:
        print(text)


def _read(file: Path) -> str:
    try:
        return file.read_text()
    except OSError as exc:
        _fail(f"cannot read {file}: {exc}")
        raise


@keys_app.command("issue")
def keys_issue(producer: str = typer.Option(None, help="Producer USCC"),
               supervisor: str = typer.Option(None, help="Province slug, or 'national'"),
               name: str = typer.Option(None, help="The person a supervisor key is issued to "
                                                   "(recorded with every case action)")) -> None:
    """Issue an API key and print it once; only its hash is stored."""
    from stdnum.cn import uscc

    from mintrace_common import db, keys
    from mintrace_common.provinces import BY_SLUG, NATIONAL

    if bool(producer) == bool(supervisor):
        _fail("give exactly one of --producer or --supervisor")
    if producer and not uscc.is_valid(producer):
        _fail(f"{producer} is not a valid USCC (18 characters with a check digit)")
    if supervisor and supervisor != NATIONAL and supervisor not in BY_SLUG:
        _fail(f"unknown province slug {supervisor!r}; one of: national, {', '.join(BY_SLUG)}")
    if name is not None and (producer or not name.strip()):
        _fail("--name names the person of a supervisor key (not empty)")

    async def go():
        conn = await db.connect(_settings().database_url)
        try:
            return await keys.issue(conn, "producer" if producer else "supervisor",
                                    producer or supervisor, name.strip() if name else None)
        finally:
            await conn.close()

    print(asyncio.run(go()))
    console.print("[yellow]store this key now: it cannot be shown again[/yellow]")


@keys_app.command("revoke")
def keys_revoke(producer: str = typer.Option(None, help="Producer USCC: revoke all its keys"),
                supervisor: str = typer.Option(None, help="Province slug, or 'national'"),
                key: str = typer.Option(None, help="Revoke this one key (a leaked one)")) -> None:
    """Revoke every live key of a producer or supervisor, or one key. Intake stops accepting a
    revoked key within INTAKE_KEY_CACHE_S (5 s by default)."""
    from mintrace_common import db, keys
    from mintrace_common.provinces import BY_SLUG, NATIONAL

    if sum(map(bool, (producer, supervisor, key))) != 1:
        _fail("give exactly one of --producer, --supervisor or --key")
    if supervisor and supervisor != NATIONAL and supervisor not in BY_SLUG:
        _fail(f"unknown province slug {supervisor!r}; one of: national, {', '.join(BY_SLUG)}")

    async def go():
        conn = await db.connect(_settings().database_url)
        try:
            if key:
                done = await conn.execute("UPDATE api_keys SET revoked_at = now() WHERE "
                                          "key_hash = $1 AND revoked_at IS NULL",
                                          keys.hash_key(key.strip()))
                return int(done.split()[-1])
            return await keys.revoke(conn, "producer" if producer else "supervisor",
                                     producer or supervisor)
        finally:
            await conn.close()

    n = asyncio.run(go())
    console.print(f"revoked {n} key(s)")
    if n == 0:
        console.print(f"[yellow]no live key matched {producer or supervisor or 'that key'}: "
                      "nothing changed[/yellow]")


@app.command()
def simulate(url: str = typer.Option("http://127.0.0.1:8080", help="Intake base URL"),
             rate: float = typer.Option(20.0, help="Reports per second"),
             total: int = typer.Option(None, help="Stop after this many (default: run until Ctrl-C)"),
             seed: int = typer.Option(None, help="Random seed, for a reproducible run (default: "
                                      "a new one each run, so report ids never repeat)"),
             scenario: str = typer.Option(None, help="Submit one labelled scenario and stop: "
                                          "baseline, mixed (every alert type), smuggling, "
                                          "illegal-mining, tax-evasion"),
             days: int = typer.Option(12, help="Days of traffic in a scenario (at least 8)"),
             per_type: int = typer.Option(3, help="Anomalies planted per alert type and per "
                                          "family (each with its near misses)"),
             evaluate: bool = typer.Option(False, "--evaluate", help="After a scenario, read "
                                           "alerts.national and print precision and recall per "
                                           "alert type and per family (exit 1 below the "
                                           "floors)"),
             bootstrap: str = typer.Option(None, help="Kafka bootstrap for --evaluate "
                                           "(default KAFKA_BOOTSTRAP_SERVERS)"),
             timeout: float = typer.Option(180.0, help="Seconds to wait for alerts"),
             min_recall: float = typer.Option(0.95, help="Recall floor per type and family"),
             min_precision: float = typer.Option(0.90, help="Precision floor per type and "
                                                 "family"),
             scores_json: Path = typer.Option(None, help="Also write the scores here (JSON)")
             ) -> None:
    """Simulate producer systems along the whole chain submitting through the HTTP intake.

    Without --scenario it runs normal traffic until Ctrl-C (or --total). With --scenario it
    submits that scenario's days of traffic with labelled anomalies; --evaluate then scores the
    alerts against them."""
    from . import devstack, evaluate as ev, scenarios, simulator

    if scenario and scenario not in scenarios.SCENARIOS:
        _fail(f"unknown scenario {scenario!r}; one of: {', '.join(scenarios.SCENARIOS)}")
    if evaluate and not scenario:
        _fail("--evaluate needs a --scenario")
    if days < 8:
        _fail("--days must be at least 8 (trailing baselines and the transfer window)")
    if seed is None:
        seed = secrets.randbelow(10**6)
        console.print(f"simulate: seed {seed}")
    settings = _settings()
    try:
        keys = asyncio.run(devstack.issue_producer_keys(settings.database_url))
    except OSError as exc:
        _fail(f"cannot reach PostgreSQL at {settings.database_url} to issue producer keys: {exc}")
    if scenario:
        sc = scenarios.build(seed=seed, days=days, scenario=scenario, per_type=per_type)
        console.print(f"scenario {scenario} seed {seed}: {len(sc.reports)} reports over {days} "
                      f"days, {len(sc.planted)} planted anomalies, run id {sc.run}")
        if not evaluate:
            counts = asyncio.run(ev.submit(url, keys, sc, rate))
            console.print(f"simulate: done {counts}")
            return
        scores = asyncio.run(ev.run(url, bootstrap or settings.kafka_bootstrap_servers, keys, sc,
                                    rate, timeout))
        out = Console(width=120)
        out.print(ev.table(scores.types, f"scenario {scenario}, seed {seed}, {days} days"))
        out.print(ev.table(scores.families, "per family (precision counts alerts on its near "
                                            "misses)", "family"))
        for a in scores.false_alarms:
            out.print(f"false alarm: {a['type']} {a['summary']}", markup=False)
        if scores_json:
            scores_json.write_text(json.dumps(
                {"types": {t: vars(s) for t, s in scores.types.items()},
                 "families": {f: vars(s) for f, s in scores.families.items()}}, indent=1))
        if not scores.meet(min_recall, min_precision):
            console.print(f"[red]below the floor (recall {min_recall}, precision "
                          f"{min_precision})[/red]")
            raise typer.Exit(1)
        return
    started = time.monotonic()
    seen = [0]

    def progress(n: int, counts: dict) -> None:
        seen[0] += n
        if seen[0] % max(1, int(rate * 10)) < n:
            console.print(f"simulate: {seen[0]} submitted in {time.monotonic() - started:.0f}s "
                          f"{counts}")

    try:
        counts = asyncio.run(simulator.run(url, keys, rate, total, seed, progress))
        console.print(f"simulate: done {counts}")
    except KeyboardInterrupt:
        pass


@app.command()
def dev(simulate: bool = typer.Option(True, "--simulate/--no-simulate",
                                      help="Feed the system with the producer simulator"),
        rate: float = typer.Option(20.0, help="Simulator reports per second"),
        port: int = typer.Option(8080, help="Intake HTTP port"),
        supervision_port: int = typer.Option(8081, help="Supervision API HTTP port")) -> None:
    """Run the whole system locally: broker, database, every service, and a simulator."""
    from . import devstack

    state = Path(".dev")
    logs = state / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    procs = devstack.Processes()
    broker = None
    try:
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if not bootstrap:
            if devstack.port_open("127.0.0.1", 9092):
                _fail("something already listens on 127.0.0.1:9092; stop it or set "
                      "KAFKA_BOOTSTRAP_SERVERS")
            console.print("starting Tansu broker on 127.0.0.1:9092 (memory storage)")
            broker = devstack.start_broker(9092, logs / "broker.log")
            bootstrap = "127.0.0.1:9092"
        url = os.environ.get("DATABASE_URL")
        if not url:
            console.print("starting embedded PostgreSQL in .dev/pgdata")
            from mintrace_common.db import with_database

            url = with_database(devstack.start_postgres((state / "pgdata").resolve()), "mintrace")
        applied = asyncio.run(devstack.prepare_database(url))
        console.print(f"database ready ({len(applied)} migration(s) applied), demo registry loaded")
        asyncio.run(devstack.create_topics(bootstrap))
        stack = devstack.Stack(bootstrap, url, port, logs, procs,
                               supervision_port=supervision_port)
        if devstack.port_open("127.0.0.1", port):
            _fail(f"port {port} is taken; pass --port")
        if devstack.port_open("127.0.0.1", supervision_port):
            _fail(f"port {supervision_port} is taken; pass --supervision-port")
        stack.start_services()
        if simulate:
            procs.start("simulator", [sys.executable, "-m", "mintrace.cli", "simulate", "--url",
                                      stack.intake_url, "--rate", str(rate)],
                        stack.env(), logs / "simulator.log")
        key = asyncio.run(devstack.issue_supervisor_key(url, devstack.DEMO_PROVINCE))
        _banner(stack, simulate, devstack.DEMO_PROVINCE, key)
        asyncio.run(_watch(bootstrap, procs))
    except KeyboardInterrupt:
        pass
    finally:
        console.print("stopping…")
        procs.stop()
        if broker is not None:
            os.killpg(broker.pid, signal.SIGTERM)
            broker.wait(10)
        console.print("stopped; nothing left running")


def _banner(stack, simulate: bool, province: str, supervisor_key: str) -> None:
    console.print(f"""
[bold green]mintrace is running[/bold green]
  intake        {stack.intake_url}   (OpenAPI: {stack.intake_url}/docs)
  supervision   {stack.supervision_url}   (OpenAPI: {stack.supervision_url}/docs)
  console       {stack.supervision_url}/console/   sign in with this {province} key:
                {supervisor_key}
  broker        {stack.bootstrap}
  database      {stack.database_url}
  logs          {stack.log_dir}/<service>.log
  simulator     {'on' if simulate else 'off'}
  topics        supervision.<slug> ×31, supervision.national, alerts.<slug>, alerts.national
  tail a province:  .venv/bin/mintrace supervise tail --province jiangxi
Ctrl-C stops everything.
""")


async def _watch(bootstrap: str, procs) -> None:
    """Print the flow on supervision.national and alerts.national every few seconds."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer("supervision.national", "alerts.national",
                                bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    counts = {"supervision.national": 0, "alerts.national": 0}
    last = time.monotonic()
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=500)
            for tp, records in batch.items():
                counts[tp.topic] += len(records)
            if time.monotonic() - last >= 5:
                last = time.monotonic()
                dead = [n for n, p in procs.procs.items() if p.poll() is not None]
                console.print(f"supervision.national: {counts['supervision.national']} reports, "
                              f"alerts.national: {counts['alerts.national']} alerts"
                              + (f"  [red]exited: {', '.join(dead)}[/red]" if dead else ""))
    finally:
        await consumer.stop()


licences_app = typer.Typer(help="Export licences: balances, history, events.", no_args_is_help=True)
app.add_typer(licences_app, name="licences")


@licences_app.command("audit")
def licences_audit(licence: str = typer.Option(None, help="Only this licence number"),
                   as_json: bool = typer.Option(False, "--json", help="One JSON object a line")
                   ) -> None:
    """Each licence's stored balance beside the one derived from its matched, not-cancelled
    exports. Exits 1 if any licence disagrees."""
    from mintrace_common import db

    async def go():
        conn = await db.connect(_settings().database_url)
        try:
            return await conn.fetch(
                "SELECT * FROM licence_balances WHERE $1::text IS NULL OR licence_number = $1 "
                "ORDER BY licence_number", licence)
        finally:
            await conn.close()

    try:
        rows = asyncio.run(go())
    except OSError as exc:
        _fail(f"cannot reach PostgreSQL: {exc}")
    if licence and not rows:
        _fail(f"no licence {licence}")
    cols = ["licence_number", "status", "max_quantity_kg", "matched_kg", "remaining_kg",
            "overdrawn_kg", "matched_count", "cancelled_count", "agrees"]
    if as_json:
        for r in rows:
            print(json.dumps({c: str(r[c]) if c.endswith("_kg") else r[c] for c in cols}))
    else:
        from rich.table import Table

        table = Table(*cols)
        for r in rows:
            table.add_row(*[("yes" if r[c] else "[red]NO[/red]") if c == "agrees" else str(r[c])
                            for c in cols])
        Console().print(table)
    bad = [r["licence_number"] for r in rows if not r["agrees"]]
    if bad:
        console.print(f"[red]{len(bad)} licence(s) disagree:[/red] {', '.join(bad)}")
        raise typer.Exit(1)


@licences_app.command("history")
def licences_history(licence: str = typer.Argument(..., help="Licence number")) -> None:
    """Every change of one licence, oldest first, with the row as it stood after it."""
    from mintrace_common import db

    async def go():
        conn = await db.connect(_settings().database_url)
        try:
            return await conn.fetch("SELECT * FROM licence_history WHERE licence_number = $1 "
                                    "ORDER BY id", licence)
        finally:
            await conn.close()

    rows = asyncio.run(go())
    if not rows:
        _fail(f"no history for licence {licence}")
    for r in rows:
        print(json.dumps({"at": r["at"].isoformat(), "change": r["change"], "source": r["source"],
                          "snapshot": r["snapshot"]}, default=str))


@licences_app.command("publish-events")
def licences_publish_events(file: Path = typer.Argument(..., help="LicenceEvent objects: a JSON "
                                                              "array or NDJSON; '-' for stdin")
                            ) -> None:
    """Publish licensing-authority events on licence.events (keyed by licence, so that each
    licence's events are applied in the order given)."""
    from pydantic import ValidationError

    from mintrace_common import topics
    from mintrace_common.models import LicenceEvent
    from mintrace_common.publisher import Emit, Publisher

    text = sys.stdin.read() if str(file) == "-" else _read(file)
    try:
        data = json.loads(text) if text.lstrip().startswith("[") else \
            [json.loads(line) for line in text.splitlines() if line.strip()]
        events = [LicenceEvent.model_validate(e) for e in data]
    except (ValueError, ValidationError) as exc:
        _fail(f"{file} does not hold licence events: {exc}")

    async def go():
        publisher = Publisher(_settings())
        await publisher.start()
        try:  # one producer, in order: a licence's events stay in the order given
            await publisher.publish([Emit(topics.LICENCE_EVENTS.name, e.licence_number, e)
                                     for e in events])
        finally:
            await publisher.stop()

    asyncio.run(go())
    console.print(f"published {len(events)} licence event(s) on {topics.LICENCE_EVENTS.name}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
