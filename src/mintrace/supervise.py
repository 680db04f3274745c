"""Supervisor views for the terminal (`mintrace supervise`): a province's queue live, and the
AsyncAPI document of every topic the services read and write (`mintrace docs asyncapi`)."""

import json
import re
from collections import deque
from datetime import UTC, datetime, timedelta

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
PROVINCE_HELP = "Province slug (e.g. jiangxi, inner-mongolia) or 'national'"


def parse_since(text: str) -> timedelta:
    """'90s', '15m', '1h', '7d' → a duration. Raises ValueError."""
    m = re.fullmatch(r"\s*(\d+)\s*([smhd])\s*", text)
    if not m:
        raise ValueError(f"{text!r} is not a duration such as 30m, 1h or 2d")
    return timedelta(seconds=int(m[1]) * UNITS[m[2]])


class QueueView:
    """The last reports and alerts of a province, and running totals."""

    def __init__(self, slug: str, rows: int = 20) -> None:
        self.slug = slug
        self.reports: deque[dict] = deque(maxlen=rows)
        self.alerts: deque[dict] = deque(maxlen=max(5, rows // 3))
        self.counts = {"reports": 0, "redeliveries": 0, "kg": 0.0, "alerts": 0, "refused": 0,
                       "cancelled": 0}
        self.seen: set[str] = set()
        self.cancelled: set[str] = set()

    def add(self, topic: str, value: dict) -> None:
        if topic.startswith("alerts."):
            self.alerts.append(value)
            self.counts["alerts"] += 1
            return
        report_id = value["report_id"]
        if value.get("cancelled_at"):  # the record again, once its report was cancelled
            self._cancel(value)
            return
        if report_id in self.seen:  # a redelivered copy: counted once, shown once
            self.counts["redeliveries"] += 1
            return
        self.seen.add(report_id)
        self.reports.append(value)
        self.counts["reports"] += 1
        self.counts["kg"] += float(value.get("quantity_kg") or 0)
        self.counts["refused"] += value.get("licence", {}).get("status") == "refused"

    def _cancel(self, value: dict) -> None:
        """A cancellation withdraws the report from the totals (once), and its row says so."""
        report_id = value["report_id"]
        if report_id in self.cancelled:
            self.counts["redeliveries"] += 1
            return
        self.cancelled.add(report_id)
        self.counts["cancelled"] += 1
        if report_id in self.seen:
            self.counts["reports"] -= 1
            self.counts["kg"] -= float(value.get("quantity_kg") or 0)
            self.counts["refused"] -= value.get("licence", {}).get("status") == "refused"
            self.reports = deque((r for r in self.reports if r["report_id"] != report_id),
                                 maxlen=self.reports.maxlen)
        self.seen.add(report_id)
        self.reports.append(value)

    def render(self) -> Group:
        t = Table(title=f"supervision.{self.slug} — {self.counts['reports']} reports, "
                        f"{self.counts['kg']:,.0f} kg, {self.counts['refused']} refused licences, "
                        f"{self.counts['cancelled']} cancelled, "
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
            if r.get("cancelled_at"):
                status = f"[yellow]cancelled {r['cancelled_at'][:16]}[/] · " + status
            t.add_row(rep["occurred_at"][:16], r["report_id"], r["province_slug"], rep["type"],
                      rep["material"], f"{float(r['quantity_kg']):,.1f}", dest,
                      ("[red]" if lic["status"] == "refused" else "") + status)
        a = Table(title=f"alerts.{self.slug} — {self.counts['alerts']}", expand=True)
        for col in ("raised", "severity", "type", "summary"):
            a.add_column(col)
        for x in reversed(self.alerts):
            a.add_row(x["raised_at"][:19], x["severity"], x["type"], x["summary"])
        return Group(t, a)


async def tail(bootstrap: str, slug: str, since: timedelta, follow: bool, rows: int) -> QueueView:
    from aiokafka import TopicPartition

    from . import clients

    view = QueueView(slug, rows)
    topics_ = [f"supervision.{slug}", f"alerts.{slug}"]
    consumer = clients.consumer(s=clients.for_bootstrap(bootstrap))
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
