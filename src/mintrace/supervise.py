"""`mintrace supervise`: a province's queue live in the terminal, and its rollup as a table;
`mintrace docs asyncapi`: the AsyncAPI document of every topic the services read and write."""

import asyncio
import json
import re
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from mintrace_common.chinatime import china_day
from mintrace_common.provinces import BY_SLUG, NATIONAL
from mintrace_common.settings import Settings

app = typer.Typer(help="Supervisor views of a province (or the whole country).",
                  no_args_is_help=True)
docs_app = typer.Typer(help="Generated documentation.", no_args_is_help=True)
console = Console(stderr=True)
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
PROVINCE_HELP = "Province slug (e.g. jiangxi, inner-mongolia) or 'national'"


def parse_since(text: str) -> timedelta:
    """'90s', '15m', '1h', '7d' → a duration. Raises ValueError."""
    m = re.fullmatch(r"\s*(\d+)\s*([smhd])\s*", text)
    if not m:
        raise ValueError(f"{text!r} is not a duration such as 30m, 1h or 2d")
    return timedelta(seconds=int(m[1]) * UNITS[m[2]])


def _province(slug: str) -> str:
    if slug != NATIONAL and slug not in BY_SLUG:
        console.print(f"[red]error:[/red] unknown province {slug!r}; one of: national, "
                      f"{', '.join(BY_SLUG)}")
        raise typer.Exit(2)
    return slug


class QueueView:
    """The last reports and alerts of a province, and running totals."""

    def __init__(self, slug: str, rows: int = 20) -> None:
        self.slug = slug
        self.reports: deque[dict] = deque(maxlen=rows)
        self.alerts: deque[dict] = deque(maxlen=max(5, rows // 3))
        self.counts = {"reports": 0, "redeliveries": 0, "kg": 0.0, "alerts": 0, "refused": 0}
        self.seen: set[str] = set()

    def add(self, topic: str, value: dict) -> None:
        if topic.startswith("alerts."):
            self.alerts.append(value)
            self.counts["alerts"] += 1
            return
        if value["report_id"] in self.seen:  # a redelivered copy: counted once, shown once
            self.counts["redeliveries"] += 1
            return
        self.seen.add(value["report_id"])
        self.reports.append(value)
        self.counts["reports"] += 1
        self.counts["kg"] += float(value.get("quantity_kg") or 0)
        self.counts["refused"] += value.get("licence", {}).get("status") == "refused"

    def render(self) -> Group:
        t = Table(title=f"supervision.{self.slug} — {self.counts['reports']} reports, "
                        f"{self.counts['kg']:,.0f} kg, {self.counts['refused']} refused licences, "
                        f"{self.counts['redeliveries']} duplicates dropped", expand=True)
        for col in ("occurred", "report", "province", "type", "material", "kg", "to",
                    "licence"):
            t.add_column(col, no_wrap=col in ("occurred", "kg"))
        for r in reversed(self.reports):
            rep, lic = r["report"], r["licence"]
            dest = (rep.get("export") or {}).get("destination_country", "")
            status = lic["status"] + (f" {lic['licence_number']}" if lic.get("licence_number")
                                      else "") + (f" ({', '.join(lic['reasons'])})"
                                                  if lic.get("reasons") else "")
            t.add_row(rep["occurred_at"][:16], r["report_id"], r["province_slug"], rep["type"],
                      rep["material"], f"{float(r['quantity_kg']):,.1f}", dest,
                      ("[red]" if lic["status"] == "refused" else "") + status)
        a = Table(title=f"alerts.{self.slug} — {self.counts['alerts']}", expand=True)
        for col in ("raised", "severity", "type", "summary"):
            a.add_column(col)
        for x in reversed(self.alerts):
            a.add_row(x["raised_at"][:19], x["severity"], x["type"], x["summary"])
        return Group(t, a)


async def _tail(bootstrap: str, slug: str, since: timedelta, follow: bool, rows: int) -> QueueView:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    view = QueueView(slug, rows)
    topics_ = [f"supervision.{slug}", f"alerts.{slug}"]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()  # fetches the cluster's metadata
        parts = [TopicPartition(t, p) for t in topics_
                 for p in sorted(consumer.partitions_for_topic(t) or ())]
        if not parts:
            raise RuntimeError(f"no such topics on {bootstrap}: {', '.join(topics_)}")
        consumer.assign(parts)
        start_ms = int((datetime.now(UTC) - since).timestamp() * 1000)
        offsets = await consumer.offsets_for_times({tp: start_ms for tp in parts})
        ends = await consumer.end_offsets(parts)
        for tp in parts:
            consumer.seek(tp, offsets[tp].offset if offsets.get(tp) else ends[tp])
        with Live(view.render(), console=Console(), refresh_per_second=2,
                  transient=False) as live:
            while True:
                batch = await consumer.getmany(timeout_ms=500)
                for tp, records in batch.items():
                    for rec in records:
                        view.add(tp.topic, json.loads(rec.value))
                live.update(view.render())
                if not follow and all([await consumer.position(tp) >= ends[tp] for tp in parts]):
                    return view
    finally:
        await consumer.stop()


@app.command("tail")
def tail(province: str = typer.Option(..., help=PROVINCE_HELP),
         since: str = typer.Option("1h", help="Start this far back: 30m, 1h, 2d"),
         follow: bool = typer.Option(True, "--follow/--no-follow",
                                     help="Keep watching (default) or stop at the end"),
         rows: int = typer.Option(20, min=1, help="Reports shown")) -> None:
    """Live view of a province's queue (supervision.<slug>) and its alerts."""
    slug = _province(province)
    try:
        back = parse_since(since)
    except ValueError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    bootstrap = Settings().kafka_bootstrap_servers
    try:
        asyncio.run(_tail(bootstrap, slug, back, follow, rows))
    except KeyboardInterrupt:
        pass
    except (RuntimeError, OSError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None


ROLLUP_SQL = """
SELECT material, destination_country, sum(quantity_kg) AS kg, sum(value_usd) AS usd,
       sum(report_count) AS reports, sum(non_usd_count) AS non_usd
FROM rollup_daily WHERE day >= $1 AND ($2::text IS NULL OR province_code = $2)
GROUP BY material, destination_country ORDER BY kg DESC, material, destination_country"""


async def rollup_rows(url: str, slug: str, days: int) -> list[dict]:
    from mintrace_common import db


    since = china_day(datetime.now(UTC)) - timedelta(days=days - 1)
    conn = await db.connect(url)
    try:
        rows = await conn.fetch(ROLLUP_SQL, since,
                                None if slug == NATIONAL else BY_SLUG[slug].code)
    finally:
        await conn.close()
    return [dict(r) for r in rows]


@app.command("rollup")
def rollup(province: str = typer.Option(..., help=PROVINCE_HELP),
           days: int = typer.Option(7, min=1, max=3660, help="Days back, today included (CST)")
           ) -> None:
    """Volumes by material and destination over the last days, from the national rollup."""
    slug = _province(province)
    try:
        rows = asyncio.run(rollup_rows(Settings().database_url, slug, days))
    except OSError as exc:
        console.print(f"[red]error:[/red] cannot reach PostgreSQL: {exc}")
        raise typer.Exit(1) from None
    t = Table(title=f"{slug}: last {days} day(s)")
    for col, right in (("material", False), ("destination", False), ("kg", True),
                       ("value USD", True), ("reports", True), ("values without rate", True)):
        t.add_column(col, justify="right" if right else "left")
    for r in rows:
        t.add_row(r["material"], r["destination_country"], f"{r['kg']:,.3f}",
                  f"{r['usd']:,.2f}", str(r["reports"]), str(r["non_usd"]))
    Console().print(t if rows else f"no routed reports for {slug} in the last {days} day(s)")


def asyncapi_document() -> dict:
    """One AsyncAPI 3 document of every consuming service's channels and payloads."""
    from faststream.specification import AsyncAPI

    from mintrace_alerting.app import create_app as alerting
    from mintrace_license_matching.app import create_app as license_matching
    from mintrace_provincial_routing.app import create_app as routing
    from mintrace_supervision.app import create_app as supervision
    from mintrace_validation.app import create_app as validation

    apps = [make() for make in (validation, license_matching, routing, alerting)]
    brokers = [a.broker for a in apps] + [supervision().state.broker]
    spec = AsyncAPI(*brokers, title="mintrace", version="1",
                    description="Topics of the mintrace pipeline; the supervisors' contract is "
                                "supervision.<slug>, supervision.national, alerts.<slug>, "
                                "alerts.national and rollup.national (SPEC §4).")
    return json.loads(spec.to_specification().to_json())


@docs_app.command("asyncapi")
def asyncapi(out: Path = typer.Option(Path("asyncapi.json"), help="Where to write ('-' = "
                                                                   "standard output)")) -> None:
    """Write the AsyncAPI document (what `faststream docs gen` produces, for all services)."""
    started = time.monotonic()
    text = json.dumps(asyncapi_document(), indent=2)
    if str(out) == "-":
        print(text)
    else:
        out.write_text(text)
        console.print(f"wrote {out} in {time.monotonic() - started:.1f}s")
