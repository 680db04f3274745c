"""`mintrace simulate`: producer systems along the whole chain, through the HTTP intake."""

import json
import secrets
from pathlib import Path

import typer
from rich.console import Console

from mintrace import clients

from .context import CHECK_FAILED, err, fail, progress_bar, run


def simulate(url: str = typer.Option(None, help="Intake base URL (default: the dev stack's, or "
                                                "MINTRACE_INTAKE_URL, or http://127.0.0.1:8080)"),
             rate: float = typer.Option(20.0, min=0.1, help="Reports per second"),
             total: int = typer.Option(None, min=1, help="Stop after this many (default: run "
                                                         "until Ctrl-C)"),
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
                                           "alert type (exit 1 below the floors)"),
             bootstrap: str = typer.Option(None, help="Kafka bootstrap for --evaluate "
                                           "(default KAFKA_BOOTSTRAP_SERVERS)"),
             timeout: float = typer.Option(180.0, help="Seconds to wait for alerts"),
             min_recall: float = typer.Option(0.95, help="Recall floor per type and family"),
             min_precision: float = typer.Option(0.90, help="Precision floor per type and family"),
             scores_json: Path = typer.Option(None, help="Also write the scores here (JSON)"),
             as_json: bool = typer.Option(False, "--json", help="With --evaluate: the scores "
                                          "as one JSON object a type instead of the table")
             ) -> None:
    """Simulate producer systems along the whole chain submitting through the HTTP intake.

    Without --scenario it runs normal traffic until Ctrl-C (or --total). With --scenario it
    submits that scenario's days of traffic with labelled anomalies; --evaluate then scores the
    alerts against them. A 429 or 503 from intake is waited out as its Retry-After says."""
    from mintrace import devstack, evaluate as ev, scenarios, simulator

    if scenario and scenario not in scenarios.SCENARIOS:
        fail(f"unknown scenario {scenario!r}; one of: {', '.join(scenarios.SCENARIOS)}")
    if evaluate and not scenario:
        fail("--evaluate needs a --scenario")
    if days < 8:
        fail("--days must be at least 8 (trailing baselines and the transfer window)")
    if seed is None:
        seed = secrets.randbelow(10**6)
        err.print(f"simulate: seed {seed}")
    coords = clients.coordinates()
    url = url or coords["intake_url"]
    keys = run(devstack.issue_producer_keys(coords["database_url"]), "issuing producer keys")
    if scenario:
        sc = scenarios.build(seed=seed, days=days, scenario=scenario, per_type=per_type)
        err.print(f"scenario {scenario} seed {seed}: {len(sc.reports)} reports over {days} "
                  f"days, {len(sc.planted)} planted anomalies, run id {sc.run}")
        if not evaluate:
            with progress_bar() as bar:
                task = bar.add_task(f"scenario {scenario}", total=len(sc.reports))
                counts = run(ev.submit(url, keys, sc, rate, lambda n: bar.advance(task, n)),
                             "intake")
            err.print(f"simulate: done {counts}")
            return
        scores = run(ev.run(url, bootstrap or coords["kafka_bootstrap_servers"], keys, sc, rate,
                            timeout), "intake and broker")
        if as_json:
            for kind, group in (("type", scores.types), ("family", scores.families)):
                for t, sc_ in group.items():
                    print(json.dumps({kind: t, **vars(sc_), "recall": sc_.recall,
                                      "precision": sc_.precision}))
        else:
            out = Console(width=120)
            out.print(ev.table(scores.types, f"scenario {scenario}, seed {seed}, {days} days"))
            out.print(ev.table(scores.families, "per family (precision counts alerts on its "
                                                "near misses)", "family"))
            for a in scores.false_alarms:
                out.print(f"false alarm: {a['type']} {a['summary']}", markup=False)
        if scores_json:
            scores_json.write_text(json.dumps(
                {"types": {t: vars(s) for t, s in scores.types.items()},
                 "families": {f: vars(s) for f, s in scores.families.items()}}, indent=1))
        if not scores.meet(min_recall, min_precision):
            err.print(f"[red]below the floor (recall {min_recall}, precision "
                      f"{min_precision})[/red]")
            raise typer.Exit(CHECK_FAILED)
        return
    with progress_bar() as bar:
        task = bar.add_task(f"simulate → {url}", total=total)

        def progress(n: int, counts: dict) -> None:
            bar.update(task, advance=n, description=f"simulate → {url} {counts}")
            if not err.is_terminal and bar.tasks[task].completed % max(1, int(rate * 10)) < n:
                err.print(f"simulate: {int(bar.tasks[task].completed)} submitted {counts}")

        counts = run(simulator.run(url, keys, rate, total, seed, progress), "intake")
    err.print(f"simulate: done {counts}")
