"""Submit a labelled scenario through the real HTTP intake, read alerts.national, and score the
alerts against what was planted.

Per alert type: recall = planted anomalies with at least one alert of that type whose evidence
intersects them; precision = alerts of that type (raised on this run's reports) whose evidence
intersects a planted anomaly of that type, over all alerts of that type.

Per family (a kind of planted anomaly, planted with near misses: `scenarios.FAMILIES`, and each
alert type as a family of its own): recall as above; precision = the family's true alerts over
those plus every alert, of any type, citing one of the family's near misses."""

import asyncio
import json
import time
from dataclasses import dataclass

import httpx
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import clients
from .scenarios import ALERT_TYPES, Scenario, family_type
from .simulator import per_producer, post_batch


@dataclass
class Score:
    type: str
    planted: int
    detected: int
    alerts: int
    true_alerts: int

    @property
    def recall(self) -> float | None:
        return self.detected / self.planted if self.planted else None

    @property
    def precision(self) -> float | None:
        return self.true_alerts / self.alerts if self.alerts else None


def score(scenario: Scenario, alerts: list[dict]) -> dict[str, Score]:
    mine = f"-{scenario.run}-"
    alerts = [a for a in alerts if any(mine in r for r in a["report_ids"])]
    by_type = scenario.by_type()
    out = {}
    for t in ALERT_TYPES:
        planted = [set(p.report_ids) for p in by_type.get(t, [])]
        evidence = set().union(*planted) if planted else set()
        of_type = [set(a["report_ids"]) for a in alerts if a["type"] == t]
        out[t] = Score(t, len(planted), sum(1 for p in planted if any(p & a for a in of_type)),
                       len(of_type), sum(1 for a in of_type if a & evidence))
    return out


def score_families(scenario: Scenario, alerts: list[dict]) -> dict[str, Score]:
    mine = f"-{scenario.run}-"
    alerts = [(a["type"], set(a["report_ids"])) for a in alerts
              if any(mine in r for r in a["report_ids"])]
    out = {}
    for f in dict.fromkeys(p.family for p in (*scenario.planted, *scenario.negatives)):
        planted = [set(p.report_ids) for p in scenario.planted if p.family == f]
        evidence = set().union(*planted)
        near = set().union(*(set(p.report_ids) for p in scenario.negatives if p.family == f))
        of_type = [ids for t, ids in alerts if t == family_type(f)]
        true = sum(1 for ids in of_type if ids & evidence)
        false = sum(1 for _, ids in alerts if ids & near and not ids & evidence)
        out[f] = Score(f, len(planted), sum(1 for p in planted if any(p & a for a in of_type)),
                       true + false, true)
    return out


def table(scores: dict[str, Score], title: str, what: str = "alert type") -> Table:
    tab = Table(title=title)
    for col in (what, "planted", "detected", "alerts", "true", "recall", "precision"):
        tab.add_column(col, justify="left" if col == what else "right")
    fmt = lambda x: "-" if x is None else f"{x:.2f}"  # noqa: E731
    for s in scores.values():
        tab.add_row(s.type, str(s.planted), str(s.detected), str(s.alerts), str(s.true_alerts),
                    fmt(s.recall), fmt(s.precision))
    return tab


def meets(scores: dict[str, Score], min_recall: float, min_precision: float) -> bool:
    """Every planted type (or family) reaches the floors; one with nothing planted must raise
    nothing."""
    for s in scores.values():
        if s.planted and (s.recall < min_recall or (s.precision or 0) < min_precision):
            return False
        if not s.planted and s.alerts:
            return False
    return True


async def submit(url: str, keys: dict[str, str], scenario: Scenario, rate: float,
                 on_progress=None) -> dict[str, int]:
    """Submit in occurred_at order at about `rate` reports/s, per producer through the batch
    endpoint. Raises httpx.HTTPStatusError if intake refuses a batch."""
    counts: dict[str, int] = {}
    tick = 0.5
    n = max(1, int(rate * tick))
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        for i in range(0, len(scenario.reports), n):
            started = time.monotonic()
            for key, reports in per_producer(scenario.reports[i:i + n]):
                resp = await post_batch(client, keys[key], reports)
                resp.raise_for_status()
                for status, c in resp.json()["counts"].items():
                    counts[status] = counts.get(status, 0) + c
            if on_progress:
                on_progress(min(n, len(scenario.reports) - i))
            await asyncio.sleep(max(0.0, tick - (time.monotonic() - started)))
    return counts


async def collect(bootstrap: str, scenario: Scenario, *, timeout: float = 180.0,
                  quiet: float = 10.0, on_progress=None) -> list[dict]:
    """Read supervision.national, reports.rejected and alerts.national from the beginning until
    every report of the run was routed or rejected, every planted anomaly has an alert (or `timeout`), and no new alert of
    the run arrived for `quiet` seconds (late alerts are false positives too)."""
    mine = f"-{scenario.run}-"
    planted = [(p.type, set(p.report_ids)) for p in scenario.planted]
    consumer = clients.consumer("supervision.national", "reports.rejected", "alerts.national",
                                s=clients.for_bootstrap(bootstrap), auto_offset_reset="earliest")
    await consumer.start()
    alerts: list[dict] = []
    routed: set[str] = set()
    detected: set[int] = set()
    deadline = time.monotonic() + timeout
    last_alert = time.monotonic()
    try:
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for tp, records in batch.items():
                for rec in records:
                    value = json.loads(rec.value)
                    if tp.topic in ("supervision.national", "reports.rejected"):
                        if mine in value["report_id"]:
                            routed.add(value["report_id"])
                    elif any(mine in r for r in value["report_ids"]):
                        alerts.append(value)
                        last_alert = time.monotonic()
                        ids = set(value["report_ids"])
                        detected |= {i for i, (t, p) in enumerate(planted)
                                     if t == value["type"] and p & ids}
            if on_progress:
                on_progress(len(routed), len(detected))
            if (len(routed) >= len(scenario.reports) and len(detected) == len(planted)
                    and time.monotonic() - last_alert > quiet):
                break
    finally:
        await consumer.stop()
    return alerts


def false_alarms(scenario: Scenario, alerts: list[dict]) -> list[dict]:
    """This run's alerts whose evidence intersects no planted anomaly of their type."""
    mine = f"-{scenario.run}-"
    return [a for a in alerts if any(mine in r for r in a["report_ids"])
            and not any(p.type == a["type"] and set(p.report_ids) & set(a["report_ids"])
                        for p in scenario.planted)]


@dataclass
class Scores:
    types: dict[str, Score]
    families: dict[str, Score]
    false_alarms: list[dict]

    def meet(self, min_recall: float, min_precision: float) -> bool:
        return (meets(self.types, min_recall, min_precision)
                and meets(self.families, min_recall, min_precision))


async def run(url: str, bootstrap: str, keys: dict[str, str], scenario: Scenario, rate: float,
              timeout: float = 180.0, quiet: float = 10.0,
              console: Console | None = None) -> Scores:
    """Submit `scenario`, wait for its alerts with a progress bar, return the scores per alert
    type and per family."""
    console = console or Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/"
                  "{task.total}"), TimeElapsedColumn(), console=console) as progress:
        sent = progress.add_task("submitted", total=len(scenario.reports))
        routed = progress.add_task("routed/rejected", total=len(scenario.reports))
        found = progress.add_task("anomalies alerted", total=len(scenario.planted))

        def on_routed(n_routed: int, n_found: int) -> None:
            progress.update(routed, completed=n_routed)
            progress.update(found, completed=n_found)

        collecting = asyncio.create_task(collect(bootstrap, scenario, timeout=timeout,
                                                 quiet=quiet, on_progress=on_routed))
        await submit(url, keys, scenario, rate, lambda n: progress.advance(sent, n))
        alerts = await collecting
    return Scores(score(scenario, alerts), score_families(scenario, alerts),
                  false_alarms(scenario, alerts))
